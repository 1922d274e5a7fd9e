//! Running the real `pipeline` binary against a test's own database and topics.

#![allow(dead_code)]

use std::process::{Command, Output};

use testkit::TestEnv;

pub fn pipeline(env: &TestEnv, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(env.pipeline_args())
        .args(args)
        .env("PIPELINE_LOG", "warn")
        .output()
        .expect("the pipeline binary runs");
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs and asserts success, returning stdout.
pub fn pipeline_ok(env: &TestEnv, args: &[&str]) -> String {
    let out = pipeline(env, args);
    assert!(
        out.status.success(),
        "pipeline {args:?} failed ({}):\n{}\n{}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}
