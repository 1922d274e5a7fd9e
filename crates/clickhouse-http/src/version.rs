use std::fmt;
use std::str::FromStr;

/// A ClickHouse server version, compared by (major, minor, patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ServerVersion {
            major,
            minor,
            patch,
        }
    }
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl FromStr for ServerVersion {
    type Err = String;
    /// Accepts `18.16.1`, `25.8.3.66` and `25.8`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.trim().split('.').map(|p| p.parse::<u32>());
        let bad = || format!("{s:?} is not a ClickHouse version like 25.8 or 18.16.1");
        let major = parts.next().and_then(|p| p.ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.ok()).ok_or_else(bad)?;
        let patch = match parts.next() {
            Some(p) => p.map_err(|_| bad())?,
            None => 0,
        };
        Ok(ServerVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let old: ServerVersion = "18.16.1".parse().unwrap();
        let new: ServerVersion = "25.8.3.66".parse().unwrap();
        assert!(old < new);
        assert!(new.at_least(25, 8));
        assert!(!old.at_least(19, 14));
        assert_eq!(
            "25.8".parse::<ServerVersion>().unwrap(),
            ServerVersion::new(25, 8, 0)
        );
        assert!("x.1".parse::<ServerVersion>().is_err());
    }
}
