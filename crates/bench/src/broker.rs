//! A throwaway tansu broker with `memory://` storage, for the producer-only ceiling.
//!
//! `memory://` takes ~10× the messages of the durable `sqlite://` storage the project's
//! services use, but its watermarks and committed offsets are wrong (docs/environment.md): it
//! measures what a producer can push, nothing that reads back.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where `scripts/services` installs tansu (scripts/lib/services.sh: TANSU_BIN).
pub fn default_tansu_binary() -> PathBuf {
    let tools = std::env::var_os("PIPELINE_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/retail-pipeline/tools")
        });
    tools.join("tansu-0.6.0/bin/tansu")
}

/// A tansu child process on 127.0.0.1:`port`; stopped (and its directory removed) on drop.
pub struct MemoryBroker {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl MemoryBroker {
    pub fn start(tansu: &Path, port: u16) -> anyhow::Result<Self> {
        if !tansu.is_file() {
            bail!(
                "tansu not found at {} (`scripts/services start` installs it); \
                 pass --tansu-bin, or --ceiling-brokers to use a broker you started",
                tansu.display()
            );
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
            bail!(
                "127.0.0.1:{port} is already taken; the ceiling broker needs it \
                 (pass --ceiling-port, or --ceiling-brokers to use a broker already there)"
            );
        }
        let dir = std::env::temp_dir().join(format!("pipeline-bench-tansu-{}", crate::run_id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the broker's directory {}", dir.display()))?;
        let log = File::create(dir.join("broker.log")).context("creating the broker's log")?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .current_dir(&dir)
            .env("RUST_LOG", "warn")
            .args([
                "broker",
                "--cluster-id",
                "bench",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("broker log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", tansu.display()))?;
        let mut broker = MemoryBroker { child, dir, port };
        broker.wait_ready(addr)?;
        Ok(broker)
    }

    fn wait_ready(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        // The port first (librdkafka would log every refused connection), then metadata.
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the ceiling broker (tansu) exited during startup ({status}): {}",
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let settings = kafka_admin::KafkaSettings::new(self.brokers());
                if kafka_admin::fetch_topics(&settings, &[], Duration::from_secs(2)).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the ceiling broker (tansu, pid {}) did not answer on {addr} within 30 s: {}",
                    self.child.id(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        let _ = File::open(self.dir.join("broker.log")).and_then(|mut f| f.read_to_string(&mut s));
        let tail: Vec<&str> = s.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        if tail.is_empty() {
            "(empty log)".into()
        } else {
            tail.join(" | ")
        }
    }
}

impl Drop for MemoryBroker {
    fn drop(&mut self) {
        // SIGTERM, then SIGKILL if it is still there after 5 s. Only our own child.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
