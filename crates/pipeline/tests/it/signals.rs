//! `pipeline up` stopped while it is still starting: Ctrl-C or SIGTERM during the checks
//! ends it within two seconds, with exit code 0 and a message saying so. The checks are held
//! up honestly: `--clickhouse-url` points at a server that takes connections and never
//! answers (a ClickHouse still loading, a hung proxy), so `up` waits on it as it would.
//! Also as PID 1 of a PID namespace of its own, as in a container (`docker compose stop`),
//! where a signal nothing handles is ignored instead of ending the process.

use crate::common;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::TestEnv;

/// How long a stopped `up` may take to exit.
const PROMPT: Duration = Duration::from_secs(2);

/// A TCP server that accepts connections, holds them open and never answers.
struct Silent {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Silent { port, accepted }
    }
}

/// A running `pipeline up` (maybe under a wrapper), its output collected.
struct Running {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(wrapper: &[&str], args: &[String]) -> Running {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(env!("CARGO_BIN_EXE_pipeline"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_pipeline")),
        };
        let mut child = cmd
            .args(args)
            .env("PIPELINE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pipeline starts");
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Running {
            child,
            output,
            readers,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The process `pid` runs as its only child (unshare --fork's).
fn only_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Starts `up` against the silent ClickHouse, waits until its checks wait on it, sends
/// `signal` and checks it stops promptly and cleanly.
fn stops_promptly(env: &TestEnv, wrapper: &[&str], signal: &str) {
    let silent = Silent::start();
    let mut args = env.pipeline_args();
    let url = args.iter().position(|a| a == "--clickhouse-url").unwrap() + 1;
    args[url] = format!("http://127.0.0.1:{}", silent.port);
    args.extend([
        "up".to_string(),
        "--no-generate".into(),
        "--listen".into(),
        format!("127.0.0.1:{}", common::free_port()),
    ]);
    let mut up = Running::spawn(wrapper, &args);
    let case = format!("{signal} {wrapper:?}");
    // The broker answers; ClickHouse took the connection and keeps `up` waiting.
    wait_until(
        &format!("{case}: up asks ClickHouse"),
        Duration::from_secs(30),
        || silent.accepted.load(Ordering::SeqCst) > 0,
    );
    assert!(
        up.child.try_wait().unwrap().is_none(),
        "{case}: up ended early: {}",
        up.output()
    );
    let pid = if wrapper.is_empty() {
        up.child.id()
    } else {
        only_child(up.child.id()).expect("unshare's child")
    };
    kill(signal, pid);
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < PROMPT,
            "{case}: up still runs {PROMPT:?} after the signal:\n{}",
            up.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    // Everything it wrote: the pipes close with it.
    for reader in up.readers.drain(..) {
        reader.join().unwrap();
    }
    let out = up.output();
    assert_eq!(status.code(), Some(0), "{case}: {status}:\n{out}");
    assert!(
        out.contains("stopped by a signal (Ctrl-C or SIGTERM) during start-up, in the checks"),
        "{case}:\n{out}"
    );
    println!("{case}: exited 0 {took:?} after the signal");
}

#[tokio::test(flavor = "multi_thread")]
async fn up_stops_promptly_on_a_signal_while_it_starts() {
    let env = TestEnv::new("signals").await;
    tokio::task::spawn_blocking(move || {
        stops_promptly(&env, &[], "TERM");
        stops_promptly(&env, &[], "INT");
        // As PID 1, as in a container.
        let pid_namespace = ["unshare", "--pid", "--fork", "--kill-child"];
        let can = Command::new(pid_namespace[0])
            .args(&pid_namespace[1..])
            .arg("true")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        // Not a skip: the container case is what this test is for.
        assert!(
            can,
            "`unshare --pid --fork` is not permitted here (it needs root or user namespaces); \
             the PID 1 case of this test cannot run"
        );
        stops_promptly(&env, &pid_namespace, "TERM");
    })
    .await
    .unwrap();
}
