//! Why a client could not reach the brokers: librdkafka says it (a certificate not
//! trusted, a SASL password refused, a connection refused, a name that does not resolve)
//! only in its log and error events, while the call that failed returns a generic
//! "Broker transport failure". [`BrokerErrors`] is a client context that keeps the last
//! few of those reports, so the error this crate returns can name the cause.
//!
//! rdkafka 0.39 routes librdkafka's log lines and errors through the client's main queue
//! (`log.queue`): they reach the context only while something polls the client. A producer's
//! polling thread does; a metadata client does not, so [`drain`] serves its queue once a
//! call has failed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientContext;

/// What kept a client from its brokers, from the least to the most telling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// Nothing said why (the broker accepted the connection but never answered, or the
    /// call gave up before a connection failed).
    #[default]
    Unknown,
    /// A connection was made and failed otherwise (closed, reset, timed out): a broker
    /// that is not well, or a listener that speaks another protocol.
    Transport,
    /// Nothing accepts connections at the address.
    Refused,
    /// A host name does not resolve.
    Resolve,
    /// TLS: the handshake failed (a certificate not trusted, plaintext spoken to a TLS
    /// listener or the other way round).
    Tls,
    /// SASL: the mechanism, user or password was refused.
    Authentication,
}

impl Cause {
    /// TLS or SASL: the client's security settings, not the broker's address.
    pub fn is_security(self) -> bool {
        matches!(self, Cause::Tls | Cause::Authentication)
    }

    /// What a report from librdkafka (an error event's code, or none for a log line, and
    /// its text) says about the connection; `None` when it is not about one, or says
    /// nothing of why ("1/1 brokers are down").
    fn of(code: Option<RDKafkaErrorCode>, text: &str) -> Option<Cause> {
        match code {
            Some(RDKafkaErrorCode::AllBrokersDown) => return None,
            Some(
                RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::IllegalSASLState
                | RDKafkaErrorCode::UnsupportedSASLMechanism,
            ) => return Some(Cause::Authentication),
            Some(RDKafkaErrorCode::SSL) => return Some(Cause::Tls),
            Some(RDKafkaErrorCode::Resolve) => return Some(Cause::Resolve),
            _ => {}
        }
        // The text starts with the broker's name ("sasl_ssl://host:9093/bootstrap: "), in
        // lower case: the upper-case words below are librdkafka's own.
        Some(if text.contains("Failed to resolve") {
            Cause::Resolve
        } else if text.contains("Connection refused") {
            Cause::Refused
        } else if text.contains("SASL") || text.contains("uthentication") {
            Cause::Authentication
        } else if text.contains("SSL") || text.contains("security.protocol") {
            Cause::Tls
        } else if code.is_some() {
            Cause::Transport
        } else {
            return None;
        })
    }
}

/// A client context that keeps the last few broker-connection errors librdkafka reported
/// (error events, and log lines: a broker connection's failures, other lines of level
/// warning or worse that name a cause), and logs them.
#[derive(Debug)]
pub struct BrokerErrors {
    /// Oldest first: when, what cause, librdkafka's text.
    recent: Mutex<VecDeque<(Instant, Cause, String)>>,
    /// Log at debug level only: for a client whose reports are read once its call failed,
    /// and go into the error it returns.
    quiet: bool,
}

impl Default for BrokerErrors {
    fn default() -> Self {
        BrokerErrors::new()
    }
}

impl BrokerErrors {
    const KEEP: usize = 8;

    /// Logs what librdkafka reports as the default context does (through the `log` crate,
    /// which the binary's `tracing` subscriber takes).
    pub fn new() -> Self {
        BrokerErrors {
            recent: Mutex::new(VecDeque::new()),
            quiet: false,
        }
    }

    /// Logs what librdkafka reports at debug level: the caller puts the cause into its
    /// error. Its client should ask for info level (`ClientConfig::set_log_level`), or
    /// librdkafka does not log some failures at all.
    pub fn quiet() -> Self {
        BrokerErrors {
            quiet: true,
            ..BrokerErrors::new()
        }
    }

    fn record(&self, cause: Cause, text: &str) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        // librdkafka reports a broker failure twice, as a log line and as an error event.
        let cause = match recent.iter().position(|(_, _, t)| t == text) {
            Some(i) => recent.remove(i).map_or(cause, |(_, c, _)| c.max(cause)),
            None => cause,
        };
        recent.push_back((Instant::now(), cause, text.to_string()));
        while recent.len() > Self::KEEP {
            recent.pop_front();
        }
    }

    /// The most telling report kept (of the most telling cause, the latest), if any.
    pub fn most_telling(&self) -> Option<(Cause, String)> {
        self.most_telling_within(None)
    }

    /// As [`most_telling`](Self::most_telling), of the reports of the last `age` only: for
    /// a long-lived client, whose reports of an hour ago say nothing of a failure now.
    pub fn most_telling_within(&self, age: Option<Duration>) -> Option<(Cause, String)> {
        let since = age.and_then(|age| Instant::now().checked_sub(age));
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .enumerate()
            .filter(|(_, (at, _, _))| since.is_none_or(|since| *at >= since))
            .max_by_key(|(i, (_, cause, _))| (*cause, *i))
            .map(|(_, (_, cause, text))| (*cause, text.clone()))
    }
}

impl ClientContext for BrokerErrors {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // Some lines start with the thread's name; the error event of the same failure
        // does not.
        let text = message
            .strip_prefix("[thrd:")
            .and_then(|m| m.split_once("]: "))
            .map_or(message, |(_, m)| m);
        let level_no = level as i32;
        // FAIL is a broker connection's failure. It counts down to info level: a connection
        // closed during the first request is logged there, also when librdkafka adds that the
        // security protocol is likely wrong (plaintext to a TLS listener). Other lines count
        // at warning or worse when they name a cause, configuration warnings (which may
        // mention SSL or SASL) excepted.
        let cause = if fac == "FAIL" && level_no <= RDKafkaLogLevel::Info as i32 {
            Some(Cause::of(None, text).unwrap_or(Cause::Transport))
        } else if level_no <= RDKafkaLogLevel::Warning as i32 && !fac.starts_with("CONF") {
            Cause::of(None, text)
        } else {
            None
        };
        if let Some(cause) = cause {
            self.record(cause, text);
        }
        if self.quiet {
            tracing::debug!(target: "librdkafka", "librdkafka: {fac} {message}");
        } else {
            DefaultClientContext.log(level, fac, message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(cause) = Cause::of(error.rdkafka_error_code(), reason) {
            self.record(cause, reason);
        }
        if self.quiet {
            tracing::debug!(target: "librdkafka", "librdkafka: {error}: {reason}");
        } else {
            DefaultClientContext.error(error, reason);
        }
    }
}

impl ConsumerContext for BrokerErrors {}

/// Serves the events waiting on `client`'s queue (its log lines and errors), so that its
/// context has them. Only a client nothing else polls, and only once a call has failed:
/// it takes no message (nothing is assigned) and waits for nothing.
pub(crate) fn drain(client: &BaseConsumer<BrokerErrors>) {
    // Each poll serves at most one event; an empty queue returns at once. librdkafka
    // suppresses a broker's identical errors for 30 s, so a few dozen cover a failed call.
    for _ in 0..64 {
        let _ = client.poll(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(reports: &[(Option<RDKafkaErrorCode>, &str)]) -> Option<(Cause, String)> {
        let c = BrokerErrors::quiet();
        for (code, text) in reports {
            match code {
                Some(code) => c.error(KafkaError::Global(*code), text),
                None => c.log(RDKafkaLogLevel::Error, "FAIL", text),
            }
        }
        c.most_telling()
    }

    const TLS: &str = "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: \
        error:0A000086:SSL routines::certificate verify failed (after 3ms in state SSL_HANDSHAKE)";
    const SCRAM: &str = "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: \
        SASL SCRAM authentication failed (after 10ms in state AUTH_REQ)";
    const DOWN: &str = "1/1 brokers are down";
    const REFUSED: &str = "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: \
        Connection refused (after 0ms in state CONNECT)";
    const CLOSED: &str = "127.0.0.1:9092/1: Disconnected (after 5ms in state UP)";

    #[test]
    fn the_cause_is_read_from_the_code_or_the_text() {
        use RDKafkaErrorCode::*;
        assert_eq!(Cause::of(Some(SSL), TLS), Some(Cause::Tls));
        assert_eq!(Cause::of(None, TLS), Some(Cause::Tls));
        assert_eq!(
            Cause::of(Some(Authentication), SCRAM),
            Some(Cause::Authentication)
        );
        // sasl_ssl:// in the broker's name is not SASL's failure.
        let tls_under_sasl = TLS.replace("ssl://", "sasl_ssl://");
        assert_eq!(Cause::of(None, &tls_under_sasl), Some(Cause::Tls));
        let refused = REFUSED.replace("127.0.0.1:1/", "sasl_ssl://127.0.0.1:1/");
        assert_eq!(
            Cause::of(Some(BrokerTransportFailure), &refused),
            Some(Cause::Refused)
        );
        assert_eq!(
            Cause::of(
                Some(Resolve),
                "nowhere:9092/bootstrap: Failed to resolve 'nowhere:9092': Name or service not known"
            ),
            Some(Cause::Resolve)
        );
        assert_eq!(
            Cause::of(
                Some(BrokerTransportFailure),
                "127.0.0.1:9093/bootstrap: Disconnected while requesting ApiVersion: might be \
                 caused by incorrect security.protocol configuration (connecting to a SSL \
                 listener?)"
            ),
            Some(Cause::Tls)
        );
        assert_eq!(
            Cause::of(Some(BrokerTransportFailure), CLOSED),
            Some(Cause::Transport)
        );
        assert_eq!(Cause::of(Some(AllBrokersDown), DOWN), None);
        assert_eq!(
            Cause::of(None, CLOSED),
            None,
            "a log line needs FAIL or a cause"
        );
        assert!(Cause::Tls.is_security() && Cause::Authentication.is_security());
        assert!(!Cause::Refused.is_security() && !Cause::Unknown.is_security());
    }

    #[test]
    fn the_most_telling_report_wins_and_the_latest_of_equals() {
        use RDKafkaErrorCode::*;
        assert_eq!(reported(&[]), None);
        // "All brokers down" after the handshake failure says nothing more.
        let thrd = format!("[thrd:ssl://127.0.0.1:9093/bootstrap]: {TLS}");
        let got = reported(&[
            (None, &thrd),
            (Some(SSL), TLS),
            (Some(AllBrokersDown), DOWN),
            (Some(BrokerTransportFailure), CLOSED),
        ]);
        assert_eq!(got, Some((Cause::Tls, TLS.to_string())));
        let got = reported(&[
            (Some(Authentication), SCRAM),
            (Some(BrokerTransportFailure), CLOSED),
        ]);
        assert_eq!(got, Some((Cause::Authentication, SCRAM.to_string())));
        let later = REFUSED.replace("0ms", "7ms");
        let got = reported(&[
            (Some(BrokerTransportFailure), REFUSED),
            (Some(BrokerTransportFailure), &later),
        ]);
        assert_eq!(got, Some((Cause::Refused, later)));
        assert_eq!(reported(&[(Some(AllBrokersDown), DOWN)]), None);

        // Of the last minutes only: an old failure says nothing of one now.
        let c = BrokerErrors::quiet();
        c.error(KafkaError::Global(SSL), TLS);
        std::thread::sleep(Duration::from_millis(20));
        c.error(KafkaError::Global(BrokerTransportFailure), CLOSED);
        let recent = c.most_telling_within(Some(Duration::from_millis(10)));
        assert_eq!(recent, Some((Cause::Transport, CLOSED.to_string())));
        let all = c.most_telling_within(Some(Duration::from_secs(60)));
        assert_eq!(all, Some((Cause::Tls, TLS.to_string())));
    }

    #[test]
    fn only_the_last_few_are_kept_and_configuration_warnings_are_not() {
        let c = BrokerErrors::quiet();
        c.log(RDKafkaLogLevel::Warning, "FAIL", TLS);
        for i in 0..BrokerErrors::KEEP {
            c.error(
                KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
                &format!("{CLOSED} {i}"),
            );
        }
        assert_eq!(
            c.most_telling().map(|(cause, _)| cause),
            Some(Cause::Transport)
        );

        let c = BrokerErrors::quiet();
        c.log(
            RDKafkaLogLevel::Warning,
            "CONFWARN",
            "Configuration property `sasl.mechanism` set to `PLAIN` but `security.protocol` \
             is not configured for SASL",
        );
        c.log(RDKafkaLogLevel::Debug, "FAIL", TLS);
        c.log(RDKafkaLogLevel::Notice, "BROKER", TLS);
        assert_eq!(c.most_telling(), None);
        // A broker's failure at info level counts: librdkafka logs a connection closed
        // there, and sometimes says why.
        let plaintext_to_tls = "127.0.0.1:9093/bootstrap: Disconnected while requesting \
            ApiVersion: might be caused by incorrect security.protocol configuration \
            (connecting to a SSL listener?) or broker version is < 0.10";
        c.log(RDKafkaLogLevel::Info, "FAIL", plaintext_to_tls);
        c.log(RDKafkaLogLevel::Info, "FAIL", CLOSED);
        let want = Some((Cause::Tls, plaintext_to_tls.to_string()));
        assert_eq!(c.most_telling(), want);
    }

    /// A real client: nothing listens on the port, and the reason reaches the context.
    #[test]
    fn a_refused_connection_is_reported() {
        use rdkafka::consumer::Consumer;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let settings = crate::KafkaSettings::new(format!("127.0.0.1:{port}"));
        let client: BaseConsumer<BrokerErrors> = settings
            .client_config()
            .create_with_context(BrokerErrors::quiet())
            .unwrap();
        assert!(client.fetch_metadata(None, Duration::from_secs(1)).is_err());
        drain(&client);
        let (cause, text) = client.context().most_telling().expect("a report");
        assert_eq!(cause, Cause::Refused, "{text}");
        assert!(text.contains("Connection refused"), "{text}");
    }
}
