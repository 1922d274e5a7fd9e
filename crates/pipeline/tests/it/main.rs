//! The pipeline's integration tests, one binary (one link instead of one per file): each
//! module is one area, run against the real broker and ClickHouse that `scripts/test`
//! starts. Run one area with `cargo test -p pipeline --test it it:: <module>::`.

mod common;

mod active_group;
mod api;
mod audit;
mod bad_messages;
mod bench;
mod cluster;
mod compose;
mod dashboard_browser;
mod dead_letters;
mod default_path;
mod docs;
mod doctor;
mod end_to_end;
mod faults;
mod modern_flow;
mod options;
mod outages;
mod prometheus;
mod reliability;
mod serve_auth;
mod signals;
mod tiers;
mod tls;
mod topic_replication;
mod viewers;
