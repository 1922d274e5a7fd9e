//! The schema crate's integration tests, one binary: `apply` against the real ClickHouse
//! that `scripts/test` starts, `modern_ddl` in chDB (current ClickHouse, in process).

mod apply;
mod modern_ddl;
