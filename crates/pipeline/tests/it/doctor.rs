//! `pipeline doctor` against the real services, and against each of them down.

use crate::common;

use crate::common::{free_port, pipeline, pipeline_ok, stdout};
use testkit::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn all_ok_when_both_services_run() {
    let env = TestEnv::new("doctor_ok").await;
    pipeline_ok(&env, &["schema", "apply"]); // creates the topics and the database
    let out = pipeline_ok(&env, &["doctor"]);
    for line in common::DOCTOR_ALL_OK {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn names_clickhouse_when_it_is_down() {
    let env = TestEnv::new("doctor_ch").await;
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = pipeline(&env, &["doctor", "--clickhouse-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAIL clickhouse"), "{text}");
    assert!(
        text.contains("unreachable") && text.contains(&url),
        "{text}"
    );
    assert!(text.contains("ok   broker"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_the_broker_when_it_is_down() {
    let env = TestEnv::new("doctor_kafka").await;
    let brokers = format!("127.0.0.1:{}", free_port());
    let out = pipeline(&env, &["doctor", "--kafka-brokers", &brokers]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAIL broker"), "{text}");
    assert!(text.contains(&brokers), "{text}");
    assert!(text.contains("Connection refused"), "says why: {text}");
    assert!(
        text.contains("scripts/services start"),
        "says how to start it: {text}"
    );
    assert!(text.contains("ok   clickhouse "), "{text}");
}

/// A broker name that does not resolve (`.invalid` never does, RFC 6761) is named as such,
/// and starting the local services is not the way out.
#[tokio::test(flavor = "multi_thread")]
async fn names_a_broker_address_that_does_not_resolve() {
    let env = TestEnv::new("doctor_resolve").await;
    let brokers = "no-such-broker.invalid:9092";
    let out = pipeline(&env, &["doctor", "--quick", "--kafka-brokers", brokers]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAIL broker"), "{text}");
    assert!(
        text.contains("Failed to resolve 'no-such-broker.invalid:9092'"),
        "says why: {text}"
    );
    assert!(text.contains("hint: check --kafka-brokers"), "{text}");
    assert!(!text.contains("scripts/services start"), "{text}");
}

/// A server before 21.7 whose Kafka engine runs with ClickHouse's CSV defaults (as Debian's
/// users.xml has them) would take the schema and land nothing. The local server's `client`
/// profile has exactly those defaults: named as the engine's profile, `doctor` fails with
/// the XML to add, `schema apply` creates nothing, and `up` refuses to start.
#[tokio::test(flavor = "multi_thread")]
async fn an_engine_profile_with_csv_defaults_is_refused_with_the_xml_to_add() {
    let env = TestEnv::new("doctor_profile").await;
    let version = env.root().version().await.unwrap();
    let flag = ["--clickhouse-engine-profile", "client"];
    let doctor = pipeline(&env, &[&["doctor", "--quick"][..], &flag].concat());
    let text = stdout(&doctor);
    if version.at_least(21, 7) {
        // Current servers read messages whole: the profile is not their concern.
        assert!(!text.contains("engine profile"), "{text}");
        return;
    }
    assert_eq!(doctor.status.code(), Some(1), "{text}");
    for line in [
        "FAIL engine profile",
        r#"format_csv_delimiter is "," (needs U+007F)"#,
        r#"format_csv_allow_double_quotes is "1" (needs "0")"#,
        "        <client>",
        "            <format_csv_delimiter>&#127;</format_csv_delimiter>",
        "            <format_csv_allow_single_quotes>0</format_csv_allow_single_quotes>",
        "            <format_csv_allow_double_quotes>0</format_csv_allow_double_quotes>",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    // The server's own default profile is set up (scripts/services renders it so).
    // (The topics do not exist yet: doctor fails on those, not on the profile.)
    let ok = stdout(&pipeline(&env, &["doctor", "--quick"]));
    assert!(ok.contains("ok   engine profile"), "{ok}");

    let apply = pipeline(&env, &[&flag[..], &["schema", "apply"]].concat());
    let err = String::from_utf8_lossy(&apply.stderr);
    assert_ne!(apply.status.code(), Some(0), "{err}");
    assert!(
        err.contains("<format_csv_delimiter>&#127;</format_csv_delimiter>"),
        "{err}"
    );
    let created: Vec<serde_json::Value> = env
        .root()
        .query(&format!(
            "SELECT name FROM system.tables WHERE database = '{}'",
            env.database
        ))
        .await
        .unwrap();
    assert_eq!(created, Vec::<serde_json::Value>::new(), "nothing created");

    let up = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(env.pipeline_args())
        .args(flag)
        .args(["up", "--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    let out = format!("{}{}", stdout(&up), String::from_utf8_lossy(&up.stderr));
    assert_ne!(up.status.code(), Some(0), "{out}");
    assert!(out.contains("FAIL engine profile"), "{out}");
    env.drop_database().await;
}

#[test]
fn a_wrong_flag_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["generate", "--rate=-5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rate"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["schema", "status", "--database", "x;DROP"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a plain identifier"));
}
