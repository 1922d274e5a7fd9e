//! The `.sql` files' only template features: `{{name}}` placeholders, each filled by a typed
//! [`Value`] that writes itself for where it goes, and whole-line `-- @if feature` /
//! `-- @else` / `-- @endif` blocks (not nested; used only for the queries' cluster variant).

use std::collections::BTreeMap;
use std::marker::PhantomData;

/// A `.sql` file and the row it returns, declared together with
/// [`statement!`](crate::statement) so a column added to the file has one Rust place to go.
pub struct Statement<Row> {
    /// The file's path under its crate's `sql/`, without `.sql`: named in errors.
    pub name: &'static str,
    pub text: &'static str,
    row: PhantomData<fn() -> Row>,
}

impl<Row> Statement<Row> {
    pub const fn new(name: &'static str, text: &'static str) -> Self {
        Statement {
            name,
            text,
            row: PhantomData,
        }
    }
}

/// Declares a statement: a constant [`Statement`] for the calling crate's `sql/<file>.sql`
/// and the row it returns, either a type declared elsewhere or a struct declared here.
///
/// ```ignore
/// statement!(pub(crate) CUSTOMERS = "customers" => CustomersRow { current: u8, customers: u64 });
/// statement!(pub(crate) RECENT_SALES = "recent_sales" => RecentSale);
/// ```
#[macro_export]
macro_rules! statement {
    (
        $vis:vis $name:ident = $file:literal => $row:ident { $($field:ident: $ty:ty),* $(,)? }
    ) => {
        #[derive(serde::Deserialize)]
        $vis struct $row { $(pub $field: $ty),* }
        $crate::statement!($vis $name = $file => $row);
    };
    ($vis:vis $name:ident = $file:literal => $row:ty) => {
        $vis const $name: $crate::template::Statement<$row> = $crate::template::Statement::new(
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/", $file, ".sql")),
        );
    };
}

/// What a `{{name}}` placeholder is filled with. Each kind writes itself: an identifier as
/// is (it was checked), a string as a quoted literal, a number as digits, SQL this program
/// built as is. `{{name:string}}` writes an identifier as a string literal, for the places
/// SQL names a database or table by value (`system.tables WHERE database = {{db:string}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Ident(String),
    Str(String),
    Int(i128),
    Sql(String),
}

impl Value {
    /// A database, table or cluster name: letters, digits and `_`, not starting with a digit.
    pub fn ident(name: &str) -> Result<Value, String> {
        crate::ident(name)
            .map(|n| Value::Ident(n.to_string()))
            .map_err(|e| e.to_string())
    }

    fn write(&self, name: &str, key: &str, as_string: bool) -> Result<String, String> {
        Ok(match (self, as_string) {
            (Value::Ident(s), false) | (Value::Sql(s), false) => s.clone(),
            (Value::Ident(s), true) | (Value::Str(s), _) => crate::quote(s),
            (Value::Int(n), false) => n.to_string(),
            (Value::Int(_), true) | (Value::Sql(_), true) => {
                return Err(format!(
                    "{name}: {{{{{key}:string}}}} takes a name or a string"
                ))
            }
        })
    }
}

/// The values a file is rendered with. A name that is not a plain identifier is kept as an
/// error, and rendering with it fails.
#[derive(Debug, Clone, Default)]
pub struct Values {
    values: BTreeMap<&'static str, Value>,
    errors: Vec<String>,
}

impl Values {
    pub fn new() -> Self {
        Values::default()
    }

    /// A checked identifier (see [`Value::ident`]).
    pub fn ident(mut self, key: &'static str, name: &str) -> Self {
        match Value::ident(name) {
            Ok(v) => {
                self.values.insert(key, v);
            }
            Err(e) => self.errors.push(format!("{key}: {e}")),
        }
        self
    }

    pub fn string(mut self, key: &'static str, s: impl Into<String>) -> Self {
        self.values.insert(key, Value::Str(s.into()));
        self
    }

    pub fn int(mut self, key: &'static str, n: impl Into<i128>) -> Self {
        self.values.insert(key, Value::Int(n.into()));
        self
    }

    /// SQL this program built (a rendered fragment, a VALUES list): written as is.
    pub fn sql(mut self, key: &'static str, sql: impl Into<String>) -> Self {
        self.values.insert(key, Value::Sql(sql.into()));
        self
    }

    /// `other`'s values over these.
    pub fn extend(&mut self, other: Values) {
        self.values.extend(other.values);
        self.errors.extend(other.errors);
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The first name that was not a plain identifier.
    pub fn check(&self) -> Result<(), String> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

pub fn render(
    name: &str,
    source: &str,
    values: &Values,
    features: &dyn Fn(&str) -> Option<bool>,
) -> Result<String, String> {
    values.check().map_err(|e| format!("{name}: {e}"))?;
    let mut out = String::with_capacity(source.len());
    // None: outside a block; Some(on): inside one, keeping lines while `on`.
    let mut block: Option<bool> = None;
    for (n, line) in source.lines().enumerate() {
        let directive = line.trim();
        if let Some(feature) = directive.strip_prefix("-- @if ") {
            let on = features(feature.trim())
                .ok_or_else(|| format!("{name}:{}: unknown feature {feature:?}", n + 1))?;
            if block.is_some() {
                return Err(format!("{name}:{}: nested @if", n + 1));
            }
            block = Some(on);
        } else if directive == "-- @else" {
            block = Some(!block.ok_or_else(|| format!("{name}:{}: @else outside @if", n + 1))?);
        } else if directive == "-- @endif" {
            block
                .take()
                .ok_or_else(|| format!("{name}:{}: @endif outside @if", n + 1))?;
        } else if block.unwrap_or(true) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if block.is_some() {
        return Err(format!("{name}: @if without @endif"));
    }
    let mut rendered = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find("{{") {
        rendered.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("{name}: unclosed {{{{"))?;
        let placeholder = &rest[start + 2..start + end];
        let (key, as_string) = match placeholder.strip_suffix(":string") {
            Some(key) => (key, true),
            None => (placeholder, false),
        };
        let value = values
            .get(key)
            .ok_or_else(|| format!("{name}: no value for {{{{{key}}}}}"))?;
        rendered.push_str(&value.write(name, key, as_string)?);
        rest = &rest[start + end + 2..];
    }
    rendered.push_str(rest);
    Ok(rendered)
}

/// Splits a rendered file into statements at lines ending with `;`, dropping comment-only
/// statements.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        current.push_str(line);
        current.push('\n');
        if !line.trim_start().starts_with("--") && line.trim_end().ends_with(';') {
            push_statement(&mut out, &current);
            current.clear();
        }
    }
    push_statement(&mut out, &current);
    out
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.trim().trim_end_matches(';').trim();
    if !code.is_empty() {
        out.push(code.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(f: &str) -> Option<bool> {
        match f {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        }
    }

    #[test]
    fn values_write_themselves() {
        let v = Values::new()
            .ident("db", "shop")
            .string("topic", "it's")
            .int("n", -3)
            .sql("rows", "(1, 2)");
        let out = render(
            "t",
            "{{db}}.t {{db:string}} {{topic}} {{n}} {{rows}} {{topic:string}}",
            &v,
            &features,
        )
        .unwrap();
        assert_eq!(out, "shop.t 'shop' 'it\\'s' -3 (1, 2) 'it\\'s'\n");
        let bad = Values::new().ident("db", "x; DROP");
        assert!(render("t", "{{db}}", &bad, &features).is_err());
        assert!(render("t", "{{n:string}}", &v, &features).is_err());
    }

    #[test]
    fn renders_blocks_and_values() {
        let values = Values::new().ident("db", "d1");
        let src = "a {{db}}\n-- @if on\nb\n-- @else\nc\n-- @endif\n-- @if off\nd\n-- @endif\ne;\n";
        assert_eq!(
            render("t", src, &values, &features).unwrap(),
            "a d1\nb\ne;\n"
        );
        assert!(render("t", "{{nope}}", &values, &features).is_err());
        assert!(render("t", "-- @if what\n-- @endif\n", &values, &features).is_err());
        assert!(render("t", "-- @if on\n", &values, &features).is_err());
    }

    #[test]
    fn splits_statements() {
        let s = statements("-- c\nCREATE x;\n\n-- only a comment;\nALTER y\n  z;\n");
        assert_eq!(s, vec!["CREATE x".to_string(), "ALTER y\n  z".to_string()]);
    }
}
