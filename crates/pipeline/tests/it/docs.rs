//! The docs stand alone and stay true: every link and every repository path they name
//! exists inside the repository (a user who clones it has nothing beside it), and the
//! Russian README keeps the English one's two commands and its table of commands.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md, README.ru.md, ARCHITECTURE.md, BENCHMARKS.md and docs/*.md.
fn docs() -> Vec<(String, String)> {
    let root = repo();
    let mut files: Vec<PathBuf> = [
        "README.md",
        "README.ru.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    for e in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            (name, text)
        })
        .collect()
}

/// Markdown link targets: `](target)`.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// Repository paths named in backticks: `docs/x.md`, `crates/…`, `scripts/…`, `tests/…`.
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            ["docs/", "crates/", "scripts/", "tests/", "deploy/"]
                .iter()
                .any(|p| s.starts_with(p))
                && !s.contains(char::is_whitespace)
                && !s.contains(['*', '<', '{', '…'])
        })
        .map(|s| s.trim_end_matches([':', ',', '.']).to_string())
        .collect()
}

#[test]
fn every_link_and_named_path_is_inside_the_repository() {
    let root = repo();
    let mut bad = Vec::new();
    for (name, text) in docs() {
        if text.contains("../shared") {
            bad.push(format!(
                "{name}: mentions ../shared, which a clone does not have"
            ));
        }
        let dir = root.join(&name).parent().unwrap().to_path_buf();
        for link in links(&text) {
            if link.starts_with('#') || link.is_empty() {
                continue;
            }
            if link.contains("://") || link.starts_with("mailto:") {
                bad.push(format!("{name}: links outside the repository: {link}"));
                continue;
            }
            let target = dir.join(link.split('#').next().unwrap());
            let inside = target
                .canonicalize()
                .is_ok_and(|t| t.starts_with(root.canonicalize().unwrap()));
            if !inside {
                bad.push(format!(
                    "{name}: the link {link} is to nothing in the repository"
                ));
            }
        }
        for path in named_paths(&text) {
            // A path with a line (`file.rs:268`) or a test filter names the file before it.
            let file = path.split(':').next().unwrap();
            if !root.join(file).exists() {
                bad.push(format!("{name}: names {path}, which does not exist"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_russian_readme_keeps_the_two_commands_and_every_command() {
    let read = |f: &str| std::fs::read_to_string(repo().join(f)).unwrap();
    let (en, ru) = (read("README.md"), read("README.ru.md"));
    assert!(
        en.contains("README.ru.md"),
        "README.md links the Russian one"
    );
    for command in ["bash scripts/run", "bash scripts/test"] {
        assert!(
            en.contains(command) && ru.contains(command),
            "{command} in both"
        );
    }
    // The first word after `pipeline ` in each row of README.md's table of commands.
    let commands: Vec<&str> = en
        .lines()
        .filter(|l| l.starts_with("| `pipeline "))
        .filter_map(|l| l["| `pipeline ".len()..].split([' ', '`']).next())
        .collect();
    assert!(
        commands.len() >= 7,
        "README.md's table of commands: {commands:?}"
    );
    for c in commands {
        assert!(
            ru.contains(&format!("| `pipeline {c}")),
            "README.ru.md's table lacks `pipeline {c}`"
        );
    }
}
