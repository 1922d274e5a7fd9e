//! What the 18.16 dialect needs from the server itself. Servers without the error stream
//! mode (before 21.7) get Kafka tables that read each message as one raw CSV line
//! (`sql/parse/*_raw.sql`): that works only if the profile the Kafka engine runs with (the
//! server's `<default_profile>`, `default` unless the server's config names another) splits
//! on a byte JSON text hardly ever holds (DEL) and does no quoting. A server with ClickHouse's
//! defaults there accepts the schema and then lands nothing: every block fails to parse in
//! the server's log only. So `schema apply`, `doctor` and `up` check it first.
//! Current servers read messages whole (RawBLOB) and need nothing of the kind.

use clickhouse_http::Client;
use serde::Deserialize;

use reconcile::{Error, Result};

/// The profile the Kafka engine runs with when the server's config does not name another.
pub const DEFAULT_ENGINE_PROFILE: &str = "default";

const READ: &str = include_str!("../sql/server/raw_reader_settings.sql");

/// Each setting: its name, the value `system.settings` must show, and that value as
/// users.xml writes it.
const NEEDED: [(&str, &str, &str); 3] = [
    ("format_csv_allow_double_quotes", "0", "0"),
    ("format_csv_allow_single_quotes", "0", "0"),
    ("format_csv_delimiter", "\u{7f}", "&#127;"),
];

/// A setting of the engine's profile that is not what the raw-line reader needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub name: &'static str,
    pub found: String,
    pub want: &'static str,
}

/// The settings of `profile` that differ from what the raw-line reader needs (empty: all
/// good). Reading another profile's settings means running as that profile, which a
/// readonly user may not: that is an error, not a pass.
pub async fn engine_profile_mismatches(client: &Client, profile: &str) -> Result<Vec<Mismatch>> {
    #[derive(Deserialize)]
    struct Setting {
        name: String,
        value: String,
    }
    let rows: Vec<Setting> = client
        .clone()
        .with_setting("profile", profile)
        .query(READ)
        .await
        .map_err(|e| {
            Error::Other(format!(
                "cannot read the settings of the server's profile {profile:?} (the Kafka \
                 engine's; set --clickhouse-engine-profile to the one <default_profile> names): {e}"
            ))
        })?;
    Ok(NEEDED
        .iter()
        .filter_map(|&(name, want, _)| {
            let found = rows.iter().find(|r| r.name == name).map_or_else(
                || "(not a setting of this server)".into(),
                |r| r.value.clone(),
            );
            (found != want).then_some(Mismatch { name, found, want })
        })
        .collect())
}

/// How a value reads in a message: DEL and other control bytes by their code.
fn shown(v: &str) -> String {
    if v.chars().all(|c| !c.is_control()) {
        format!("{v:?}")
    } else {
        v.chars()
            .map(|c| format!("U+{:04X}", c as u32))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What to tell the user: what is wrong, and the exact XML to add.
pub fn engine_profile_problem(profile: &str, wrong: &[Mismatch]) -> String {
    let found: Vec<String> = wrong
        .iter()
        .map(|m| {
            format!(
                "{} is {} (needs {})",
                m.name,
                shown(&m.found),
                shown(m.want)
            )
        })
        .collect();
    let xml: String = NEEDED
        .iter()
        .map(|(name, _, xml)| format!("            <{name}>{xml}</{name}>\n"))
        .collect();
    format!(
        "this ClickHouse reads Kafka messages as raw CSV lines (servers before 21.7), and the \
         profile its Kafka engine runs with, {profile:?}, is not set up for that: {}. Every \
         block would fail to parse and nothing would land. Add to the server's users.xml \
         (or a file in users.d/) and restart the server:\n\
         <yandex>\n    <profiles>\n        <{profile}>\n{xml}        </{profile}>\n    </profiles>\n</yandex>\n\
         Clients that connect with that profile get these CSV settings too; give their users \
         a profile with the defaults back, as scripts/clickhouse/users.xml.in does with `client`.",
        found.join(", ")
    )
}

/// An error saying what to add unless `profile` suits the raw-line reader.
pub async fn require_engine_profile(client: &Client, profile: &str) -> Result<()> {
    let wrong = engine_profile_mismatches(client, profile).await?;
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(engine_profile_problem(profile, &wrong)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_names_each_wrong_setting_and_gives_the_whole_xml() {
        let wrong = [Mismatch {
            name: "format_csv_delimiter",
            found: ",".into(),
            want: "\u{7f}",
        }];
        let text = engine_profile_problem("default", &wrong);
        assert!(
            text.contains(r#"format_csv_delimiter is "," (needs U+007F)"#),
            "{text}"
        );
        for line in [
            "<format_csv_delimiter>&#127;</format_csv_delimiter>",
            "<format_csv_allow_single_quotes>0</format_csv_allow_single_quotes>",
            "<format_csv_allow_double_quotes>0</format_csv_allow_double_quotes>",
            "<default>",
            "</default>",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
