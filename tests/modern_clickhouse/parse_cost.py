#!/usr/bin/env python3
"""What parsing costs on current ClickHouse, per core: a figure, not a check.

Usage: pipeline schema print --for-version 25.8 | python3 parse_cost.py MESSAGES

MESSAGES: sales messages as produced, one per line (BENCHMARKS.md says how the figures there
were made: `pipeline generate` into a topic that an 18.16 Kafka table read into a table, then
`SELECT raw … FORMAT TSVRaw`). Prints, best of 5 with max_threads=1 in chDB: the `SELECT` of
`sales_parse_mv` (the message whole, type-checked JSON functions, the contract's rules) and,
for scale, JSONEachRow into typed columns (what the Kafka tables read before; it converts
types silently) and reading the lines alone.
"""

import sys
import time

from check_ddl import split_statements


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    from chdb import session as chdb_session
    path = argv[1]
    view = [s for s in split_statements(sys.stdin.read()) if ".sales_parse_mv " in s]
    if not view:
        print("no sales_parse_mv in the DDL (render it for a current version)")
        return 2
    select = view[0][view[0].index(" AS\n") + 4:]
    db = select.split("FROM ")[-1].split(".")[0].strip()
    s = chdb_session.Session()
    s.query(f"CREATE DATABASE IF NOT EXISTS {db}")
    s.query(f"""CREATE TABLE {db}.sales_kafka (raw String, _topic LowCardinality(String),
        _offset UInt64, _partition UInt64, _timestamp_ms Nullable(DateTime64(3)), _key String,
        _error String, _raw_message String) ENGINE = Memory""")
    s.query(f"INSERT INTO {db}.sales_kafka (raw, _topic) SELECT line, 'sales' "
            f"FROM file('{path}', LineAsString, 'line String')")
    n = int(str(s.query(f"SELECT count() FROM {db}.sales_kafka", "TSV")).strip())

    def best(sql):
        t = 1e9
        for _ in range(5):
            a = time.time()
            s.query(sql + " FORMAT Null SETTINGS max_threads=1")
            t = min(t, time.time() - a)
        return t

    typed = ("event_id Nullable(String), event_type Nullable(String), event_time "
             "Nullable(String), product_id Nullable(Int64), product_name Nullable(String), "
             "category Nullable(String), quantity Nullable(Int64), price Nullable(Float64), "
             "discount Nullable(Float64), total Nullable(Float64), store_id Nullable(Int64), "
             "cashier_id Nullable(Int64), customer_id Nullable(String)")
    for label, sql in [
        ("sales_parse_mv's SELECT", select),
        ("JSONEachRow into typed columns", f"SELECT * FROM file('{path}', JSONEachRow, '{typed}')"),
        ("the lines alone", f"SELECT * FROM file('{path}', LineAsString, 'line String')"),
    ]:
        t = best(sql)
        print(f"{label}: {t:.3f} s for {n:,} messages = {n / t:,.0f} messages/s per core")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
