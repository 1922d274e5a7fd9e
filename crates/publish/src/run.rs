//! The generator loop: paces events into the publisher until a limit or a stop request.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

use generate::{Event, EventTime, Generator, Message, Topic};

use crate::producer::TopicLedger;
use crate::{Publisher, Result};

/// Topic index of each event kind in the publisher: sales first, warehouse second.
pub const SALES: usize = 0;
pub const WAREHOUSE: usize = 1;

fn index(topic: Topic) -> usize {
    match topic {
        Topic::Sales => SALES,
        Topic::Warehouse => WAREHOUSE,
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// Messages per second; `0` = as fast as the broker takes them.
    pub rate: f64,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub elapsed: Duration,
    /// Per topic, in the publisher's order.
    pub topics: Vec<(String, TopicLedger)>,
    /// True when a stop request ended the run before its limit.
    pub interrupted: bool,
}

impl RunSummary {
    pub fn failures(&self) -> u64 {
        self.topics
            .iter()
            .map(|(_, l)| l.failed + l.in_flight)
            .sum()
    }
}

/// "Now" as the contract's local time string, recomputed only when the second changes.
struct Clock {
    second: u64,
    time: EventTime,
}

impl Clock {
    fn now(&mut self) -> EventTime {
        let s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if s != self.second {
            self.second = s;
            self.time = EventTime::from_naive(chrono::Local::now().naive_local());
        }
        self.time
    }
}

/// Runs until `limits` are reached or `stop` is cancelled, then flushes what is in flight.
/// `progress` is called now and then with the number of messages queued so far.
/// `count` and `rate` count messages: events and the generator's bad messages alike.
pub fn run(
    generator: &mut Generator,
    publisher: &Publisher,
    limits: &RunLimits,
    stop: &CancellationToken,
    progress: &mut dyn FnMut(u64),
) -> Result<RunSummary> {
    let started = Instant::now();
    let mut clock = Clock {
        second: 0,
        time: EventTime(*b"1970-01-01 00:00:00"),
    };
    let mut buf = Vec::with_capacity(512);
    let mut key = itoa_buf();
    let mut sent: u64 = 0;
    let mut refused: u64 = 0;
    let mut interrupted = false;
    let mut last_progress = Instant::now();
    loop {
        if limits.count.is_some_and(|n| sent >= n) {
            break;
        }
        if limits.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if stop.is_cancelled() {
            interrupted = true;
            break;
        }
        if limits.rate > 0.0 {
            // Event i is due at i / rate seconds after the start.
            let due = Duration::from_secs_f64(sent as f64 / limits.rate);
            let now = started.elapsed();
            if now < due {
                std::thread::sleep((due - now).min(Duration::from_millis(50)));
                continue;
            }
        }
        let sent_one = match generator.next_message(clock.now()) {
            Message::Event(event) => {
                buf.clear();
                event.write_json(&mut buf);
                let (quantity, cents) = match &event {
                    Event::Sale(s) => (s.quantity as i64, s.total.0),
                    Event::StockMovement(m) => (m.quantity as i64, 0),
                };
                let key = format_u32(&mut key, event.product_id());
                publisher.send_unless(stop, index(event.topic()), key, &buf, quantity, cents)
            }
            Message::Bad(bad) => {
                let key = format_u32(&mut key, bad.product_id);
                publisher.send_bad_unless(stop, index(bad.topic), key, &bad.payload)
            }
        };
        if let Err(e) = sent_one {
            refused += 1;
            if refused <= 10 {
                tracing::error!(error = %e, "the Kafka client refused a message; it is counted as failed");
            }
        }
        sent += 1;
        if last_progress.elapsed() >= Duration::from_millis(100) {
            progress(sent);
            last_progress = Instant::now();
        }
    }
    progress(sent);
    if let Err(e) = publisher.flush(Duration::from_secs(60)) {
        tracing::error!(error = %e, in_flight = publisher.in_flight(),
            "not every event was confirmed before the flush timed out");
    }
    let topics = publisher
        .topic_names()
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), publisher.counters(i).ledger()))
        .collect();
    Ok(RunSummary {
        elapsed: started.elapsed(),
        topics,
        interrupted,
    })
}

fn itoa_buf() -> [u8; 10] {
    [0; 10]
}

/// Writes `n` in decimal into `buf` without allocating.
fn format_u32(buf: &mut [u8; 10], mut n: u32) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_keys() {
        let mut b = super::itoa_buf();
        assert_eq!(super::format_u32(&mut b, 0), b"0");
        assert_eq!(super::format_u32(&mut b, 50), b"50");
        assert_eq!(super::format_u32(&mut b, u32::MAX), b"4294967295");
    }
}
