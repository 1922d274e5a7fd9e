//! A deliberately small ClickHouse client over HTTP.
//!
//! Why not the official crate: it needs `with_validation(false)` and server-side parameters
//! that 18.16 lacks. Everything here is plain SQL over the HTTP interface, which every
//! version since 2016 speaks. Values are never spliced into SQL from user input: callers pass
//! identifiers checked by [`ident`] and literals quoted by [`quote`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

pub mod template;
mod version;
pub use version::ServerVersion;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ClickHouse at {url} is unreachable: {}", causes(.source))]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("ClickHouse answered HTTP {status}: {message}")]
    Server {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    #[error("cannot read ClickHouse's answer: {0}")]
    Decode(String),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The server's own error code (e.g. 60 = unknown table), when it sent one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Error::Server { code, .. } => *code,
            _ => None,
        }
    }
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An error and its causes on one line: reqwest's own text ("error sending request for
/// url …") does not say whether the connection was refused, reset or closed.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    user: Option<String>,
    password: Option<String>,
    database: String,
    settings: Vec<(String, String)>,
    /// Each request's query_id is this prefix and a number (statements run side by side
    /// cannot share one id).
    query_ids: Option<Arc<(String, AtomicU64)>>,
}

// The password never reaches a log line.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish()
    }
}

impl Client {
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(60))
            // Below the server's keep_alive_timeout (3 s by default, on 18.16 and current):
            // a request written to a connection the server is closing fails as unreachable.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("a plain HTTP client always builds");
        Client {
            http,
            url: url.trim_end_matches('/').to_string(),
            user: None,
            password: None,
            database: "default".into(),
            settings: Vec::new(),
            query_ids: None,
        }
    }

    pub fn with_user(mut self, user: Option<String>, password: Option<String>) -> Self {
        self.user = user.filter(|u| !u.is_empty());
        self.password = password;
        self
    }

    pub fn with_database(mut self, database: &str) -> Self {
        self.database = database.to_string();
        self
    }

    /// A setting sent with every query of this client (e.g. `readonly`).
    /// Names every request `<prefix><n>` (n = 1, 2, …, shared by clones), to find its
    /// statements in `system.query_log`.
    pub fn with_query_id_prefix(mut self, prefix: &str) -> Self {
        self.query_ids = Some(Arc::new((prefix.to_string(), AtomicU64::new(0))));
        self
    }

    pub fn with_setting(mut self, name: &str, value: impl ToString) -> Self {
        self.settings.retain(|(n, _)| n != name);
        self.settings.push((name.to_string(), value.to_string()));
        self
    }

    async fn post(&self, sql: &str) -> Result<String> {
        self.post_with(sql, &[]).await
    }

    async fn post_with(&self, sql: &str, extra: &[(&str, &str)]) -> Result<String> {
        self.send(None, sql.as_bytes().to_vec(), extra).await
    }

    /// `INSERT … FORMAT X` in the URL, the data as the body: bytes go through untouched.
    /// The statement's trailing newline (a `.sql` file's last line) is cut: the server reads
    /// the URL and the body as one text, so it would be an empty first row.
    pub async fn insert(&self, insert: &str, data: Vec<u8>) -> Result<()> {
        self.send(Some(insert.trim_end()), data, &[])
            .await
            .map(drop)
    }

    async fn send(
        &self,
        query: Option<&str>,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<String> {
        let sql = query.unwrap_or("");
        let mut req = self
            .http
            .post(&self.url)
            .query(&[("database", self.database.as_str())]);
        if let Some(q) = query {
            req = req.query(&[("query", q)]);
        }
        for (name, value) in &self.settings {
            req = req.query(&[(name.as_str(), value.as_str())]);
        }
        req = req.query(extra);
        if let Some(ids) = &self.query_ids {
            let n = ids.1.fetch_add(1, Ordering::Relaxed) + 1;
            req = req.query(&[("query_id", format!("{}{n}", ids.0))]);
        }
        if let Some(user) = &self.user {
            req = req.basic_auth(user, self.password.as_deref());
        }
        tracing::trace!(sql, "clickhouse query");
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|source| Error::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| Error::Unreachable {
            url: self.url.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(server_error(status.as_u16(), &text));
        }
        Ok(text)
    }

    /// Runs a statement that returns nothing (DDL, INSERT … SELECT).
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.post(sql).await.map(drop)
    }

    /// Runs a SELECT and decodes each row (`FORMAT JSONEachRow` is appended).
    pub async fn query<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>> {
        let sql = format!(
            "{}\nFORMAT JSONEachRow",
            sql.trim_end().trim_end_matches(';')
        );
        // 64-bit integers as JSON numbers, not strings; a URL setting every version takes.
        let extra = [("output_format_json_quote_64bit_integers", "0")];
        let text = match self.post_with(&sql, &extra).await {
            // A read may be sent again: once, when the request failed in transport (a pooled
            // connection closed under it), not when it timed out or nothing listens.
            Err(Error::Unreachable { source, .. })
                if !source.is_timeout() && !source.is_connect() =>
            {
                tracing::debug!(error = %causes(&source), "clickhouse read failed in transport; sent again");
                self.post_with(&sql, &extra).await?
            }
            other => other?,
        };
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| Error::Decode(format!("{e} in row {l}"))))
            .collect()
    }

    /// The first row of a SELECT, or an error if there is none.
    pub async fn query_one<T: DeserializeOwned>(&self, sql: &str) -> Result<T> {
        self.query(sql)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Decode("the query returned no row".into()))
    }

    pub async fn ping(&self) -> Result<()> {
        let resp = self
            .http
            .get(format!("{}/ping", self.url))
            .send()
            .await
            .map_err(|source| Error::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(server_error(
                resp.status().as_u16(),
                &resp.text().await.unwrap_or_default(),
            ))
        }
    }

    pub async fn version(&self) -> Result<ServerVersion> {
        #[derive(serde::Deserialize)]
        struct Row {
            v: String,
        }
        let row: Row = self.query_one("SELECT version() AS v").await?;
        row.v.parse().map_err(Error::Decode)
    }
}

fn server_error(status: u16, text: &str) -> Error {
    // "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = …"
    let code = text
        .strip_prefix("Code: ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok());
    let message = text.trim().chars().take(2000).collect();
    Error::Server {
        status,
        code,
        message,
    }
}

/// Checks that `name` is a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`), the only kind this
/// project ever puts into SQL for database, table and topic names.
pub fn ident(name: &str) -> Result<&str> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128;
    if ok {
        Ok(name)
    } else {
        Err(Error::Invalid(format!(
            "{name:?} is not a plain identifier (letters, digits and _, not starting with a digit)"
        )))
    }
}

/// A single-quoted SQL string literal with `\` and `'` escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(ident("sales_2").is_ok());
        assert!(ident("_x").is_ok());
        for bad in ["", "1a", "a-b", "a b", "a;drop", "ы", "a`"] {
            assert!(ident(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote("it's"), r"'it\'s'");
        assert_eq!(quote(r"a\'b"), r"'a\\\'b'");
    }

    #[test]
    fn server_errors_keep_the_code() {
        let e = server_error(
            404,
            "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist",
        );
        assert_eq!(e.code(), Some(60));
    }
}
