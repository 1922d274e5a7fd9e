//! The Docker files, checked without a Docker engine: `docker-compose config` (Debian's
//! `docker-compose` package, v1) validates and resolves each compose file, and the resolved
//! services are checked for what `docker compose up` depends on. The Dockerfile, the
//! ClickHouse configs under `docker/` and the pipeline's own flags and variables are checked
//! against the compose files. No container is started here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

const SINGLE: &str = "docker-compose.yml";
const CLUSTER: &str = "docker-compose.cluster.yml";

/// Variables the compose files set for the pipeline that `pipeline up` does not read yet
/// (none now: PIPELINE_CLUSTER is `up --cluster`).
const PENDING_ENV: &[&str] = &[];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// A clean environment, so that no CLICKHOUSE_PASSWORD or PIPELINE_PORT of the machine
/// changes what the compose files resolve to.
fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()),
        )
        .current_dir(repo())
}

/// `docker-compose -f FILE config`, parsed. The YAML it prints is turned into JSON by the
/// Python that runs docker-compose (python3-yaml is one of its package's dependencies).
fn compose_config(file: &str) -> Value {
    let out = clean(Command::new("docker-compose").args(["-f", file, "config"]))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `docker-compose` ({e}): install Debian's `docker-compose` package \
                 (apt-get install -y docker-compose, or `ensure_docker_compose` in \
                 scripts/lib/tools.sh)"
            )
        });
    assert!(
        out.status.success(),
        "`docker-compose -f {file} config` rejected the file:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = clean(Command::new("python3").args([
        "-c",
        "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
    ]))
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}): it comes with the `docker-compose` package")
    });
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let parsed = child.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "cannot parse the output of `docker-compose config` with PyYAML (Debian's \
         python3-yaml, a dependency of docker-compose):\n{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    serde_json::from_slice(&parsed.stdout).expect("JSON from python3")
}

/// The resolved services of one compose file.
struct Compose {
    file: &'static str,
    services: Map<String, Value>,
}

impl Compose {
    fn load(file: &'static str) -> Self {
        let config = compose_config(file);
        let services = config["services"]
            .as_object()
            .unwrap_or_else(|| panic!("{file}: no services"))
            .clone();
        Compose { file, services }
    }

    fn service(&self, name: &str) -> &Value {
        self.services
            .get(name)
            .unwrap_or_else(|| panic!("{}: no service {name:?}", self.file))
    }

    /// Names of the services whose image starts with `prefix`.
    fn with_image(&self, prefix: &str) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, s)| s["image"].as_str().unwrap_or("").starts_with(prefix))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn env<'a>(&'a self, service: &str, key: &str) -> &'a str {
        self.service(service)["environment"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: {service} has no {key}", self.file))
    }

    fn env_or_number(&self, service: &str, key: &str) -> String {
        match &self.service(service)["environment"][key] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("{}: {service}.{key} is {other}", self.file),
        }
    }

    /// Container paths of the service's volumes and bind mounts, with their sources.
    fn mounts(&self, service: &str) -> Vec<(String, String)> {
        self.service(service)["volumes"]
            .as_array()
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|m| {
                let parts: Vec<&str> = m
                    .as_str()
                    .expect("short volume syntax")
                    .split(':')
                    .collect();
                (parts[0].to_string(), parts[1].to_string())
            })
            .collect()
    }
}

/// Checks shared by both files.
fn check_common(c: &Compose) -> (Vec<String>, Vec<String>) {
    let f = c.file;
    // No ZooKeeper: Kafka runs in KRaft mode.
    for (name, s) in &c.services {
        let image = s["image"].as_str().unwrap_or("");
        assert!(
            !name.contains("zookeeper") && !image.contains("zookeeper"),
            "{f}: {name} ({image}) is a ZooKeeper"
        );
        assert!(
            s["environment"].get("KAFKA_ZOOKEEPER_CONNECT").is_none(),
            "{f}: {name} points at a ZooKeeper"
        );
    }

    // Every service has a healthcheck, except the pipeline (its image has no HTTP client;
    // nothing waits on it).
    for (name, s) in &c.services {
        if name == "pipeline" {
            continue;
        }
        let test = s["healthcheck"]["test"]
            .as_array()
            .unwrap_or_else(|| panic!("{f}: {name} has no healthcheck"));
        assert!(test.len() >= 2, "{f}: {name}: empty healthcheck {test:?}");
        assert_ne!(test[0], "NONE", "{f}: {name}: healthcheck disabled");
    }

    let kafkas = c.with_image("apache/kafka:");
    let clickhouses = c.with_image("clickhouse/clickhouse-server:");
    assert!(
        !kafkas.is_empty() && !clickhouses.is_empty(),
        "{f}: {:?}",
        c.services.keys()
    );

    // Kafka: a pinned official image (3.9.x or 4.x), KRaft, each node broker and controller,
    // one cluster id, a voter per node, data on a volume, healthcheck against the broker.
    let mut ids = BTreeSet::new();
    let mut cluster_ids = BTreeSet::new();
    for k in &kafkas {
        let image = c.service(k)["image"].as_str().unwrap();
        let tag = image.trim_start_matches("apache/kafka:");
        assert!(
            tag.starts_with("3.9.") || tag.starts_with("4."),
            "{f}: {k}: pin apache/kafka to 3.9.x or 4.x, not {tag:?}"
        );
        let roles: BTreeSet<&str> = c.env(k, "KAFKA_PROCESS_ROLES").split(',').collect();
        assert_eq!(
            roles,
            BTreeSet::from(["broker", "controller"]),
            "{f}: {k}: KRaft combined mode"
        );
        ids.insert(c.env_or_number(k, "KAFKA_NODE_ID"));
        cluster_ids.insert(c.env(k, "CLUSTER_ID").to_string());
        let voters: BTreeSet<String> = c
            .env(k, "KAFKA_CONTROLLER_QUORUM_VOTERS")
            .split(',')
            .map(|v| {
                v.split_once('@')
                    .expect("id@host:port")
                    .1
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            voters,
            kafkas.iter().cloned().collect(),
            "{f}: {k}: the quorum is every node"
        );
        let advertised = c.env(k, "KAFKA_ADVERTISED_LISTENERS");
        assert!(
            advertised.contains(&format!("//{k}:9092")),
            "{f}: {k}: other containers must reach it as {k}:9092, advertised {advertised}"
        );
        assert_eq!(
            c.env(k, "KAFKA_AUTO_CREATE_TOPICS_ENABLE"),
            "false",
            "{f}: {k}"
        );
        let log_dirs = c.env(k, "KAFKA_LOG_DIRS");
        assert!(
            c.mounts(k).iter().any(|(_, target)| target == log_dirs),
            "{f}: {k}: log.dirs {log_dirs} is not on a volume"
        );
        let test = c.service(k)["healthcheck"]["test"].to_string();
        assert!(
            test.contains("kafka-broker-api-versions.sh") && test.contains("localhost:9092"),
            "{f}: {k}: healthcheck {test}"
        );
    }
    assert_eq!(
        ids.len(),
        kafkas.len(),
        "{f}: node ids must differ: {ids:?}"
    );
    assert_eq!(
        cluster_ids.len(),
        1,
        "{f}: one CLUSTER_ID for all brokers: {cluster_ids:?}"
    );

    // ClickHouse: the 25.8 LTS image, data on a volume, file limits, the same credentials
    // as the pipeline, and every mounted config file exists in the repository.
    for ch in &clickhouses {
        let s = c.service(ch);
        assert_eq!(s["image"], "clickhouse/clickhouse-server:25.8", "{f}: {ch}");
        assert!(
            c.mounts(ch).iter().any(|(_, t)| t == "/var/lib/clickhouse"),
            "{f}: {ch}: /var/lib/clickhouse is not on a volume"
        );
        assert!(
            s["ulimits"]["nofile"]["soft"].as_u64().unwrap_or(0) >= 262144,
            "{f}: {ch}: ulimits"
        );
        for key in ["CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"] {
            assert_eq!(
                c.env(ch, key),
                c.env("pipeline", key),
                "{f}: {ch} and pipeline: {key}"
            );
        }
    }
    for name in c.services.keys() {
        for (source, target) in c.mounts(name) {
            if source.starts_with('/') {
                assert!(
                    Path::new(&source).is_file(),
                    "{f}: {name} mounts {source}, which is missing"
                );
                assert!(
                    target.starts_with("/etc/"),
                    "{f}: {name}: {source} → {target}"
                );
            }
        }
    }

    // The pipeline: built from the repository, started after both services are healthy,
    // pointed at them by their service names, the dashboard published on 3000.
    let p = c.service("pipeline");
    let context = p["build"]["context"].as_str().expect("pipeline is built");
    assert_eq!(
        Path::new(context).canonicalize().unwrap(),
        repo().canonicalize().unwrap(),
        "{f}: build context"
    );
    let depends: BTreeMap<String, String> = p["depends_on"]
        .as_object()
        .unwrap_or_else(|| panic!("{f}: pipeline has no depends_on"))
        .iter()
        .map(|(k, v)| (k.clone(), v["condition"].as_str().unwrap_or("").to_string()))
        .collect();
    for needed in kafkas.iter().chain(&clickhouses) {
        assert_eq!(
            depends.get(needed).map(String::as_str),
            Some("service_healthy"),
            "{f}: the pipeline must wait for {needed} to be healthy: {depends:?}"
        );
    }
    let brokers: BTreeSet<String> = kafkas.iter().map(|k| format!("{k}:9092")).collect();
    for key in ["KAFKA_BROKERS", "CLICKHOUSE_KAFKA_BROKERS"] {
        let listed: BTreeSet<String> = c
            .env("pipeline", key)
            .split(',')
            .map(String::from)
            .collect();
        assert_eq!(listed, brokers, "{f}: pipeline {key}");
    }
    let url = c.env("pipeline", "CLICKHOUSE_URL");
    assert!(
        clickhouses
            .iter()
            .any(|ch| url == format!("http://{ch}:8123")),
        "{f}: CLICKHOUSE_URL {url} is none of {clickhouses:?}"
    );
    assert_eq!(c.env("pipeline", "PIPELINE_LISTEN"), "0.0.0.0:3000", "{f}");
    assert_eq!(p["restart"], "unless-stopped", "{f}");
    let command: Vec<&str> = p["command"]
        .as_array()
        .expect("pipeline command")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(command.first(), Some(&"up"), "{f}: {command:?}");
    let ports = p["ports"].to_string();
    assert!(
        ports.contains("\"target\":3000"),
        "{f}: pipeline ports {ports}"
    );

    (kafkas, clickhouses)
}

#[test]
fn single_node_compose() {
    let c = Compose::load(SINGLE);
    let (kafkas, clickhouses) = check_common(&c);
    assert_eq!(kafkas, ["kafka"]);
    assert_eq!(clickhouses, ["clickhouse"]);
    // `docker-compose config` (v1) lists the services of every profile: those without one
    // are what `docker compose up` starts.
    assert_eq!(
        c.services
            .iter()
            .filter(|(_, s)| s.get("profiles").is_none())
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["clickhouse", "kafka", "pipeline"],
        "{SINGLE}: services"
    );
    // A generator on the host reaches the broker on localhost:9094, published on loopback.
    assert!(c
        .env("kafka", "KAFKA_ADVERTISED_LISTENERS")
        .contains("//localhost:9094"));
    let ports = c.service("kafka")["ports"].to_string();
    assert!(ports.contains("127.0.0.1:9094:9094"), "kafka ports {ports}");
    assert!(c.service("pipeline")["environment"]
        .get("PIPELINE_CLUSTER")
        .is_none());
}

#[test]
fn cluster_compose() {
    let c = Compose::load(CLUSTER);
    let (kafkas, clickhouses) = check_common(&c);
    assert_eq!(
        kafkas,
        ["kafka1", "kafka2", "kafka3"],
        "{CLUSTER}: three brokers"
    );
    assert_eq!(
        clickhouses.len(),
        4,
        "{CLUSTER}: 2 shards × 2 replicas: {clickhouses:?}"
    );
    let keepers = c.with_image("clickhouse/clickhouse-keeper:");
    assert_eq!(keepers, ["keeper"], "{CLUSTER}: one Keeper");
    assert_eq!(
        c.service("keeper")["image"],
        "clickhouse/clickhouse-keeper:25.8"
    );
    assert_eq!(c.env("pipeline", "PIPELINE_CLUSTER"), "retail");
    for k in &kafkas {
        for key in [
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_DEFAULT_REPLICATION_FACTOR",
        ] {
            assert_eq!(c.env_or_number(k, key), "3", "{CLUSTER}: {k}: {key}");
        }
    }

    // The cluster `retail` in docker/cluster/cluster.xml: two shards of two replicas, the
    // replicas being exactly the four ClickHouse services; Keeper is the `keeper` service.
    let xml = read("docker/cluster/cluster.xml");
    let retail = between(&xml, "<retail>", "</retail>");
    let shards: Vec<&str> = retail.split("<shard>").skip(1).collect();
    assert_eq!(shards.len(), 2, "two shards in {retail}");
    let mut hosts = BTreeSet::new();
    for shard in &shards {
        assert!(
            shard.contains("<internal_replication>true</internal_replication>"),
            "{shard}"
        );
        let replicas: Vec<&str> = shard.split("<replica>").skip(1).collect();
        assert_eq!(replicas.len(), 2, "two replicas per shard: {shard}");
        for r in replicas {
            hosts.insert(between(r, "<host>", "</host>").to_string());
        }
    }
    assert_eq!(
        hosts,
        clickhouses.iter().cloned().collect(),
        "cluster.xml replicas"
    );
    let zk = between(&xml, "<zookeeper>", "</zookeeper>");
    assert_eq!(between(zk, "<host>", "</host>"), "keeper");
    assert!(
        xml.contains("from_env=\"CLICKHOUSE_CLUSTER_SECRET\""),
        "inter-server secret"
    );

    // Each server: cluster.xml and its own macros (a distinct shard/replica pair, the replica
    // named like the host), and depends on a healthy Keeper.
    let mut pairs = BTreeSet::new();
    for ch in &clickhouses {
        let mounts = c.mounts(ch);
        let target = |t: &str| {
            mounts
                .iter()
                .find(|(_, target)| target == t)
                .map(|(s, _)| s.clone())
                .unwrap_or_else(|| panic!("{CLUSTER}: {ch} does not mount {t}"))
        };
        assert!(target("/etc/clickhouse-server/config.d/cluster.xml")
            .ends_with("docker/cluster/cluster.xml"));
        let macros =
            std::fs::read_to_string(target("/etc/clickhouse-server/config.d/macros.xml")).unwrap();
        let shard = between(&macros, "<shard>", "</shard>").to_string();
        let replica = between(&macros, "<replica>", "</replica>").to_string();
        assert_eq!(replica, *ch, "{ch}: the replica macro names the host");
        assert_eq!(c.service(ch)["hostname"], ch.as_str());
        pairs.insert((shard, replica));
        assert_eq!(
            c.service(ch)["depends_on"]["keeper"]["condition"],
            "service_healthy",
            "{ch}"
        );
        assert!(
            !c.env(ch, "CLICKHOUSE_CLUSTER_SECRET").is_empty(),
            "{ch}: cluster secret"
        );
    }
    let shards_used: BTreeSet<&str> = pairs.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(shards_used, BTreeSet::from(["1", "2"]), "{pairs:?}");
    assert_eq!(pairs.len(), 4);
}

/// The Dockerfile: multi-stage, a non-root runtime on bookworm-slim, the pipeline as entry
/// point, `up` listening on all interfaces by default.
#[test]
fn dockerfile() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(
        froms
            .iter()
            .any(|l| l.contains("rust:") && l.contains("bookworm")),
        "{froms:?}"
    );
    assert_eq!(
        **froms.last().unwrap(),
        "FROM debian:bookworm-slim",
        "runtime stage"
    );
    let runtime = &text[text.rfind("FROM ").unwrap()..];
    let user = runtime
        .lines()
        .find(|l| l.starts_with("USER "))
        .expect("the runtime stage sets USER");
    let who = user
        .trim_start_matches("USER ")
        .split(':')
        .next()
        .unwrap()
        .trim();
    assert!(who != "root" && who != "0", "{user}");
    assert!(
        runtime.contains("useradd") && runtime.contains("10001"),
        "uid 10001"
    );
    assert!(runtime.contains("EXPOSE 3000"));
    assert!(runtime.contains("ENTRYPOINT [\"pipeline\"]"));
    assert!(runtime.contains("CMD [\"up\", \"--listen\", \"0.0.0.0:3000\"]"));
    assert!(text.contains("cargo build --release --locked -p pipeline"));
    let ignore = read(".dockerignore");
    for entry in ["target/", ".data/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// Every flag and variable the Docker files give `pipeline up` is one it reads.
#[test]
fn docker_files_use_real_flags_and_variables() {
    let out = clean(&mut Command::new(env!("CARGO_BIN_EXE_pipeline")))
        .args(["up", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for flag in ["--listen", "--rate"] {
        assert!(help.contains(flag), "`pipeline up` has no {flag}:\n{help}");
    }
    for file in [SINGLE, CLUSTER] {
        let c = Compose::load(file);
        let env = c.service("pipeline")["environment"].as_object().unwrap();
        for key in env.keys() {
            let read_by_up =
                help.contains(&format!("env: {key}=")) || help.contains(&format!("env: {key}]"));
            if !read_by_up && PENDING_ENV.contains(&key.as_str()) {
                eprintln!("{file}: {key} is not read by `pipeline up` yet (pending)");
                continue;
            }
            assert!(
                read_by_up,
                "{file}: the pipeline gets {key}, which `pipeline up` does not read:\n{help}"
            );
        }
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {text}"))
        + open.len();
    let end = text[start..]
        .find(close)
        .unwrap_or_else(|| panic!("no {close} in {text}"));
    text[start..start + end].trim()
}

/// `docker compose --profile monitoring up`: Prometheus scraping the pipeline with the alert
/// rules, and Grafana with its datasource and dashboard provisioned, all from
/// deploy/monitoring (what the files say is checked against a running pipeline and a real
/// Prometheus in tests/it/prometheus.rs).
#[test]
fn monitoring_profile() {
    let c = Compose::load(SINGLE);
    let profiled: Vec<(&str, Vec<&str>)> = c
        .services
        .iter()
        .filter_map(|(n, s)| {
            let p = s.get("profiles")?.as_array()?;
            Some((n.as_str(), p.iter().filter_map(Value::as_str).collect()))
        })
        .collect();
    assert_eq!(
        profiled,
        [
            ("grafana", vec!["monitoring"]),
            ("prometheus", vec!["monitoring"])
        ],
        "{SINGLE}: the monitoring profile"
    );
    let mounted = |service: &str, target: &str| -> PathBuf {
        let (source, _) = c
            .mounts(service)
            .into_iter()
            .find(|(_, t)| t == target)
            .unwrap_or_else(|| panic!("{SINGLE}: {service} mounts nothing at {target}"));
        PathBuf::from(source)
    };
    let yaml = |path: &Path| -> Value {
        let out = Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            ])
            .arg(path)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // Prometheus: its config and rules mounted side by side (rule_files is relative), the
    // scrape target the pipeline service on the port it listens on, data on a volume, the
    // UI on loopback.
    let p = c.service("prometheus");
    assert!(
        p["image"]
            .as_str()
            .unwrap()
            .starts_with("prom/prometheus:v"),
        "{p}"
    );
    let command: Vec<&str> = p["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        command.contains(&"--config.file=/etc/prometheus/prometheus.yml"),
        "{command:?}"
    );
    let config = yaml(&mounted("prometheus", "/etc/prometheus/prometheus.yml"));
    for rules in config["rule_files"].as_array().expect("rule_files") {
        let rules = rules.as_str().unwrap();
        mounted("prometheus", &format!("/etc/prometheus/{rules}"));
    }
    let jobs = config["scrape_configs"].as_array().expect("scrape_configs");
    let pipeline_port = c
        .env("pipeline", "PIPELINE_LISTEN")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        jobs.iter().any(|j| j["static_configs"][0]["targets"][0]
            == format!("pipeline:{pipeline_port}")
            && j["metrics_path"].as_str().unwrap_or("/metrics") == "/metrics"),
        "prometheus.yml scrapes pipeline:{pipeline_port}/metrics: {jobs:?}"
    );
    assert!(
        c.mounts("prometheus")
            .iter()
            .any(|(_, t)| t == "/prometheus"),
        "TSDB on a volume"
    );
    assert!(
        p["ports"].to_string().contains("\"host_ip\":\"127.0.0.1\"")
            || p["ports"].to_string().contains("127.0.0.1:"),
        "{}",
        p["ports"]
    );

    // Grafana: after Prometheus is healthy; the datasource is the prometheus service, with
    // the uid the dashboard's panels name; the dashboard provider reads where the dashboard
    // is mounted.
    let g = c.service("grafana");
    assert!(
        g["image"].as_str().unwrap().starts_with("grafana/grafana:"),
        "{g}"
    );
    assert_eq!(
        g["depends_on"]["prometheus"]["condition"],
        "service_healthy"
    );
    let ds = yaml(&mounted(
        "grafana",
        "/etc/grafana/provisioning/datasources/prometheus.yml",
    ));
    let ds = &ds["datasources"][0];
    assert_eq!(ds["type"], "prometheus");
    assert_eq!(ds["url"], "http://prometheus:9090");
    let providers = yaml(&mounted(
        "grafana",
        "/etc/grafana/provisioning/dashboards/pipeline.yml",
    ));
    let dir = providers["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path")
        .to_string();
    let dashboard_file = c
        .mounts("grafana")
        .into_iter()
        .find(|(_, t)| t.starts_with(&format!("{dir}/")) && t.ends_with(".json"))
        .unwrap_or_else(|| panic!("no dashboard mounted under {dir}"))
        .0;
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard_file).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{} panels", panels.len());
    for panel in panels {
        assert_eq!(
            panel["datasource"]["uid"], ds["uid"],
            "panel {}",
            panel["title"]
        );
        for t in panel["targets"].as_array().expect("targets") {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "panel {}: {t}",
                panel["title"]
            );
        }
    }
    assert!(
        g["ports"].to_string().contains("127.0.0.1"),
        "{}",
        g["ports"]
    );
}
