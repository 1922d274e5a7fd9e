use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The only time ranges the API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Range {
    M15,
    #[default]
    H1,
    H24,
    D7,
}

/// A range resolved against "now": `[from, to]` in whole buckets, and the period before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: u32,
    pub to: u32,
    pub previous_from: u32,
    pub bucket: u32,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::M15, Range::H1, Range::H24, Range::D7];

    pub fn as_str(self) -> &'static str {
        match self {
            Range::M15 => "15m",
            Range::H1 => "1h",
            Range::H24 => "24h",
            Range::D7 => "7d",
        }
    }

    pub fn seconds(self) -> u32 {
        match self {
            Range::M15 => 900,
            Range::H1 => 3600,
            Range::H24 => 86_400,
            Range::D7 => 604_800,
        }
    }

    /// Minutes for the short ranges; hours for 24 h and 7 days, which read sealed hours
    /// (a per-minute chart would show each sealed hour as one spike at its first minute).
    pub fn bucket_seconds(self) -> u32 {
        match self {
            Range::H24 | Range::D7 => 3600,
            Range::M15 | Range::H1 => 60,
        }
    }

    /// The last `seconds()` up to and including the current minute.
    pub fn window(self, now: u32) -> Window {
        let current_minute = now - now % 60;
        let from = current_minute + 60 - self.seconds();
        Window {
            from,
            to: current_minute,
            previous_from: from - self.seconds(),
            bucket: self.bucket_seconds(),
        }
    }
}

impl FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Range::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("range must be one of 15m, 1h, 24h, 7d (got {s:?})"))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Range {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_the_fixed_list() {
        assert_eq!("24h".parse::<Range>().unwrap(), Range::H24);
        for bad in ["", "1H", "2h", "1h;", "' OR 1=1", "15m "] {
            assert!(bad.parse::<Range>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn windows_cover_whole_minutes() {
        let now = 1_764_000_030;
        let w = Range::M15.window(now);
        assert_eq!(w.to, 1_764_000_000);
        assert_eq!(w.from, 1_764_000_000 - 14 * 60);
        assert_eq!(w.previous_from, w.from - 900);
        assert_eq!(Range::D7.window(now).bucket, 3600);
        assert_eq!(Range::H24.window(now).bucket, 3600);
        assert_eq!(Range::H1.window(now).bucket, 60);
    }
}
