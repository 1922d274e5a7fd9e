//! Where a shared option comes from, through the real binary: the flag, else its
//! environment variable, else the `--config` file, else the default. One key (`database`)
//! is set at every combination of levels and read back from what `pipeline schema print`
//! renders (no server needed). `config.rs`'s unit tests resolve the options in process and
//! never put the variable against the file.

use std::path::Path;
use std::process::Command;

/// The database `pipeline schema print` renders for, with `database` set by the config
/// file, the environment and the flag as given.
fn rendered_database(file: Option<&Path>, var: Option<&str>, flag: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    // Only what this test sets may decide (not what the shell running the tests exports).
    cmd.env_remove("CLICKHOUSE_DATABASE")
        .env_remove("PIPELINE_CONFIG")
        .env("PIPELINE_LOG", "warn");
    if let Some(f) = file {
        cmd.arg("--config").arg(f);
    }
    if let Some(v) = var {
        cmd.env("CLICKHOUSE_DATABASE", v);
    }
    if let Some(d) = flag {
        cmd.args(["--database", d]);
    }
    let out = cmd
        .args(["schema", "print", "--for-version", "25.8"])
        .output()
        .expect("the pipeline binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schema print failed ({}): {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().unwrap_or_default();
    let db = first
        .strip_prefix("-- Schema for ClickHouse 25.8.0 (database ")
        .and_then(|r| r.strip_suffix(")."))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert!(
        text.contains(&format!("CREATE DATABASE IF NOT EXISTS {db};")),
        "the DDL is for {db}:\n{text}"
    );
    db
}

#[test]
fn flag_beats_environment_beats_file_beats_default() {
    let dir = std::env::temp_dir().join(testkit::unique_name("options"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, "database = \"from_file\"\n").unwrap();

    // Every combination of the three levels; the highest one set decides.
    for with_file in [false, true] {
        for var in [None, Some("from_env")] {
            for flag in [None, Some("from_flag")] {
                let file = with_file.then_some(file.as_path());
                let want = flag
                    .or(var)
                    .or(file.map(|_| "from_file"))
                    .unwrap_or("default");
                assert_eq!(
                    rendered_database(file, var, flag),
                    want,
                    "file: {with_file}, CLICKHOUSE_DATABASE: {var:?}, --database: {flag:?}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
