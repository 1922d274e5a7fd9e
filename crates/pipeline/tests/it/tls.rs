//! Kafka over TLS (and SASL over TLS), through the real `pipeline` binary.
//!
//! tansu 0.6.0 cannot serve TLS itself (it refuses `--cert` and `--key` together, and the
//! TLS acceptor it builds is never used), so TLS comes from Debian's stunnel in front of a
//! tansu of this test's own: tansu listens on a plaintext port and *advertises* the stunnel
//! port, so after bootstrap every client still talks TLS. A throwaway CA and a server
//! certificate for 127.0.0.1/localhost are made with the `openssl` CLI at test time. A
//! ClickHouse 18.16 of the test's own takes the same TLS settings from a `<kafka>` section
//! in its config (18.16 has no Kafka security table settings), so doctor's ClickHouse →
//! broker check and the ingest the audit counts go over TLS too.
//!
//! SASL: tansu 0.6.0 requires it with `--authentication` and keeps SCRAM credentials in its
//! storage (`tansu user create`), so SASL_SSL with SCRAM-SHA-256 and SCRAM-SHA-512 is
//! tested with a right and a wrong password. It does not offer PLAIN.
//!
//! When a certificate or a password is refused, `doctor`, `generate` and `audit` fail
//! within 30 s and print librdkafka's reason themselves ("certificate verify failed",
//! "SASL SCRAM authentication failed": their clients keep what librdkafka reported,
//! `kafka_admin::BrokerErrors`), and doctor's hint points at the security flags, not at
//! starting the local services. stunnel's log confirms the client refused the certificate.
//!
//! Every wait is bounded and every process started here is killed when dropped, also when
//! the test fails. Needs stunnel4 and openssl (`scripts/test` installs them).

use crate::common;

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

// ---------------------------------------------------------------- tools

/// The first of `names` found on PATH; panics saying how to install `package` otherwise.
fn tool(names: &[&str], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "{} is missing: install it with `apt-get install -y {package}` \
         (`scripts/test` does it, see ensure_stunnel in scripts/lib/tools.sh)",
        names[0]
    );
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tansu binary `scripts/services` installs (building it if it is not there yet).
fn tansu() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts/services"))
        .args(["install", "broker"])
        .output()
        .expect("scripts/services runs");
    assert!(
        out.status.success(),
        "scripts/services install broker failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tools = std::env::var_os("PIPELINE_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/retail-pipeline/tools")
        });
    let bin = tools.join("tansu-0.6.0/bin/tansu");
    assert!(bin.is_file(), "{} missing after install", bin.display());
    bin
}

/// Runs a command to completion within `limit`, panicking with its output otherwise.
fn run(cmd: &mut Command, what: &str, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {limit:?} (killed):\n{}\n{}",
                String::from_utf8_lossy(&out.join().unwrap()),
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run(
        Command::new(tool(&["openssl"], "openssl"))
            .args(args)
            .current_dir(dir),
        "openssl",
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, failing early if
/// `daemon` exits.
fn wait_listening(daemon: &mut Daemon, port: u16, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
        .is_err()
    {
        daemon.assert_running();
        assert!(
            start.elapsed() < limit,
            "{} does not listen on port {port} after {limit:?}:\n{}",
            daemon.name,
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `N` distinct free loopback ports (held together while they are picked).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

// ---------------------------------------------------------------- processes

/// A server started by this test; killed (and waited for) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        Daemon { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited ({status}):\n{}", self.name, self.log());
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of this run's own under target/; removed when dropped unless the test
/// failed (then its logs stay, and the path is printed).
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = repo()
            .join("target/tls-test")
            .join(testkit::unique_name(what));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir.canonicalize().unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("tls test: logs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------- certificates

struct Certs {
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// Another CA, which did not.
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Certs {
    fn make(dir: &Path) -> Certs {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        for (name, cn) in [("ca", "pipeline test CA"), ("other_ca", "some other CA")] {
            let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
            let subj = format!("/CN={cn}");
            let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", &subj];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &pem]);
            openssl(dir, &args);
        }
        let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=localhost"];
        args.extend(ec);
        args.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(dir, &args);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = CA:FALSE\n\
             keyUsage = digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "1001",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        Certs {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other_ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

// ---------------------------------------------------------------- the broker behind TLS

/// tansu on a plaintext port that advertises the stunnel port, and stunnel terminating TLS
/// on that port.
struct TlsBroker {
    /// Dropped first: stunnel, then tansu.
    stunnel: Option<Daemon>,
    tansu: Option<Daemon>,
    tansu_bin: PathBuf,
    dir: PathBuf,
    plain_port: u16,
    tls_port: u16,
}

impl TlsBroker {
    fn start(dir: &Path, certs: &Certs) -> TlsBroker {
        let mut b = TlsBroker {
            stunnel: None,
            tansu: None,
            tansu_bin: tansu(),
            dir: dir.join("broker"),
            plain_port: 0,
            tls_port: 0,
        };
        [b.plain_port, b.tls_port] = free_ports();
        std::fs::create_dir_all(&b.dir).unwrap();
        b.start_tansu(&[]);
        let conf = dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\ndebug = notice\n\n[kafka]\naccept = 127.0.0.1:{}\n\
                 connect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
                b.tls_port,
                b.plain_port,
                certs.server_cert.display(),
                certs.server_key.display()
            ),
        )
        .unwrap();
        let mut stunnel = Daemon::spawn(
            "stunnel",
            Command::new(tool(&["stunnel4", "stunnel"], "stunnel4")).arg(&conf),
            dir.join("stunnel.log"),
        );
        wait_listening(&mut stunnel, b.tls_port, Duration::from_secs(20));
        b.stunnel = Some(stunnel);
        b
    }

    /// (Re)starts tansu on the same storage, with `extra` flags.
    fn start_tansu(&mut self, extra: &[&str]) {
        self.tansu = None;
        let mut tansu = Daemon::spawn(
            "tansu",
            Command::new(&self.tansu_bin)
                .arg("broker")
                .args(["--cluster-id", "tansu_cluster"])
                .arg("--listener-url")
                .arg(format!("tcp://127.0.0.1:{}", self.plain_port))
                .arg("--advertised-listener-url")
                .arg(format!("tcp://127.0.0.1:{}", self.tls_port))
                // Relative to the working directory (an absolute sqlite:// path does not work).
                .args(["--storage-engine", "sqlite://tansu.db"])
                .args(extra)
                .env("RUST_LOG", "warn")
                .current_dir(&self.dir),
            self.dir.join(format!("tansu-{}.log", extra.len())),
        );
        wait_listening(&mut tansu, self.plain_port, Duration::from_secs(60));
        self.tansu = Some(tansu);
    }

    /// `tansu user create` (`mechanism`: scram256 or scram512) over the plaintext listener,
    /// only while authentication is off: with it on, tansu's own CLI cannot log in.
    fn create_scram_user(&self, user: &str, password: &str, mechanism: &str) {
        let out = run(
            Command::new(&self.tansu_bin)
                .args(["user", "create", "--mechanism", mechanism, "--broker"])
                .arg(format!("tcp://127.0.0.1:{}", self.plain_port))
                .args([user, password]),
            "tansu user create",
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "tansu user create: {}", text(&out));
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    /// Handshakes stunnel saw a client abort because it did not trust the certificate.
    fn unknown_ca_alerts(&self) -> usize {
        self.stunnel
            .as_ref()
            .unwrap()
            .log()
            .matches("alert unknown ca")
            .count()
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        self.stunnel = None;
        self.tansu = None;
    }
}

// ---------------------------------------------------------------- ClickHouse over TLS

/// A ClickHouse 18.16 of this test's own (`scripts/services`, own ports and data dir)
/// whose Kafka tables connect with TLS: 18.16 takes Kafka security only from the server's
/// `<kafka>` section, here added as a config.d file.
struct TlsClickHouse {
    data_dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
}

impl TlsClickHouse {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLICKHOUSE_HTTP_PORT", self.http_port.to_string()),
            ("CLICKHOUSE_TCP_PORT", self.tcp_port.to_string()),
        ]
    }

    fn start(dir: &Path, ca: &Path) -> TlsClickHouse {
        let [http_port, tcp_port] = free_ports();
        let ch = TlsClickHouse {
            data_dir: dir.join("services"),
            http_port,
            tcp_port,
        };
        let conf_d = ch.data_dir.join("clickhouse/config.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(
            conf_d.join("kafka_tls.xml"),
            format!(
                "<?xml version=\"1.0\"?>\n<yandex>\n    <kafka>\n        \
                 <security_protocol>ssl</security_protocol>\n        \
                 <ssl_ca_location>{}</ssl_ca_location>\n    </kafka>\n</yandex>\n",
                ca.display()
            ),
        )
        .unwrap();
        common::services(&ch.data_dir, &ch.env(), &["start", "clickhouse"]);
        ch
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for TlsClickHouse {
    fn drop(&mut self) {
        // Not common::services: it asserts, and a panic while unwinding aborts.
        let _ = Command::new("bash")
            .arg(repo().join("scripts/services"))
            .args(["stop", "clickhouse"])
            .env("PIPELINE_DATA_DIR", &self.data_dir)
            .envs(self.env())
            .output();
    }
}

// ---------------------------------------------------------------- the pipeline

/// `pipeline <global> <args>` within `limit`.
fn pipeline(global: &[String], args: &[&str], limit: Duration) -> Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(global)
            .args(args)
            .env("PIPELINE_LOG", "warn"),
        &format!("pipeline {args:?}"),
        limit,
    )
}

fn pipeline_ok(global: &[String], args: &[&str], limit: Duration) -> Output {
    let out = pipeline(global, args, limit);
    assert!(
        out.status.success(),
        "pipeline {args:?} failed ({}):\n{}",
        out.status,
        text(&out)
    );
    out
}

fn with(global: &[String], more: &[&str]) -> Vec<String> {
    let mut g = global.to_vec();
    g.extend(more.iter().map(|s| s.to_string()));
    g
}

/// The start of `pipeline doctor`'s hint when TLS or SASL failed; the flag its hint names
/// when a connection was dropped; its hint for a broker that is not running here.
const SECURITY_HINT: &str = "TLS or SASL failed, not the address: check \
    --kafka-security-protocol, --kafka-ssl-ca-location";
const PROTOCOL_FLAG: &str = "--kafka-security-protocol";
const START_HINT: &str = "scripts/services start";

/// A pipeline command the broker's TLS or SASL keeps out: it fails within 30 s, naming
/// the broker and librdkafka's reason (`reason`) itself; doctor's hint says `hint`, not
/// to start the local services.
fn refused_saying(global: &[String], args: &[&str], reason: &str, hint: &str, what: &str) {
    let start = Instant::now();
    let out = pipeline(global, args, Duration::from_secs(60));
    let took = start.elapsed();
    let all = text(&out);
    assert!(!out.status.success(), "{what}: succeeded:\n{all}");
    assert!(
        all.contains("FAIL broker") || all.contains("did not answer"),
        "{what}: the broker is not named:\n{all}"
    );
    assert!(
        all.contains(reason),
        "{what}: {reason:?} is not said:\n{all}"
    );
    if args[0] == "doctor" {
        assert!(all.contains(hint), "{what}: no hint {hint:?}:\n{all}");
        assert!(
            !all.contains(START_HINT),
            "{what}: told to start the local services:\n{all}"
        );
    }
    assert!(took < Duration::from_secs(30), "{what}: took {took:?}");
}

/// A pipeline command whose client refuses the broker's certificate: it says so
/// ([`refused_saying`]), and stunnel saw the client abort the handshake over the
/// certificate.
fn fails_on_the_certificate(broker: &TlsBroker, global: &[String], args: &[&str], what: &str) {
    let alerts = broker.unknown_ca_alerts();
    refused_saying(
        global,
        args,
        "certificate verify failed",
        SECURITY_HINT,
        what,
    );
    assert!(
        broker.unknown_ca_alerts() > alerts,
        "{what}: stunnel saw no certificate refused:\n{}",
        broker.stunnel.as_ref().unwrap().log()
    );
}

/// The events a `generate --json` summary says the broker acknowledged, after checking
/// nothing failed.
fn acknowledged(summary: &str) -> u64 {
    let s: Value = serde_json::from_str(summary.trim())
        .unwrap_or_else(|e| panic!("not a generate --json summary ({e}): {summary}"));
    assert_eq!(s["interrupted"], false, "{s}");
    s["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(
                (t["failed"].as_u64(), t["in_flight"].as_u64()),
                (Some(0), Some(0)),
                "{t}"
            );
            t["events"].as_u64().unwrap()
        })
        .sum()
}

const EVENTS: u64 = 2000;

#[test]
fn doctor_generate_and_audit_over_tls() {
    let scratch = Scratch::new("tls");
    let dir = &scratch.0;
    let certs = Certs::make(dir);
    let broker = TlsBroker::start(dir, &certs);
    let ch = TlsClickHouse::start(dir, &certs.ca);
    let name = testkit::unique_name("tls");
    let ca = certs.ca.to_str().unwrap();
    let base: Vec<String> = [
        "--kafka-brokers",
        &broker.brokers(),
        "--clickhouse-url",
        &ch.url(),
        "--database",
        &name,
        "--sales-topic",
        &format!("{name}_sales"),
        "--warehouse-topic",
        &format!("{name}_warehouse"),
        "--kafka-security-protocol",
        "ssl",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let tls = with(&base, &["--kafka-ssl-ca-location", ca]);

    // The topics, the groups' start and the Kafka tables, over TLS. 18.16 is told that the
    // security it was asked for comes from its own config.
    let out = pipeline_ok(&tls, &["schema", "apply"], Duration::from_secs(120));
    assert!(
        text(&out).contains("takes Kafka security from its own config"),
        "{}",
        text(&out)
    );

    // Every check passes, ClickHouse's own read of the broker included.
    let out = pipeline_ok(&tls, &["doctor"], Duration::from_secs(90));
    let report = text(&out);
    for line in common::DOCTOR_ALL_OK {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
    assert!(!report.contains("FAIL"), "{report}");

    // Events in, over TLS, every one acknowledged.
    let count = EVENTS.to_string();
    let out = pipeline_ok(
        &tls,
        &[
            "generate", "--rate", "0", "--count", &count, "--seed", "16", "--json",
        ],
        Duration::from_secs(120),
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert_eq!(acknowledged(&summary), EVENTS, "{summary}");

    // The audit reads the broker over TLS; ClickHouse read every event over TLS too.
    let ledger = dir.join("ledger.json");
    std::fs::write(&ledger, &summary).unwrap();
    let ledger = ledger.to_str().unwrap();
    let a = common::settled_audit(
        || {
            pipeline(
                &tls,
                &["audit", "--json", "--ledger", ledger],
                Duration::from_secs(60),
            )
        },
        Duration::from_secs(120),
    );
    let (s, m) = (
        common::audit_topic(&a, "sales"),
        common::audit_topic(&a, "stock_movements"),
    );
    let produced = s["produced"].as_u64().unwrap() + m["produced"].as_u64().unwrap();
    assert_eq!(produced, EVENTS, "{a}");
    for t in [s, m] {
        assert_eq!(t["acknowledged"], t["produced"], "{t}");
        assert_eq!(t["lost_by_broker"], 0, "{t}");
        assert_eq!(t["consumed"], t["produced"], "{t}");
        assert_eq!(t["unique"], t["produced"], "{t}");
        assert_eq!(
            (t["missing"].as_u64(), t["dead_lettered"].as_u64()),
            (Some(0), Some(0)),
            "{t}"
        );
    }
    assert_eq!(a["missing"], 0, "{a}");

    // A CA that did not sign the broker's certificate, and no CA (the system's): refused
    // over the certificate, in bounded time.
    let other = with(
        &base,
        &["--kafka-ssl-ca-location", certs.other_ca.to_str().unwrap()],
    );
    fails_on_the_certificate(&broker, &other, &["doctor"], "doctor with another CA");
    fails_on_the_certificate(
        &broker,
        &base,
        &["generate", "--rate", "0", "--count", "10"],
        "generate with the system's CAs",
    );
    fails_on_the_certificate(&broker, &other, &["audit"], "audit with another CA");
    // Plaintext against the TLS port gets nowhere either: stunnel drops the connection
    // at the client's first request (ApiVersion), which librdkafka reports.
    let plain: Vec<String> = base[..base.len() - 2].to_vec();
    refused_saying(
        &plain,
        &["doctor"],
        "in state APIVERSION_QUERY",
        PROTOCOL_FLAG,
        "doctor in plaintext",
    );
}

/// SASL_SSL with SCRAM-SHA-256 and SCRAM-SHA-512 against tansu's `--authentication`: the
/// right password gets every event acknowledged and on the broker; a wrong one is refused,
/// in bounded time. PLAIN is not offered by tansu 0.6.0.
#[test]
fn scram_over_tls() {
    let scratch = Scratch::new("scram");
    let dir = &scratch.0;
    let certs = Certs::make(dir);
    let mut broker = TlsBroker::start(dir, &certs);
    // tansu's CLI cannot log in: the credentials are stored before authentication is on.
    for mechanism in ["scram256", "scram512"] {
        broker.create_scram_user("pipeline", "s3cret-pw", mechanism);
    }
    broker.start_tansu(&["--authentication"]);
    let name = testkit::unique_name("scram");
    let (sales, warehouse) = (format!("{name}_sales"), format!("{name}_warehouse"));
    let ca = certs.ca.to_str().unwrap();
    let sasl = |mechanism: &'static str, password: &'static str| {
        vec![
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", ca),
            ("sasl.mechanism", mechanism),
            ("sasl.username", "pipeline"),
            ("sasl.password", password),
        ]
    };
    let flags = |mechanism: &str, password: &str| -> Vec<String> {
        [
            "--kafka-brokers",
            &broker.brokers(),
            "--sales-topic",
            &sales,
            "--warehouse-topic",
            &warehouse,
            "--kafka-security-protocol",
            "sasl_ssl",
            "--kafka-ssl-ca-location",
            ca,
            "--kafka-sasl-mechanism",
            mechanism,
            "--kafka-sasl-username",
            "pipeline",
            "--kafka-sasl-password",
            password,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    let mut sent = 0;
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let out = pipeline_ok(
            &flags(mechanism, "s3cret-pw"),
            &[
                "generate", "--rate", "0", "--count", "500", "--seed", "3", "--json",
            ],
            Duration::from_secs(120),
        );
        assert_eq!(
            acknowledged(&String::from_utf8_lossy(&out.stdout)),
            500,
            "{mechanism}"
        );
        sent += 500;
        // What the broker holds, read with the same settings.
        let mut kafka = kafka_admin::KafkaSettings::new(broker.brokers());
        kafka.options = sasl(mechanism, "s3cret-pw")
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let held: i64 = [&sales, &warehouse]
            .iter()
            .flat_map(|t| {
                kafka_admin::partition_offsets(&kafka, t, Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("{mechanism}: offsets of {t}: {e}"))
            })
            .map(|p| p.high - p.low)
            .sum();
        assert_eq!(held, sent, "{mechanism}");
    }

    // A wrong password is refused within 30 s, and the binary says it was the password.
    refused_saying(
        &flags("SCRAM-SHA-256", "not-it"),
        &["doctor"],
        "SASL SCRAM authentication failed",
        SECURITY_HINT,
        "doctor with a wrong password",
    );
    refused_saying(
        &flags("SCRAM-SHA-512", "not-it"),
        &["generate", "--rate", "0", "--count", "10"],
        "SASL SCRAM authentication failed",
        SECURITY_HINT,
        "generate with a wrong password",
    );
    // PLAIN cannot be tested here: tansu 0.6.0 does not offer it (its SASL library is built
    // with SCRAM and OAUTHBEARER only) and drops the connection at the handshake.
    refused_saying(
        &flags("PLAIN", "s3cret-pw"),
        &["doctor"],
        "SASL PLAIN mechanism handshake failed",
        SECURITY_HINT,
        "doctor with PLAIN",
    );
}

/// librdkafka is built with OpenSSL, SCRAM and zstd (the `ssl` and `zstd` features of
/// the rdkafka crate): without them it refused `ssl`, `sasl_ssl`, SCRAM and
/// `ssl.ca.location` ("OpenSSL not available at build time"), which the CLI offers.
#[test]
fn librdkafka_takes_tls_sasl_scram_and_zstd_settings() {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::BaseProducer;
    let native = rdkafka::ClientConfig::new()
        .create_native_config()
        .expect("a librdkafka config");
    let features = native.get("builtin.features").expect("builtin.features");
    for f in ["ssl", "sasl_plain", "sasl_scram", "zstd"] {
        assert!(
            features.split(',').any(|x| x == f),
            "librdkafka lacks {f}: {features}"
        );
    }
    // What `--kafka-security-protocol sasl_ssl --kafka-sasl-mechanism SCRAM-SHA-256` gives
    // every client (no broker needed: creating a client checks the settings).
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut k = kafka_admin::KafkaSettings::new("127.0.0.1:1");
        k.options = [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", mechanism),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let made: Result<BaseConsumer, _> = k.client_config().create();
        assert!(made.is_ok(), "sasl_ssl + {mechanism}: {:?}", made.err());
    }
    let mut k = kafka_admin::KafkaSettings::new("127.0.0.1:1");
    k.options = vec![("compression.type".into(), "zstd".into())];
    let made: Result<BaseProducer, _> = k.client_config().create();
    assert!(made.is_ok(), "compression.type=zstd: {:?}", made.err());
}

/// The messages a producer has sent, and the bytes it has written to the brokers, from its
/// latest statistics.
#[derive(Default)]
struct WireBytes(std::sync::Mutex<Option<(i64, u64)>>);

impl rdkafka::ClientContext for WireBytes {
    fn stats(&self, s: rdkafka::Statistics) {
        let bytes = s.brokers.values().map(|b| b.txbytes).sum();
        *self.0.lock().unwrap() = Some((s.txmsgs, bytes));
    }
}

impl rdkafka::producer::ProducerContext for WireBytes {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// A topic whose batches are zstd-compressed (as another producer may write them) is
/// stored by the test broker (tansu) and read back byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_zstd_compressed_topic_reads_back() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{Message as _, Offset, TopicPartitionList};

    let kafka = kafka_admin::KafkaSettings::new(testkit::kafka_brokers());
    let topic = testkit::unique_name("zstd");
    kafka_admin::ensure_topics(
        &kafka,
        &[kafka_admin::TopicSpec {
            name: topic.clone(),
            partitions: 1,
        }],
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", testkit::HOW_TO_START));
    const N: usize = 1000;
    // Repetitive JSON, as events are: zstd has something to squeeze.
    let payloads: Vec<String> = (0..N)
        .map(|i| {
            format!(
                r#"{{"event_id":"zstd-{i}","product_id":{},"note":"{}"}}"#,
                i % 50,
                "x".repeat(i % 200)
            )
        })
        .collect();
    let payload_bytes: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    let (k, t, p) = (kafka.clone(), topic.clone(), payloads.clone());
    let wire_bytes = tokio::task::spawn_blocking(move || {
        let mut config = k.client_config();
        config
            .set("compression.type", "zstd")
            .set("linger.ms", "50")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("statistics.interval.ms", "100");
        let producer: BaseProducer<WireBytes> = config
            .create_with_context(WireBytes::default())
            .expect("a zstd producer");
        for payload in &p {
            producer
                .send(BaseRecord::<(), str>::to(&t).payload(payload.as_str()))
                .expect("queued");
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("every message acknowledged");
        // Statistics come with polls: wait for a report that counts every message sent.
        let start = Instant::now();
        loop {
            if let Some((msgs, bytes)) = *producer.context().0.lock().unwrap() {
                if msgs == N as i64 {
                    return bytes;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no statistics");
            producer.poll(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    // Everything sent to the broker, requests included, is well under the payloads: the
    // batches went out compressed.
    assert!(
        wire_bytes * 2 < payload_bytes,
        "{wire_bytes} bytes sent for {payload_bytes} bytes of payloads: not compressed"
    );

    let (k, t) = (kafka.clone(), topic.clone());
    let read = tokio::task::spawn_blocking(move || {
        let mut config = k.client_config();
        config
            .set("group.id", testkit::unique_name("zstd_reader"))
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create().expect("a consumer");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&t, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let mut out = Vec::new();
        let start = Instant::now();
        while out.len() < N {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "read {} of {N} messages in 60 s",
                out.len()
            );
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => out.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
                Some(Err(e)) => panic!("reading {t}: {e}"),
                None => {}
            }
        }
        out
    })
    .await
    .unwrap();
    assert_eq!(read, payloads);
}
