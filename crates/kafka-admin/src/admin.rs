//! Topic creation and the broker-side figures the audit and the health panel read.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::context::{drain, BrokerErrors};
use crate::{Cause, Error, KafkaSettings, Result};

#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
}

/// How many copies of each partition a topic this program creates gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Replication {
    /// The broker's own default (`default.replication.factor`): the request says -1
    /// (KIP-464, brokers from Kafka 2.4 on).
    #[default]
    BrokerDefault,
    /// Exactly this many.
    Factor(i16),
}

/// What the broker is asked for to create `spec`.
fn new_topic(spec: &TopicSpec, replication: Replication) -> NewTopic<'_> {
    let factor = match replication {
        Replication::BrokerDefault => -1,
        Replication::Factor(n) => i32::from(n),
    };
    NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(factor))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// `None` when the topic does not exist.
    pub partitions: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// A short-lived client of the brokers (metadata, offsets, commits) that keeps what
/// librdkafka says about its connections.
type Client = BaseConsumer<BrokerErrors>;

/// A client; with `group`, one that reads and commits that group's offsets without
/// joining it.
fn client(settings: &KafkaSettings, group: Option<&str>) -> Result<Client> {
    let mut c = settings.client_config();
    if let Some(group) = group {
        c.set("group.id", group);
        c.set("enable.auto.commit", "false");
    }
    // librdkafka logs a connection closed during the first request (what a TLS listener
    // does to plaintext) at info level; the context logs what it hears at debug.
    if (c.log_level as i32) < RDKafkaLogLevel::Info as i32 {
        c.set_log_level(RDKafkaLogLevel::Info);
    }
    Ok(c.create_with_context(BrokerErrors::quiet())?)
}

/// `client`'s call failed with `e`: the brokers did not answer, and librdkafka's reason
/// when it gave one.
fn unreachable(settings: &KafkaSettings, client: &Client, e: impl std::fmt::Display) -> Error {
    drain(client);
    let (cause, message) = match client.context().most_telling() {
        Some((cause, reason)) => (cause, format!("{e}: {reason}")),
        None => (Cause::Unknown, e.to_string()),
    };
    Error::Unreachable {
        brokers: settings.brokers.clone(),
        message,
        cause,
    }
}

/// Which of `names` exist, and with how many partitions.
pub fn fetch_topics(
    settings: &KafkaSettings,
    names: &[&str],
    timeout: Duration,
) -> Result<Vec<TopicInfo>> {
    let consumer = client(settings, None)?;
    let md = consumer
        .fetch_metadata(None, timeout)
        .map_err(|e| unreachable(settings, &consumer, e))?;
    Ok(names
        .iter()
        .map(|name| {
            let partitions = md
                .topics()
                .iter()
                .find(|t| t.name() == *name && t.error().is_none())
                .map(|t| t.partitions().len())
                .filter(|n| *n > 0);
            TopicInfo {
                name: name.to_string(),
                partitions,
            }
        })
        .collect())
}

/// Creates the topics that are missing, replicated as the broker's default says; existing
/// ones are left as they are. Returns the state of every topic afterwards.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<TopicInfo>> {
    ensure_topics_replicated(settings, specs, Replication::BrokerDefault, timeout).await
}

/// As [`ensure_topics`], creating missing topics with `replication`.
pub async fn ensure_topics_replicated(
    settings: &KafkaSettings,
    specs: &[TopicSpec],
    replication: Replication,
    timeout: Duration,
) -> Result<Vec<TopicInfo>> {
    for spec in specs {
        if spec.partitions < 1 {
            return Err(Error::Invalid(format!(
                "topic {:?} needs at least one partition, not {}",
                spec.name, spec.partitions
            )));
        }
    }
    if let Replication::Factor(n) = replication {
        if n < 1 {
            return Err(Error::Invalid(format!(
                "a replication factor is at least 1, not {n}"
            )));
        }
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let before = fetch_topics(settings, &names, timeout)?;
    let missing: Vec<NewTopic> = specs
        .iter()
        .zip(&before)
        .filter(|(_, info)| info.partitions.is_none())
        .map(|(s, _)| new_topic(s, replication))
        .collect();
    if !missing.is_empty() {
        // The default context: rdkafka 0.39 serves an admin client's results on a queue of
        // its own and offers no way to serve its main queue, where librdkafka's reasons go,
        // so a BrokerErrors here would hear nothing. The brokers answered fetch_topics just
        // now; a connection that fails from here on says only what the admin call says.
        let admin: AdminClient<DefaultClientContext> = settings.client_config().create()?;
        let opts = AdminOptions::new().operation_timeout(Some(timeout));
        let results = admin
            .create_topics(&missing, &opts)
            .await
            .map_err(|e| refused_default(e, replication, &missing))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(Error::TopicRefused {
                        topic,
                        message: code.to_string(),
                    })
                }
            }
        }
    }
    // Creation is asynchronous on some brokers: wait until metadata shows every topic.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let after = fetch_topics(settings, &names, timeout)?;
        if after.iter().all(|t| t.partitions.is_some()) {
            return Ok(after);
        }
        if std::time::Instant::now() > deadline {
            let t = after
                .into_iter()
                .find(|t| t.partitions.is_none())
                .expect("one is missing");
            return Err(Error::TopicRefused {
                topic: t.name,
                message: "created, but the broker's metadata does not show it".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A broker older than Kafka 2.4 cannot take -1 (its own default) as a new topic's
/// replication factor; librdkafka refuses to send it. Say what to do instead of guessing a
/// factor for the user.
fn refused_default(
    e: rdkafka::error::KafkaError,
    replication: Replication,
    topics: &[NewTopic<'_>],
) -> Error {
    match (&e, replication) {
        (
            rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::UnsupportedFeature),
            Replication::BrokerDefault,
        ) => Error::TopicRefused {
            topic: topics
                .first()
                .map(|t| t.name.to_string())
                .unwrap_or_default(),
            message: format!(
                "{e}: this broker cannot apply its own default replication factor to a new \
                 topic (it needs Kafka 2.4 or later); set one with --topic-replication-factor"
            ),
        },
        _ => e.into(),
    }
}

/// Low and high watermarks of every partition of `topic`.
pub fn partition_offsets(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<PartitionOffsets>> {
    let consumer = client(settings, None)?;
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| unreachable(settings, &consumer, e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for p in t.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), timeout)
            .map_err(|e| unreachable(settings, &consumer, e))?;
        out.push(PartitionOffsets {
            partition: p.id(),
            low,
            high,
        });
    }
    out.sort_by_key(|p| p.partition);
    Ok(out)
}

/// The offsets `group` has committed for the given partitions of `topic` (`None` where it
/// has committed nothing). Reads them without joining the group.
pub fn committed_offsets(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<Vec<(i32, Option<i64>)>> {
    let consumer = client(settings, Some(group))?;
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(topic, *p);
    }
    let got = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| unreachable(settings, &consumer, e))?;
    Ok(partitions
        .iter()
        .map(|p| {
            let off = got
                .find_partition(topic, *p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            (*p, off)
        })
        .collect())
}

/// Where a consumer group stands on one partition: the partition's watermarks and the
/// group's committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupPartition {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
    /// The next offset the group reads; `None` where it has committed nothing.
    pub committed: Option<i64>,
}

impl GroupPartition {
    /// Where the group reads next, within what the partition holds: from the low watermark
    /// when it has committed nothing or retention removed what it points at; at most the
    /// end (a commit read after the end offset can pass it).
    pub fn position(&self) -> i64 {
        self.committed
            .unwrap_or(self.low)
            .clamp(self.low, self.high.max(self.low))
    }

    /// The group's lag: messages on the partition it has not committed.
    pub fn lag(&self) -> i64 {
        self.high.max(self.low) - self.position()
    }

    /// Messages of the partition the group has committed past (the low watermark on).
    pub fn consumed(&self) -> i64 {
        self.position() - self.low
    }
}

/// Where `group` stands on every partition of `topic`, read without joining the group. The
/// end offsets are read first, so a commit made between the two reads can only shrink the
/// lag (to no less than 0), never inflate it.
pub fn group_partitions(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<GroupPartition>> {
    let parts = partition_offsets(settings, topic, timeout)?;
    group_partitions_on(settings, group, topic, &parts, timeout)
}

/// [`group_partitions`] for watermarks already read (`parts`, from [`partition_offsets`]).
pub fn group_partitions_on(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    parts: &[PartitionOffsets],
    timeout: Duration,
) -> Result<Vec<GroupPartition>> {
    let ids: Vec<i32> = parts.iter().map(|p| p.partition).collect();
    let committed = committed_offsets(settings, group, topic, &ids, timeout)?;
    Ok(parts
        .iter()
        .zip(committed)
        .map(|(p, (_, committed))| GroupPartition {
            partition: p.partition,
            low: p.low,
            high: p.high,
            committed,
        })
        .collect())
}

/// Commits `offsets` (partition, next offset to read) for `group` on `topic`, without
/// joining the group. Only for a group with no active member.
pub fn commit_offsets(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<()> {
    commit(settings, group, topic, offsets)?.map_err(|(_, e)| e)
}

/// [`commit_offsets`], with the broker's answer to a refused commit as it came, beside
/// the error it makes.
fn commit(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<std::result::Result<(), (rdkafka::error::KafkaError, Error)>> {
    let consumer = client(settings, Some(group))?;
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))?;
    }
    Ok(consumer
        .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .map_err(|e| {
            let error = unreachable(settings, &consumer, &e);
            (e, error)
        }))
}

/// What [`start_group_at_beginning`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Positioning {
    /// Every partition has a committed offset: nothing to do.
    AlreadyCommitted,
    /// The low watermarks of these partitions were committed.
    Committed(Vec<(i32, i64)>),
    /// These partitions have no committed offset, and the broker refused a commit from
    /// outside the group because it has live members: a Kafka table's consumer is in it
    /// and placed already. Nothing was committed.
    GroupActive { uncommitted: Vec<i32> },
}

/// The refusals of a commit from outside a group that say the group has live members
/// (Kafka takes such commits only while the group is empty).
fn refused_for_membership(e: &rdkafka::error::KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::RebalanceInProgress
        )
    )
}

/// Makes a consumer group that has never committed start at the beginning of `topic`.
///
/// Why: ClickHouse's Kafka engine (18.16 at least) starts a new group at the *end* of each
/// partition, so whatever was produced before its consumer joined would never be read.
/// Committing the low watermarks first closes that window. Returns the partitions set.
///
/// A group that has live members and partitions it never committed (its Kafka table
/// exists and consumes: a database made without this step, offsets the broker expired)
/// cannot be positioned from outside: Kafka refuses the commit (UNKNOWN_MEMBER_ID and
/// the like), and a live consumer would not read it anyway. That is logged and left:
/// its consumer is placed already. On 18.16 it started at the end; what it skipped lies
/// below its first commit, where `pipeline up`'s verifier replays it, or, on a partition
/// where it never commits, waits, where `up`'s rescue replays it.
pub fn start_group_at_beginning(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<usize> {
    Ok(match position_group(settings, group, topic, timeout)? {
        Positioning::AlreadyCommitted => 0,
        Positioning::Committed(offsets) => {
            tracing::debug!(
                group,
                topic,
                ?offsets,
                "consumer group starts at the beginning"
            );
            offsets.len()
        }
        Positioning::GroupActive { uncommitted } => {
            tracing::info!(
                group,
                topic,
                ?uncommitted,
                "consumer group has live members and these partitions uncommitted: its \
                 consumer is placed already, nothing to position"
            );
            0
        }
    })
}

/// [`start_group_at_beginning`], saying what it found and did.
pub fn position_group(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Positioning> {
    let offsets = partition_offsets(settings, topic, timeout)?;
    let partitions: Vec<i32> = offsets.iter().map(|p| p.partition).collect();
    let committed = committed_offsets(settings, group, topic, &partitions, timeout)?;
    let missing: Vec<(i32, i64)> = offsets
        .iter()
        .zip(&committed)
        .filter(|(_, (_, c))| c.is_none())
        .map(|(p, _)| (p.partition, p.low))
        .collect();
    if missing.is_empty() {
        return Ok(Positioning::AlreadyCommitted);
    }
    match commit(settings, group, topic, &missing)? {
        Ok(()) => Ok(Positioning::Committed(missing)),
        Err((e, _)) if refused_for_membership(&e) => {
            tracing::debug!(group, topic, error = %e, "commit from outside the group refused");
            Ok(Positioning::GroupActive {
                uncommitted: missing.iter().map(|(p, _)| *p).collect(),
            })
        }
        Err((_, e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_committed_offset_within_the_partition() {
        let at = |low, high, committed| GroupPartition {
            partition: 0,
            low,
            high,
            committed,
        };
        // Nothing committed: everything on the partition is lag.
        assert_eq!((at(0, 10, None).lag(), at(0, 10, None).consumed()), (10, 0));
        assert_eq!(at(4, 10, None).lag(), 6);
        assert_eq!(
            (at(0, 10, Some(7)).lag(), at(0, 10, Some(7)).consumed()),
            (3, 7)
        );
        // Retention removed what the commit points at: from the low watermark.
        assert_eq!(
            (at(5, 10, Some(2)).lag(), at(5, 10, Some(2)).consumed()),
            (5, 0)
        );
        // A commit read after the end offset: no lag, not a negative one.
        assert_eq!(
            (at(0, 10, Some(12)).lag(), at(0, 10, Some(12)).consumed()),
            (0, 10)
        );
        assert_eq!(at(0, 0, None).lag(), 0);
    }

    #[test]
    fn new_topics_get_the_brokers_replication_factor_unless_one_is_set() {
        let spec = TopicSpec {
            name: "sales".into(),
            partitions: 3,
        };
        assert_eq!(Replication::default(), Replication::BrokerDefault);
        let t = new_topic(&spec, Replication::BrokerDefault);
        assert_eq!((t.name, t.num_partitions), ("sales", 3));
        // -1 is the protocol's "the broker's default.replication.factor" (KIP-464).
        assert!(
            matches!(t.replication, TopicReplication::Fixed(-1)),
            "{:?}",
            t.replication
        );
        let t = new_topic(&spec, Replication::Factor(3));
        assert!(
            matches!(t.replication, TopicReplication::Fixed(3)),
            "{:?}",
            t.replication
        );
        let t = new_topic(&spec, Replication::Factor(1));
        assert!(matches!(t.replication, TopicReplication::Fixed(1)));
    }

    /// Against librdkafka's mock cluster, whose group coordinator answers an outside commit
    /// as Kafka does (tansu 0.6 takes it whatever the group's state).
    #[test]
    fn a_group_with_a_live_member_and_nothing_committed_is_left_alone() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic("events", 2, 1).unwrap();
        let settings = KafkaSettings::new(cluster.bootstrap_servers());
        let timeout = Duration::from_secs(10);

        // A Kafka table's consumer that joined and has not committed yet.
        let member: BaseConsumer = settings
            .client_config()
            .set("group.id", "clickhouse_shop_events")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        member.subscribe(&["events"]).unwrap();
        let start = std::time::Instant::now();
        while member.assignment().unwrap().count() < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the member was not given the partitions within 30 s"
            );
            let _ = member.poll(Duration::from_millis(100));
        }
        // What the broker answers a commit from outside: the group has a live member.
        let (refused, _) = commit(&settings, "clickhouse_shop_events", "events", &[(0, 0)])
            .unwrap()
            .unwrap_err();
        assert!(refused_for_membership(&refused), "{refused}");

        let got = position_group(&settings, "clickhouse_shop_events", "events", timeout);
        assert_eq!(
            got.unwrap(),
            Positioning::GroupActive {
                uncommitted: vec![0, 1]
            }
        );
        assert_eq!(
            start_group_at_beginning(&settings, "clickhouse_shop_events", "events", timeout)
                .unwrap(),
            0
        );
        let committed = committed_offsets(
            &settings,
            "clickhouse_shop_events",
            "events",
            &[0, 1],
            timeout,
        )
        .unwrap();
        assert_eq!(committed, [(0, None), (1, None)], "nothing committed");

        // A group nobody is in is positioned, once.
        let fresh = || position_group(&settings, "clickhouse_other_events", "events", timeout);
        assert_eq!(
            fresh().unwrap(),
            Positioning::Committed(vec![(0, 0), (1, 0)])
        );
        assert_eq!(fresh().unwrap(), Positioning::AlreadyCommitted);
    }

    #[test]
    fn a_broker_too_old_for_its_own_default_gets_a_way_out() {
        let spec = TopicSpec {
            name: "sales".into(),
            partitions: 3,
        };
        let topics = [new_topic(&spec, Replication::BrokerDefault)];
        let unsupported =
            || rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::UnsupportedFeature);
        let e = refused_default(unsupported(), Replication::BrokerDefault, &topics).to_string();
        assert!(
            e.contains("\"sales\"") && e.contains("--topic-replication-factor"),
            "{e}"
        );
        // With a factor set, or another failure, the error is passed on as it is.
        let e = refused_default(unsupported(), Replication::Factor(2), &topics).to_string();
        assert!(!e.contains("--topic-replication-factor"), "{e}");
        let other = rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::BrokerTransportFailure);
        let e = refused_default(other, Replication::BrokerDefault, &topics).to_string();
        assert!(!e.contains("--topic-replication-factor"), "{e}");
    }
}
