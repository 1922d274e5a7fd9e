#!/usr/bin/env python3
"""Check that the DDL the project applies on current ClickHouse is valid and behaves.

Usage:
    cargo run -q -p pipeline -- schema print --for-version 25.8 | python3 check_ddl.py
    python3 check_ddl.py ddl.sql

Runs the DDL in chDB (an in-process current ClickHouse; see requirements.txt) in four steps:

  1. parse   every statement, the Kafka tables included (`SELECT formatQuery(...)`);
  2. kafka   each Kafka table's SETTINGS: the real Kafka engine of chDB validates names and
             values (chDB cannot start a consumer: after validation its engine fails with
             "Shutdown was called", which counts as accepted), the four required settings are
             present, and every `kafka_*` name is one ClickHouse already had before 25.8
             (KNOWN_BEFORE_25_8 below), so a setting newer than 25.8 that chDB accepts is
             still caught;
  3. execute every other statement as written in a fresh session, each Kafka table replaced
             by a MergeTree stand-in with the same columns plus the Kafka virtual columns as
             ordinary ones, so the materialized views are created exactly as written;
  4. behave  insert realistic sale and stock-movement rows (with virtual column values) into
             the stand-ins as JSONEachRow, the format the Kafka tables read, and compare every
             column of the target tables with the expected text.

What it cannot check: consumption from a broker (chDB has no working Kafka engine), and the
exact 25.8 server (chDB is a later release; step 2's list guards the settings).

Exit status: 0 all checks passed, 1 a check failed, 2 usage error or chdb not installed.
"""

import decimal
import json
import re
import sys

INSTALL_HINT = (
    "chdb is not installed for this interpreter ({exe}).\n"
    "Install it with: pip install -r tests/modern_clickhouse/requirements.txt\n"
    "(or `pip install chdb-core`; scripts/test installs it as well)."
)

# The Kafka engine's own settings (src/Storages/Kafka/KafkaSettings.cpp, KAFKA_RELATED_SETTINGS,
# as of a ClickHouse 25.x commit before 25.8, plus the obsolete kafka_row_delimiter that is
# still accepted). Settings are only ever added (removed ones stay as obsolete), so each of
# these exists in 25.8. A `kafka_*` setting outside this list may be newer than 25.8: it
# fails the check even when chDB (a later release) accepts it. Format settings (names not
# starting with kafka_) are validated by chDB's engine only.
KNOWN_BEFORE_25_8 = {
    "kafka_broker_list", "kafka_topic_list", "kafka_group_name", "kafka_format",
    "kafka_schema", "kafka_num_consumers", "kafka_max_block_size",
    "kafka_skip_broken_messages", "kafka_commit_every_batch", "kafka_client_id",
    "kafka_poll_timeout_ms", "kafka_poll_max_batch_size", "kafka_consumers_pool_ttl_ms",
    "kafka_flush_interval_ms", "kafka_thread_per_consumer", "kafka_handle_error_mode",
    "kafka_commit_on_select", "kafka_max_rows_per_message", "kafka_keeper_path",
    "kafka_replica_name", "kafka_security_protocol", "kafka_sasl_mechanism",
    "kafka_sasl_username", "kafka_sasl_password", "kafka_row_delimiter",
}
REQUIRED_SETTINGS = ("kafka_broker_list", "kafka_topic_list", "kafka_group_name", "kafka_format")

# The Kafka engine's virtual columns on 25.x, with their types (docs: Kafka table engine).
VIRTUAL_COLUMNS = [
    ("_topic", "LowCardinality(String)"),
    ("_offset", "UInt64"),
    ("_partition", "UInt64"),
    ("_timestamp_ms", "Nullable(DateTime64(3))"),
    ("_key", "String"),
]

SCRATCH_DB = "__check_ddl_kafka"


def money(x):
    return decimal.Decimal(x).quantize(decimal.Decimal("0.01"), decimal.ROUND_HALF_UP)


def sale(event_id, event_time, product_id, quantity, price, discount, store, cashier, customer,
         name, category):
    total = money(decimal.Decimal(price) * quantity * (1 - decimal.Decimal(discount)))
    return {
        "event_id": event_id, "event_type": "sale", "event_time": event_time,
        "product_id": product_id, "product_name": name, "category": category,
        "quantity": quantity, "price": decimal.Decimal(price),
        "discount": decimal.Decimal(discount), "total": total,
        "store_id": store, "cashier_id": cashier, "customer_id": customer,
    }


# Two messages per topic in the shape of shared/seed/CONTRACT.md. Money values are chosen
# so that a Float64 -> Decimal conversion that truncates (toDecimal32(0.29, 2) = 0.28)
# would show. `kafka` holds the virtual column values the engine would attach.
SAMPLES = {
    "sales_kafka": {
        "target": "sales",
        "messages": [
            (sale("4f1c2a8e-1f7b-4c1e-9b7a-0a1b2c3d4e5f", "2026-11-25 12:00:00", 17, 3,
                  "1234.57", "0.15", 4, 11, "9d0e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a",
                  "Умный чайник", "Бытовая техника"),
             {"_topic": "sales", "_partition": 2, "_offset": 41,
              "_timestamp_ms": "1795608000.123", "_key": ""}),
            (sale("0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "2026-11-25 23:59:59", 50, 5,
                  "100.1", "0.29", 10, 20, "1a2b3c4d-5e6f-4a0b-9c8d-7e6f5a4b3c2d",
                  "Толстая книга", "Книги"),
             {"_topic": "sales", "_partition": 0, "_offset": 1234567890123,
              "_timestamp_ms": "1795651199.999", "_key": "k"}),
        ],
    },
    "warehouse_kafka": {
        "target": "stock_movements",
        "messages": [
            ({"event_id": "7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928", "event_type": "stock_movement",
              "event_time": "2026-11-25 12:00:00", "product_id": 17,
              "product_name": "Умный чайник", "category": "Бытовая техника",
              "warehouse": "Москва", "quantity": 100, "movement_type": "supply",
              "source": "ООО Поставка", "responsible": "Иван Петров"},
             {"_topic": "warehouse", "_partition": 1, "_offset": 7,
              "_timestamp_ms": "1795608000.5", "_key": ""}),
            ({"event_id": "3928a4b5-c6d7-4e8f-9a0b-1c2d3e4f5a6b", "event_type": "stock_movement",
              "event_time": "2026-11-26 00:00:01", "product_id": 1,
              "product_name": "Тёплый свитер", "category": "Одежда",
              "warehouse": "Санкт-Петербург", "quantity": 1, "movement_type": "write_off",
              "source": "Склад-Сервис", "responsible": "Анна Смирнова"},
             {"_topic": "warehouse", "_partition": 0, "_offset": 0,
              "_timestamp_ms": "1795651201.001", "_key": ""}),
        ],
    },
}


class CheckFailed(Exception):
    pass


def sql_string(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def split_statements(ddl):
    """Statements end with `;` at a line end; chunks that are only comments are dropped."""
    out = []
    for chunk in re.split(r";[ \t]*$", ddl, flags=re.M):
        body = "\n".join(l for l in chunk.splitlines() if not l.strip().startswith("--")).strip()
        if body:
            out.append(chunk.strip())
    return out


def first_line(stmt):
    for line in stmt.splitlines():
        if line.strip() and not line.strip().startswith("--"):
            return line.strip()
    return stmt[:80]


class Runner:
    def __init__(self, session):
        self.s = session

    def run(self, sql, fmt="TSVRaw"):
        return str(self.s.query(sql, fmt))

    def try_run(self, sql, fmt="TSVRaw"):
        try:
            return True, self.run(sql, fmt)
        except Exception as e:  # chdb raises its own error type; the message says it all
            return False, str(e).strip()


def parse_all(r, statements):
    print(f"== parse: {len(statements)} statements")
    formatted, failed = [], 0
    for i, stmt in enumerate(statements, 1):
        ok, out = r.try_run(f"SELECT formatQuery({sql_string(stmt)})")
        if ok:
            formatted.append(out.rstrip("\n"))
            print(f"  ok   #{i} {first_line(stmt)}")
        else:
            formatted.append(None)
            failed += 1
            print(f"  FAIL #{i} {first_line(stmt)}\n       {out}")
    if failed:
        raise CheckFailed(f"{failed} statement(s) do not parse")
    return formatted


def is_kafka_table(fmt):
    return fmt.startswith("CREATE TABLE") and re.search(r"^ENGINE = Kafka\b", fmt, re.M)


def table_name(fmt):
    m = re.match(r"CREATE (?:TABLE|MATERIALIZED VIEW|VIEW)\s+(?:IF NOT EXISTS\s+)?(\S+)", fmt)
    return m.group(1) if m else None


def split_name(qualified):
    db, _, name = qualified.rpartition(".")
    return db.strip("`"), name.strip("`")


def settings_of(fmt):
    m = re.search(r"^SETTINGS (.*)$", fmt, re.M)
    if not m:
        return {}
    pairs = re.findall(r"(\w+) = ('(?:[^'\\]|\\.)*'|[^,]+)(?:, |$)", m.group(1))
    return {k: v for k, v in pairs}


def check_kafka_settings(r, kafka):
    print(f"== kafka settings: {len(kafka)} Kafka table(s), validated by chDB's Kafka engine")
    failed = 0
    r.run(f"CREATE DATABASE IF NOT EXISTS {SCRATCH_DB}")
    try:
        for name, fmt in kafka:
            settings = settings_of(fmt)
            problems = [f"required setting {s} missing" for s in REQUIRED_SETTINGS
                        if s not in settings]
            problems += [f"{s} is not among the Kafka settings known to exist in ClickHouse 25.8 "
                         f"(KNOWN_BEFORE_25_8 in this script): chDB may accept it, 25.8 may not"
                         for s in settings if s.startswith("kafka_") and s not in KNOWN_BEFORE_25_8]
            # The real engine, in a scratch database: it parses every setting's value.
            _, short = split_name(name)
            stmt = re.sub(r"\A(CREATE TABLE\s+(?:IF NOT EXISTS\s+)?)\S+",
                          lambda m: f"{m.group(1)}{SCRATCH_DB}.`{short}`", fmt)
            ok, out = r.try_run(stmt)
            if not ok and "Shutdown was called" not in out:
                problems.append(f"chDB's Kafka engine rejects it: {out}")
            if problems:
                failed += 1
                print(f"  FAIL {name}")
                for p in problems:
                    print(f"       {p}")
            else:
                note = ("accepted (chDB then cannot start a consumer: 'Shutdown was called')"
                        if not ok else "accepted")
                print(f"  ok   {name}: {', '.join(settings)}\n       {note}")
    finally:
        r.try_run(f"DROP DATABASE IF EXISTS {SCRATCH_DB} SYNC")
    if failed:
        raise CheckFailed(f"{failed} Kafka table(s) have invalid settings")


def stand_in(fmt):
    """The Kafka table's CREATE with MergeTree and the virtual columns as ordinary ones."""
    head = fmt[: re.search(r"^ENGINE = Kafka\b", fmt, re.M).start()].rstrip()
    if not head.endswith(")"):
        raise CheckFailed(f"cannot find the column list of:\n{fmt}")
    declared = set(re.findall(r"^\s+`([^`]+)`", head, re.M))
    clash = [c for c, _ in VIRTUAL_COLUMNS if c in declared]
    if clash:
        raise CheckFailed(f"{table_name(fmt)} declares virtual column name(s) {clash}")
    virtual = ",\n".join(f"    `{c}` {t}" for c, t in VIRTUAL_COLUMNS)
    return f"{head[:-1].rstrip()},\n{virtual}\n)\nENGINE = MergeTree\nORDER BY tuple()"


def execute_all(r, statements, formatted):
    print("== execute: fresh session, Kafka tables as MergeTree stand-ins")
    for i, (stmt, fmt) in enumerate(zip(statements, formatted), 1):
        if is_kafka_table(fmt):
            sql, label = stand_in(fmt), f"{table_name(fmt)} (stand-in)"
        else:
            sql, label = stmt, first_line(stmt)
        ok, out = r.try_run(sql)
        if not ok:
            print(f"  FAIL #{i} {label}\n       {out}\n       statement:\n{sql}")
            raise CheckFailed(f"statement #{i} fails on ClickHouse {r.version}")
        print(f"  ok   #{i} {label}")


def check_behaviour(r, db, kafka):
    print("== behaviour: rows through the materialized views")
    names = [split_name(n)[1] for n, _ in kafka]
    missing = [n for n in names if n not in SAMPLES]
    if missing:
        raise CheckFailed(f"no sample messages for Kafka table(s) {missing}: extend SAMPLES")
    failures = []
    for kname in names:
        sample = SAMPLES[kname]
        target = sample["target"]
        deps = r.run(f"SELECT arrayStringConcat(dependencies_table, ',') FROM system.tables "
                     f"WHERE database = {sql_string(db)} AND name = {sql_string(kname)}").strip()
        print(f"  {kname} -> [{deps}] -> {target}")
        rows = []
        for payload, virt in sample["messages"]:
            row = {k: (float(v) if isinstance(v, decimal.Decimal) else v)
                   for k, v in payload.items()}
            row.update(virt)
            rows.append(json.dumps(row, ensure_ascii=False))
        ok, out = r.try_run(f"INSERT INTO `{db}`.`{kname}` FORMAT JSONEachRow\n" + "\n".join(rows))
        if not ok:
            failures.append(f"insert into {kname} failed: {out}")
            continue
        cols = [c for c in r.run(
            f"SELECT name FROM system.columns WHERE database = {sql_string(db)} "
            f"AND table = {sql_string(target)} ORDER BY position").split("\n") if c]
        got = {}
        for line in r.run(
                f"SELECT toJSONString(map({', '.join(f'{sql_string(c)}, toString(`{c}`)' for c in cols)}))"
                f" FROM `{db}`.`{target}` ORDER BY event_id").splitlines():
            m = json.loads(line)
            got[m["event_id"]] = m
        if len(got) != len(sample["messages"]):
            failures.append(f"{target}: expected {len(sample['messages'])} rows, got {len(got)}")
        for payload, virt in sample["messages"]:
            want = {k: str(v) for k, v in payload.items()}
            want["kafka_topic"] = virt["_topic"]
            want["kafka_partition"] = str(virt["_partition"])
            want["kafka_offset"] = str(virt["_offset"])
            want["kafka_timestamp_ms"] = str(int(decimal.Decimal(virt["_timestamp_ms"]) * 1000))
            have = got.get(payload["event_id"])
            if have is None:
                failures.append(f"{target}: row {payload['event_id']} missing")
                continue
            for k, v in want.items():
                if k not in have:
                    failures.append(f"{target}.{k}: no such column")
                elif not same(have[k], v, isinstance(payload.get(k), decimal.Decimal)):
                    failures.append(f"{target}.{k} for {payload['event_id'][:8]}: "
                                    f"expected {v!r}, got {have[k]!r}")
            extra = set(have) - set(want) - {"processing_time"}
            if extra:
                failures.append(f"{target}: columns not covered by this check: {sorted(extra)}")
        fresh = r.run(f"SELECT countIf(processing_time >= now() - 300) FROM `{db}`.`{target}`").strip()
        if fresh != str(len(sample["messages"])):
            failures.append(f"{target}.processing_time not set to now() on {len(got) - int(fresh)} row(s)")
        if not failures:
            money = sorted(want_money(p) for p, _ in sample["messages"] if "price" in p)
            print(f"  ok   {target}: {len(got)} rows, every column as expected"
                  + (f" (price/discount/total {', '.join(money)})" if money else ""))
    # A topic's rows land in its own table only.
    counts = {SAMPLES[k]["target"]: r.run(f"SELECT count() FROM `{db}`.`{SAMPLES[k]['target']}`").strip()
              for k in names}
    for t, c in counts.items():
        n = sum(len(s["messages"]) for s in SAMPLES.values() if s["target"] == t)
        if c != str(n):
            failures.append(f"{t}: {c} rows in total, expected {n}")
    if failures:
        for f in failures:
            print(f"  FAIL {f}")
        raise CheckFailed(f"{len(failures)} behaviour check(s) failed")


def rollup_expectations():
    """Per-minute rollups fed by views on the target tables (migration 3), when present."""
    sales = [p for p, _ in SAMPLES["sales_kafka"]["messages"]]
    stock = [p for p, _ in SAMPLES["warehouse_kafka"]["messages"]]
    return {
        "sales_by_minute": {
            "countMerge(orders)": str(len(sales)),
            "sumMerge(items)": str(sum(p["quantity"] for p in sales)),
            "sumMerge(revenue)": str(sum(p["total"] for p in sales)),
            "uniqExactMerge(customers)": str(len({p["customer_id"] for p in sales})),
        },
        "stock_by_minute": {
            "countMerge(events)": str(len(stock)),
            "sumMerge(quantity)": str(sum(p["quantity"] for p in stock)),
        },
    }


def check_rollups(r, db):
    print("== rollups: the views on the target tables (cascade)")
    failures = []
    for table, want in rollup_expectations().items():
        exists = r.run(f"SELECT count() FROM system.tables WHERE database = {sql_string(db)} "
                       f"AND name = {sql_string(table)}").strip()
        if exists == "0":
            print(f"  --   {table}: not in this DDL, skipped")
            continue
        exprs = list(want)
        ok, out = r.try_run(f"SELECT {', '.join(f'toString({e})' for e in exprs)} "
                            f"FROM `{db}`.`{table}`")
        if not ok:
            failures.append(f"{table}: {out}")
            continue
        have = dict(zip(exprs, out.rstrip("\n").split("\t")))
        bad = [f"{e} = {have.get(e)!r}, expected {v!r}" for e, v in want.items()
               if not same(have.get(e, ""), v, "revenue" in e)]
        if bad:
            failures += [f"{table}: {b}" for b in bad]
        else:
            print(f"  ok   {table}: {', '.join(f'{e} = {have[e]}' for e in exprs)}")
    if failures:
        for f in failures:
            print(f"  FAIL {f}")
        raise CheckFailed(f"{len(failures)} rollup check(s) failed")


def same(have, want, exact_decimal):
    """Text equality; money compares as exact decimals (so 100.1 equals 100.10, 0.28 != 0.29)."""
    if exact_decimal:
        try:
            return decimal.Decimal(have) == decimal.Decimal(want)
        except decimal.InvalidOperation:
            return False
    return have == want


def want_money(payload):
    return f"{payload['price']}/{payload['discount']}/{payload['total']}"


def check_null_timestamp(r, db, kafka):
    """A message without a timestamp (_timestamp_ms NULL). Reported, not fatal."""
    print("== edge case (warning only): a message without a timestamp")
    for kname in [split_name(n)[1] for n, _ in kafka]:
        payload, virt = SAMPLES[kname]["messages"][0]
        row = {k: (float(v) if isinstance(v, decimal.Decimal) else v) for k, v in payload.items()}
        row.update(virt, event_id="null-ts-" + kname, _timestamp_ms=None)
        ok, out = r.try_run(f"INSERT INTO `{db}`.`{kname}` FORMAT JSONEachRow\n"
                            + json.dumps(row, ensure_ascii=False))
        if ok:
            print(f"  ok   {kname}: accepted")
        else:
            print(f"  WARN {kname}: a message with _timestamp_ms NULL fails the view "
                  f"(on a server the whole block fails to insert; the engine does not commit "
                  f"and reads it again):\n       {out}")


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__)
        return 2
    try:
        import chdb
        from chdb import session as chdb_session
    except ImportError:
        print(INSTALL_HINT.format(exe=sys.executable), file=sys.stderr)
        return 2
    ddl = open(argv[1], encoding="utf-8").read() if len(argv) == 2 and argv[1] != "-" \
        else sys.stdin.read()
    statements = split_statements(ddl)
    if not statements:
        print("no statements in the input", file=sys.stderr)
        return 2

    r = Runner(chdb_session.Session())
    r.version = r.run("SELECT version()").strip()
    print(f"chDB {getattr(chdb, '__version__', '?')} (ClickHouse {r.version})")
    try:
        formatted = parse_all(r, statements)
        dbs = [m.group(1).strip("`") for f in formatted
               for m in [re.match(r"CREATE DATABASE (?:IF NOT EXISTS )?(\S+)", f)] if m]
        if len(dbs) != 1:
            raise CheckFailed(f"expected one CREATE DATABASE, found {dbs}")
        db = dbs[0]
        kafka = [(table_name(f), f) for f in formatted if is_kafka_table(f)]
        if not kafka:
            raise CheckFailed("no Kafka engine table in the DDL")
        check_kafka_settings(r, kafka)
        execute_all(r, statements, formatted)
        check_behaviour(r, db, kafka)
        check_rollups(r, db)
        check_null_timestamp(r, db, kafka)
    except CheckFailed as e:
        print(f"FAILED: {e}")
        return 1
    print(f"PASSED: {len(statements)} statements parse; Kafka settings valid; "
          f"DDL runs on ClickHouse {r.version}; rows reach the targets exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
