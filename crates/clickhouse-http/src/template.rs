//! The `.sql` files' only template features: `{{name}}` placeholders and whole-line
//! `-- @if feature` / `-- @else` / `-- @endif` blocks (not nested).

use std::collections::BTreeMap;

pub fn render(
    name: &str,
    source: &str,
    values: &BTreeMap<&str, String>,
    features: &dyn Fn(&str) -> Option<bool>,
) -> Result<String, String> {
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
        let key = &rest[start + 2..start + end];
        let value = values
            .get(key)
            .ok_or_else(|| format!("{name}: no value for {{{{{key}}}}}"))?;
        rendered.push_str(value);
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
    fn renders_blocks_and_values() {
        let values = BTreeMap::from([("db", "d1".to_string())]);
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
