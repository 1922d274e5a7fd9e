//! Topics this program creates are replicated as the broker's default says, unless
//! `--topic-replication-factor` (or KAFKA_TOPIC_REPLICATION_FACTOR) sets a factor; topics that
//! exist are left as they are. Every command that creates topics (`generate`, `schema
//! apply`, `up`) goes through the same function; `generate` is the one used here.
//!
//! What the real broker shows: tansu 0.6.0 takes the -1 of "the broker's default" and
//! makes it its own default, 1 (its CreateTopics turns -1 into 1); its metadata lists as
//! many replicas per partition as the factor it stored, so a factor of 2 on this one-broker
//! tansu shows as two replicas. The default case can therefore only show that -1 is taken
//! and becomes tansu's 1; that -1 is what is asked is the publish crate's unit test.

use crate::common;

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use testkit::TestEnv;

/// Replicas of each partition of `topic`, as the broker's metadata lists them.
fn replicas(env: &TestEnv, topic: &str) -> Vec<usize> {
    let consumer: BaseConsumer = env.kafka.client_config().create().unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("{topic} is not in the metadata"));
    assert!(t.error().is_none(), "{topic}: {:?}", t.error());
    let mut parts: Vec<_> = t.partitions().iter().collect();
    parts.sort_by_key(|p| p.id());
    parts.iter().map(|p| p.replicas().len()).collect()
}

/// The test's flags, with `topics` as the sales and warehouse topics.
fn args_for(env: &TestEnv, topics: &[String; 2]) -> Vec<String> {
    let mut args = env.pipeline_args();
    for (flag, topic) in ["--sales-topic", "--warehouse-topic"].iter().zip(topics) {
        let at = args.iter().position(|a| a == flag).unwrap() + 1;
        args[at] = topic.clone();
    }
    args
}

/// `pipeline generate` of one event into topics of its own, with `extra` global flags and
/// `env_vars`; returns the two topics.
fn create(env: &TestEnv, what: &str, extra: &[&str], env_vars: &[(&str, &str)]) -> [String; 2] {
    let topics = [
        format!("{}_{what}_sales", env.database),
        format!("{}_{what}_wh", env.database),
    ];
    let mut args = args_for(env, &topics);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(&args)
        .args(["generate", "--count", "1", "--partitions", "2"])
        .env("PIPELINE_LOG", "warn")
        .env_remove("KAFKA_TOPIC_REPLICATION_FACTOR")
        .envs(env_vars.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generate {extra:?} {env_vars:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    topics
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_get_the_brokers_replication_factor_unless_one_is_set() {
    let env = TestEnv::new("replication").await;
    tokio::task::spawn_blocking(move || {
        // No flag: the broker's default, which tansu makes 1.
        let default = create(&env, "default", &[], &[]);
        for t in &default {
            assert_eq!(replicas(&env, t), [1, 1], "{t}: tansu's default");
        }
        // A factor set by the flag, or by the environment, reaches the broker.
        for t in create(&env, "two", &["--topic-replication-factor", "2"], &[]) {
            assert_eq!(
                replicas(&env, &t),
                [2, 2],
                "{t}: --topic-replication-factor 2"
            );
        }
        for t in create(&env, "env", &[], &[("KAFKA_TOPIC_REPLICATION_FACTOR", "2")]) {
            assert_eq!(
                replicas(&env, &t),
                [2, 2],
                "{t}: KAFKA_TOPIC_REPLICATION_FACTOR=2"
            );
        }
        for t in create(&env, "one", &["--topic-replication-factor", "1"], &[]) {
            assert_eq!(
                replicas(&env, &t),
                [1, 1],
                "{t}: --topic-replication-factor 1"
            );
        }
        // A topic that exists is left as it is.
        let mut args = args_for(&env, &default);
        args.extend(["--topic-replication-factor".to_string(), "2".into()]);
        common::pipeline_with_ok(&args, &["generate", "--count", "1"]);
        for t in &default {
            assert_eq!(replicas(&env, t), [1, 1], "{t} is not changed");
        }
    })
    .await
    .unwrap();
}
