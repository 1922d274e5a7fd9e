#!/usr/bin/env python3
"""Check that the DDL the project applies on current ClickHouse is valid and behaves.

Usage:
    cargo run -q -p pipeline -- schema print --for-version 25.8 | python3 check_ddl.py
    python3 check_ddl.py ddl.sql
    python3 check_ddl.py --parse-only ddl.sql   # step 1 only (e.g. a cluster's ON CLUSTER DDL,
                                                # which chDB cannot run without Keeper)
    python3 check_ddl.py --outcomes MESSAGES ddl.sql
        # no checks: runs the DDL (steps 1 and 3), feeds every message of MESSAGES (JSON
        # lines: table, topic, partition, offset, hex) to its Kafka table's stand-in as
        # the engine would, and prints one JSON line per message: where it went (the
        # dead_letter reason, or the rows it became). The 18.16 side of the same messages is
        # compared with it by crates/pipeline/tests/reliability.rs.

Runs the DDL in chDB (an in-process current ClickHouse; see requirements.txt) in these steps:

  1. parse   every statement, the Kafka tables included (`SELECT formatQuery(...)`);
  2. kafka   each Kafka table's SETTINGS: the real Kafka engine of chDB validates names and
             values (chDB cannot start a consumer: after validation its engine fails with
             "Shutdown was called", which counts as accepted), the four required settings are
             present, and every `kafka_*` name is one ClickHouse already had before 25.8
             (KNOWN_BEFORE_25_8 below), so a setting newer than 25.8 that chDB accepts is
             still caught;
  3. execute every other statement as written in a fresh session, each Kafka table replaced
             by a MergeTree stand-in with the same columns plus the Kafka virtual columns as
             ordinary ones (the error-stream columns `_error`, `_raw_message` included), so
             the materialized views are created exactly as written;
  4. behave  insert realistic sale and stock-movement messages into the stand-ins exactly as
             the engine hands them over (RawBLOB: the whole message as `raw`, with the
             virtual columns' values), and compare every column of the target tables with
             the expected text; nothing reaches dead_letter;
  5. rollups sales_by_minute, stock_by_minute and stock_levels, per key and in total, against
             the rows that landed (checked again after each of the next steps);
  6. rejects messages the views must refuse (malformed, a value of the wrong JSON type such as
             a quoted number, an object or array where a string belongs, a rule broken, over
             64 KiB, one the engine reports unreadable) each become exactly one dead_letter
             row with the reason, the message's exact bytes and where it came from, and
             nothing else;
  7. (was the 18.16 replay door: current servers have none)
  8. dedup   a redelivered copy of an event counts twice; a row in the duplicates ledger
             takes exactly that copy out of the rollups again.
  9. correct a block written to the rollups alone (a fan-out cut short) is taken out again
             by the rollup check's own SQL (crates/reconcile/sql/correct_*.sql and
             stock_levels_drift.sql, run as the check runs them); a second run writes nothing.
 10. seal    the reconcile loop's seals (crates/query/sql/tiers/seal_*.sql, run as
             crates/reconcile/src/rollups.rs runs them) fill the tiers of migration 6 from
             what the steps above left: sales_by_hour and stock_by_hour equal their minute
             rollups summed per hour and key, customers_by_minute/_hour give the raw sales'
             customers; sealing again writes no rows; the page's queries over the tiers
             (crates/query/sql/tiers, read by overview_sales.sql, customers.sql, ...) run,
             and their totals equal the rollups' and the raw sales'.

Last, edge cases, each a check like the others: a message without a timestamp, and a sale at
the largest total the rules accept.

The whole flow fed what a real topic holds after `pipeline generate --bad-ratio`, with the
duplicate check, the seals and every page query compared with the generator's ledger, is
flow.py's (crates/pipeline/tests/modern_flow.rs).

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
    # With kafka_handle_error_mode = 'stream': the parse error ('' for a parsed message) and
    # the message's bytes ('' for a parsed message).
    ("_error", "String"),
    ("_raw_message", "String"),
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


# Two messages per topic in the shape of docs/contract.md. Money values are chosen
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
              "_timestamp_ms": "1795608000.123", "_key": "", "_error": "", "_raw_message": ""}),
            (sale("0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "2026-11-25 23:59:59", 50, 5,
                  "100.1", "0.29", 10, 20, "1a2b3c4d-5e6f-4a0b-9c8d-7e6f5a4b3c2d",
                  "Толстая книга", "Книги"),
             {"_topic": "sales", "_partition": 0, "_offset": 1234567890123,
              "_timestamp_ms": "1795651199.999", "_key": "k", "_error": "", "_raw_message": ""}),
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
              "_timestamp_ms": "1795608000.5", "_key": "", "_error": "", "_raw_message": ""}),
            ({"event_id": "3928a4b5-c6d7-4e8f-9a0b-1c2d3e4f5a6b", "event_type": "stock_movement",
              "event_time": "2026-11-26 00:00:01", "product_id": 1,
              "product_name": "Тёплый свитер", "category": "Одежда",
              "warehouse": "Санкт-Петербург", "quantity": 1, "movement_type": "write_off",
              "source": "Склад-Сервис", "responsible": "Анна Смирнова"},
             {"_topic": "warehouse", "_partition": 0, "_offset": 0,
              "_timestamp_ms": "1795651201.001", "_key": "", "_error": "", "_raw_message": ""}),
        ],
    },
}


# Messages the views must refuse, each inserted alone into a stand-in the way the engine
# delivers it. `raw`: the message's text as is; else `fields`: the topic's first sample with
# these fields changed (and `drop`ped), serialized by json.dumps. `error`: the engine reports
# the message unreadable (the error stream mode's _error, with the bytes in _raw_message).
# `reason`: the dead_letter reason exactly. dead_letter.raw must be the message's bytes.
MALFORMED = "malformed JSON: not one flat JSON object"
REJECTS = [
    {"kafka": "sales_kafka", "what": "malformed JSON",
     "raw": '{"event_id": "5e1f0000-0000-4000-8000-00000000bad1", "product_name": "Чайник", '
            '"price": 12.5oops, "quantity": 2}',
     "reason": MALFORMED},
    {"kafka": "sales_kafka", "what": "negative quantity", "fields": {"quantity": -3},
     "reason": "quantity: must be at least 1"},
    {"kafka": "sales_kafka", "what": "zero price",
     "fields": {"price": decimal.Decimal("0"), "total": decimal.Decimal("0")},
     "reason": "price: must be positive"},
    {"kafka": "sales_kafka", "what": "unknown event_type", "fields": {"event_type": "refund"},
     "reason": 'event_type: expected "sale", got "refund"'},
    {"kafka": "sales_kafka", "what": "event_time far in the future",
     "fields": {"event_time": "2099-01-01 00:00:00"},
     "reason": "event_time: more than a day in the future"},
    {"kafka": "warehouse_kafka", "what": "malformed JSON (truncated)",
     "raw": '{"event_id": "7e6d0000-0000-4000-8000-00000000bad2", "warehouse": "Москва", "quan',
     "reason": MALFORMED},
    {"kafka": "warehouse_kafka", "what": "unknown movement_type",
     "fields": {"movement_type": "theft"},
     "reason": 'movement_type: expected supply, relocation or write_off, got "theft"'},
    {"kafka": "warehouse_kafka", "what": "zero quantity", "fields": {"quantity": 0},
     "reason": "quantity: must be at least 1"},
    # A field left out is not its default: no total is not a total of 0.
    {"kafka": "sales_kafka", "what": "total missing", "fields": {}, "drop": ["total"],
     "reason": "total: missing or not a number"},
    {"kafka": "sales_kafka", "what": "customer_id null", "fields": {"customer_id": None},
     "reason": "customer_id: missing or not a string"},
    {"kafka": "warehouse_kafka", "what": "movement_type missing", "fields": {},
     "drop": ["movement_type"], "reason": "movement_type: missing or not a string"},
    # Current ClickHouse's JSON reader takes "12.50" for a number and reads a number, object or
    # array in a String column as text; the contract (and 18.16) refuse all of them.
    {"kafka": "sales_kafka", "what": "price as a quoted number", "fields": {"price": "12.50"},
     "reason": "price: missing or not a number"},
    {"kafka": "sales_kafka", "what": "quantity as a quoted integer", "fields": {"quantity": "2"},
     "reason": "quantity: missing or not an integer"},
    {"kafka": "sales_kafka", "what": "quantity as 2.0", "fields": {"quantity": 2.0},
     "reason": "quantity: missing or not an integer"},
    {"kafka": "sales_kafka", "what": "customer_id as a number", "fields": {"customer_id": 12345},
     "reason": "customer_id: missing or not a string"},
    {"kafka": "sales_kafka", "what": "product_name as an object",
     "fields": {"product_name": {"ru": "Чайник"}}, "reason": MALFORMED},
    {"kafka": "warehouse_kafka", "what": "category as an array",
     "fields": {"category": ["Одежда"]}, "reason": MALFORMED},
    {"kafka": "warehouse_kafka", "what": "a JSON array, not an object",
     "raw": '[{"event_id": "7e6d0000-0000-4000-8000-00000000bad3"}]', "reason": MALFORMED},
    {"kafka": "sales_kafka", "what": "oversized (a 70,000-byte product_name)",
     "fields": {"product_name": "x" * 70000}, "oversized": True},
    {"kafka": "warehouse_kafka", "what": "reported unreadable by the engine",
     "raw": "\x00\x01 not a message", "error": "Cannot read all data",
     "reason": "unreadable message: Cannot read all data"},
]

# The sample (per topic) delivered twice in the duplicates step: one whose event_time has
# seconds, so a ledger row that lands in the wrong minute shows.
DUPLICATED = 1

# The rollups fed by views on the target tables (migration 4): key columns and the values
# compared per key and in total.
ROLLUPS = {
    "sales_by_minute": (["minute", "category", "product_id"],
                        ["sumMerge(orders)", "sumMerge(items)", "sumMerge(revenue)",
                         "uniqExactMerge(customers)"]),
    "stock_by_minute": (["minute", "warehouse", "product_id", "product_name", "movement_type"],
                        ["sumMerge(events)", "sumMerge(quantity)"]),
    "stock_levels": (["warehouse", "product_id", "product_name"],
                     ["sum(supplied)", "sum(relocated)", "sum(written_off)"]),
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


def execute_all(r, statements, formatted, quiet=False):
    say = (lambda *_: None) if quiet else print
    say("== execute: fresh session, Kafka tables as MergeTree stand-ins")
    for i, (stmt, fmt) in enumerate(zip(statements, formatted), 1):
        if is_kafka_table(fmt):
            sql, label = stand_in(fmt), f"{table_name(fmt)} (stand-in)"
        else:
            sql, label = stmt, first_line(stmt)
        ok, out = r.try_run(sql)
        if not ok:
            print(f"  FAIL #{i} {label}\n       {out}\n       statement:\n{sql}")
            raise CheckFailed(f"statement #{i} fails on ClickHouse {r.version}")
        say(f"  ok   #{i} {label}")


def json_row(payload, extra=None):
    """A message as its producer serializes it (json.dumps: ", " and ": ", non-ASCII as is),
    with `extra` columns (the virtual ones) added."""
    row = {k: (float(v) if isinstance(v, decimal.Decimal) else v) for k, v in payload.items()}
    row.update(extra or {})
    return json.dumps(row, ensure_ascii=False)


def kafka_row(message, virt):
    """A message as the Kafka table hands it to its views: RawBLOB reads it whole into `raw`;
    the virtual columns alongside."""
    return json.dumps(dict(virt, raw=message), ensure_ascii=False)


def insert(r, db, table, rows):
    """INSERT rows (JSON texts) as one block; (ok, error)."""
    return r.try_run(f"INSERT INTO `{db}`.`{table}` FORMAT JSONEachRow\n" + "\n".join(rows))


def count(r, db, table, where="1"):
    return int(r.run(f"SELECT count() FROM `{db}`.`{table}` WHERE {where}").strip())


def table_exists(r, db, table):
    return r.run(f"SELECT count() FROM system.tables WHERE database = {sql_string(db)} "
                 f"AND name = {sql_string(table)}").strip() != "0"


def target_rows(r, db, target, where="1"):
    """The target's rows as {event_id: {column: text}} (every column, as toString shows it)."""
    cols = [c for c in r.run(
        f"SELECT name FROM system.columns WHERE database = {sql_string(db)} "
        f"AND table = {sql_string(target)} ORDER BY position").split("\n") if c]
    got = {}
    for line in r.run(
            f"SELECT toJSONString(map({', '.join(f'{sql_string(c)}, toString(`{c}`)' for c in cols)}))"
            f" FROM `{db}`.`{target}` WHERE {where} ORDER BY event_id").splitlines():
        m = json.loads(line)
        got[m["event_id"]] = m
    return got


def expected_row(payload, topic, partition, offset, timestamp_ms):
    want = {k: str(v) for k, v in payload.items()}
    want["kafka_topic"] = topic
    want["kafka_partition"] = str(partition)
    want["kafka_offset"] = str(offset)
    want["kafka_timestamp_ms"] = str(timestamp_ms)
    return want


def compare_row(target, have, want, payload):
    """Every column of a target row against the expected text; the failures."""
    failures = []
    for k, v in want.items():
        if k not in have:
            failures.append(f"{target}.{k}: no such column")
        elif not same(have[k], v, isinstance(payload.get(k), decimal.Decimal)):
            failures.append(f"{target}.{k} for {payload['event_id'][:8]}: "
                            f"expected {v!r}, got {have[k]!r}")
    extra = set(have) - set(want) - {"processing_time"}
    if extra:
        failures.append(f"{target}: columns not covered by this check: {sorted(extra)}")
    return failures


def dead_letters(r, db, where):
    """dead_letter rows matching `where`, as dicts (received_at as `fresh`: set to now())."""
    return [json.loads(line) for line in r.run(
        f"SELECT topic, partition, offset, raw, reason, received_at >= now() - 300 AS fresh "
        f"FROM `{db}`.`dead_letter` WHERE {where} ORDER BY offset",
        "JSONEachRow").splitlines() if line.strip()]


def check_dead_letter_row(rows, label, topic, partition, offset, reason, raw):
    """Exactly one dead_letter row for a refused message, as expected; the failures."""
    if len(rows) != 1:
        return [f"{label}: expected 1 dead_letter row at {topic}/{partition}/{offset}, "
                f"got {len(rows)}: {rows}"]
    d, failures = rows[0], []
    for k, v in (("topic", topic), ("partition", partition), ("offset", offset)):
        if str(d[k]) != str(v):
            failures.append(f"{label}: dead_letter.{k} = {d[k]!r}, expected {v!r}")
    if d["reason"] != reason:
        failures.append(f"{label}: dead_letter.reason = {d['reason']!r}, expected {reason!r}")
    if d["raw"] != raw:
        failures.append(f"{label}: dead_letter.raw = {d['raw'][:200]!r}, expected the "
                        f"message's bytes {raw[:200]!r}")
    if str(d["fresh"]) not in ("1", "true", "True"):
        failures.append(f"{label}: dead_letter.received_at not set to now()")
    return failures


def report(failures, what):
    if failures:
        for f in failures:
            print(f"  FAIL {f}")
        raise CheckFailed(f"{len(failures)} {what} check(s) failed")


def check_behaviour(r, db, kafka, landed):
    print("== behaviour: rows through the materialized views")
    names = [split_name(n)[1] for n, _ in kafka]
    missing = [n for n in names if n not in SAMPLES]
    if missing:
        raise CheckFailed(f"no sample messages for Kafka table(s) {missing}: extend SAMPLES")
    if not table_exists(r, db, "dead_letter"):
        raise CheckFailed("no dead_letter table in this DDL")
    failures = []
    for kname in names:
        sample = SAMPLES[kname]
        target = sample["target"]
        deps = r.run(f"SELECT arrayStringConcat(dependencies_table, ',') FROM system.tables "
                     f"WHERE database = {sql_string(db)} AND name = {sql_string(kname)}").strip()
        print(f"  {kname} -> [{deps}] -> {target}")
        rows = [kafka_row(json_row(payload), virt) for payload, virt in sample["messages"]]
        ok, out = insert(r, db, kname, rows)
        if not ok:
            failures.append(f"insert into {kname} failed: {out}")
            continue
        got = target_rows(r, db, target)
        if len(got) != len(sample["messages"]):
            failures.append(f"{target}: expected {len(sample['messages'])} rows, got {len(got)}")
        for payload, virt in sample["messages"]:
            want = expected_row(payload, virt["_topic"], virt["_partition"], virt["_offset"],
                                int(decimal.Decimal(virt["_timestamp_ms"]) * 1000))
            have = got.get(payload["event_id"])
            if have is None:
                failures.append(f"{target}: row {payload['event_id']} missing")
                continue
            failures += compare_row(target, have, want, payload)
            landed[target].append((payload, 1))
        fresh = r.run(f"SELECT countIf(processing_time >= now() - 300) FROM `{db}`.`{target}`").strip()
        if fresh != str(len(sample["messages"])):
            failures.append(f"{target}.processing_time not set to now() on {len(got) - int(fresh)} row(s)")
        if not failures:
            money = sorted(want_money(p) for p, _ in sample["messages"] if "price" in p)
            print(f"  ok   {target}: {len(got)} rows, every column as expected"
                  + (f" (price/discount/total {', '.join(money)})" if money else ""))
    # A topic's rows land in its own table only, and good messages never in dead_letter.
    counts = {SAMPLES[k]["target"]: r.run(f"SELECT count() FROM `{db}`.`{SAMPLES[k]['target']}`").strip()
              for k in names}
    for t, c in counts.items():
        n = sum(len(s["messages"]) for s in SAMPLES.values() if s["target"] == t)
        if c != str(n):
            failures.append(f"{t}: {c} rows in total, expected {n}")
    dead = dead_letters(r, db, "1")
    if dead:
        failures.append(f"dead_letter: {len(dead)} row(s) for good messages: {dead}")
    elif not failures:
        print("  ok   dead_letter: no rows for the good messages")
    report(failures, "behaviour")


def rollup_expectations(landed, by_key=True):
    """What the rollups must hold, per key (or in total, key ()), from the rows that landed:
    landed[target] is a list of (payload, copies), a duplicates ledger row counting as
    negative copies. Every value is a sum (orders and events count 1 per copy), except
    customers, which is the distinct customers of the rows present."""
    def minute(p):
        return p["event_time"][:16] + ":00"

    def group(rows, key, values):
        out = {}
        for p, n in rows:
            out.setdefault(key(p) if by_key else (), []).append((p, n))
        return {k: values(v) for k, v in out.items()}

    def moved(rows, kind):
        return str(sum(n * p["quantity"] for p, n in rows if p["movement_type"] == kind))

    return {
        "sales_by_minute": group(
            landed["sales"], lambda p: (minute(p), p["category"], str(p["product_id"])),
            lambda rows: {
                "sumMerge(orders)": str(sum(n for _, n in rows)),
                "sumMerge(items)": str(sum(n * p["quantity"] for p, n in rows)),
                "sumMerge(revenue)": str(sum(n * p["total"] for p, n in rows)),
                "uniqExactMerge(customers)": str(len({p["customer_id"] for p, n in rows if n > 0})),
            }),
        "stock_by_minute": group(
            landed["stock_movements"],
            lambda p: (minute(p), p["warehouse"], str(p["product_id"]), p["product_name"],
                       p["movement_type"]),
            lambda rows: {
                "sumMerge(events)": str(sum(n for _, n in rows)),
                "sumMerge(quantity)": str(sum(n * p["quantity"] for p, n in rows)),
            }),
        "stock_levels": group(
            landed["stock_movements"],
            lambda p: (p["warehouse"], str(p["product_id"]), p["product_name"]),
            lambda rows: {
                "sum(supplied)": moved(rows, "supply"),
                "sum(relocated)": moved(rows, "relocation"),
                "sum(written_off)": moved(rows, "write_off"),
            }),
    }


def rollup_totals(r, db, table):
    """{expression: text} over the whole rollup table."""
    exprs = ROLLUPS[table][1]
    out = r.run(f"SELECT {', '.join(f'toString({e})' for e in exprs)} FROM `{db}`.`{table}`")
    return dict(zip(exprs, out.rstrip("\n").split("\t")))


def check_rollups(r, db, landed, title):
    print(f"== rollups: {title}")
    failures = []
    per_key, totals = rollup_expectations(landed), rollup_expectations(landed, by_key=False)
    for table, want_rows in per_key.items():
        keys, exprs = ROLLUPS[table]
        if not table_exists(r, db, table):
            failures.append(f"{table}: not in this DDL")
            continue
        ok, out = r.try_run(
            f"SELECT {', '.join(f'toString({c})' for c in keys + exprs)} FROM `{db}`.`{table}` "
            f"GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}")
        if not ok:
            failures.append(f"{table}: {out}")
            continue
        have_rows = {}
        for line in out.splitlines():
            cells = line.split("\t")
            have_rows[tuple(cells[:len(keys)])] = dict(zip(exprs, cells[len(keys):]))
        bad = []
        for key in sorted(set(want_rows) | set(have_rows)):
            want, have = want_rows.get(key), have_rows.get(key)
            if have is None:
                bad.append(f"no row for {key}, expected {want}")
            elif want is None:
                bad.append(f"unexpected row for {key}: {have}")
            else:
                bad += [f"{key}: {e} = {have.get(e)!r}, expected {v!r}" for e, v in want.items()
                        if not same(have.get(e, ""), v, "revenue" in e)]
        have_total, want_total = rollup_totals(r, db, table), totals[table][()]
        bad += [f"total {e} = {have_total.get(e)!r}, expected {v!r}" for e, v in want_total.items()
                if not same(have_total.get(e, ""), v, "revenue" in e)]
        if bad:
            failures += [f"{table}: {b}" for b in bad]
        else:
            print(f"  ok   {table}: {len(have_rows)} key(s) as expected; "
                  f"{', '.join(f'{e} = {have_total[e]}' for e in exprs)}")
    report(failures, "rollup")


def check_rejects(r, db, landed):
    print("== rejects: refused messages through the stand-ins -> dead_letter, nowhere else")
    failures = []
    for i, case in enumerate(REJECTS, 1):
        kname = case["kafka"]
        target = SAMPLES[kname]["target"]
        base, base_virt = SAMPLES[kname]["messages"][0]
        virt = dict(base_virt, _partition=7, _offset=900000 + i)
        label = f"{kname} {case['what']}"
        if "raw" in case:
            message = case["raw"]
        else:
            fields = dict(base, event_id=f"0bad{i:04d}-0000-4000-8000-000000000000",
                          **case["fields"])
            for name in case.get("drop", []):
                del fields[name]
            message = json_row(fields)
        if "error" in case:
            # What the error stream mode makes of a message the format cannot read: the
            # columns at their defaults, _error and _raw_message set.
            row = kafka_row("", dict(virt, _error=case["error"], _raw_message=message))
        else:
            row = kafka_row(message, virt)
        reason = case.get("reason") or (f"oversized message: {len(message.encode())} bytes "
                                        f"(limit 65536)")
        in_target, in_dead = count(r, db, target), count(r, db, "dead_letter")
        ok, out = insert(r, db, kname, [row])
        if not ok:
            failures.append(f"{label}: insert into {kname} failed: {out}")
            continue
        rows = dead_letters(r, db, f"topic = {sql_string(virt['_topic'])} "
                                   f"AND offset = {virt['_offset']}")
        bad = check_dead_letter_row(rows, label, virt["_topic"], virt["_partition"],
                                    virt["_offset"], reason, raw=message)
        if count(r, db, target) != in_target:
            bad.append(f"{label}: {count(r, db, target) - in_target} row(s) reached {target}")
        if count(r, db, "dead_letter") != in_dead + 1:
            bad.append(f"{label}: dead_letter grew by {count(r, db, 'dead_letter') - in_dead} "
                       f"rows, expected 1")
        if bad:
            failures += bad
        else:
            print(f"  ok   {label}: one dead_letter row, reason {rows[0]['reason']!r}")
    report(failures, "reject")
    check_rollups(r, db, landed, "unchanged by the refused messages")


def check_duplicates(r, db, landed):
    print("== duplicates: a redelivered copy, then the ledger row that takes it out")
    failures = []
    ledgers = [
        ("sales_kafka", "sales_duplicates",
         ["event_id", "event_time", "product_id", "category", "quantity", "total"]),
        ("warehouse_kafka", "stock_movements_duplicates",
         ["event_id", "event_time", "product_id", "product_name", "warehouse",
          "movement_type", "quantity"]),
    ]
    for kname, ledger, _ in ledgers:
        if not table_exists(r, db, ledger):
            raise CheckFailed(f"{ledger}: not in this DDL")
        # At-least-once: the same message read again, same offset.
        payload, virt = SAMPLES[kname]["messages"][DUPLICATED]
        target = SAMPLES[kname]["target"]
        ok, out = insert(r, db, kname, [kafka_row(json_row(payload), virt)])
        if not ok:
            raise CheckFailed(f"redelivery into {kname} failed: {out}")
        copies = count(r, db, target, f"event_id = {sql_string(payload['event_id'])}")
        if copies != 2:
            failures.append(f"{target}: {copies} copies of the redelivered event, expected 2")
        landed[target].append((payload, 1))
    report(failures, "duplicates")
    check_rollups(r, db, landed, "after a redelivery (the copy counts twice)")

    print("== duplicates: ledger rows subtract copies_removed from the rollups")
    before = {t: rollup_totals(r, db, t) for t in ROLLUPS}
    rows_before = {t: count(r, db, t) for t in ("sales", "stock_movements")}
    for kname, ledger, cols in ledgers:
        payload, _ = SAMPLES[kname]["messages"][DUPLICATED]
        row = {c: payload[c] for c in cols}
        row["copies_removed"] = 1
        ok, out = insert(r, db, ledger, [json_row(row)])
        if not ok:
            raise CheckFailed(f"insert into {ledger} failed: {out}")
        landed[SAMPLES[kname]["target"]].append((payload, -1))
    after = {t: rollup_totals(r, db, t) for t in ROLLUPS}
    sale = SAMPLES["sales_kafka"]["messages"][DUPLICATED][0]
    move = SAMPLES["warehouse_kafka"]["messages"][DUPLICATED][0]
    moved = {"supply": "sum(supplied)", "relocation": "sum(relocated)",
             "write_off": "sum(written_off)"}
    deltas = {
        "sales_by_minute": {"sumMerge(orders)": -1, "sumMerge(items)": -sale["quantity"],
                            "sumMerge(revenue)": -sale["total"], "uniqExactMerge(customers)": 0},
        "stock_by_minute": {"sumMerge(events)": -1, "sumMerge(quantity)": -move["quantity"]},
        "stock_levels": {e: (-move["quantity"] if moved[move["movement_type"]] == e else 0)
                         for e in ROLLUPS["stock_levels"][1]},
    }
    for table, want in deltas.items():
        bad = []
        for e, d in want.items():
            got = decimal.Decimal(after[table][e]) - decimal.Decimal(before[table][e])
            if got != d:
                bad.append(f"{table}: {e} went {before[table][e]} -> {after[table][e]} "
                           f"({got:+}), expected {d:+}")
        if bad:
            failures += bad
        else:
            print(f"  ok   {table}: " + ", ".join(
                f"{e} {before[table][e]} -> {after[table][e]}" for e in want))
    for t, n in rows_before.items():
        if count(r, db, t) != n:
            failures.append(f"{t}: the ledger changed the raw table ({n} -> {count(r, db, t)} "
                            f"rows); it must keep every copy")
    report(failures, "duplicates")
    check_rollups(r, db, landed, "after the ledger (every event once)")


RECONCILE_SQL = __import__("pathlib").Path(__file__).resolve().parents[2] / "crates/reconcile/sql"
QUERY_SQL = RECONCILE_SQL.parents[1] / "query/sql"


def reconcile_sql(name, db, **values):
    """One of the rollup check's statements, rendered as crates/reconcile renders it; a
    name under tiers/ is one of the seals of crates/query/sql/tiers, which it runs too."""
    path = QUERY_SQL / name if name.startswith("tiers/") else RECONCILE_SQL / name
    text = path.read_text(encoding="utf-8")
    # As clickhouse_http::template writes them: {{name:string}} is a name as a literal.
    for k, v in values.items():
        text = text.replace("{{" + k + ":string}}", sql_string(str(v)))
    values = dict(values, db=f"`{db}`", read_db=f"`{db}`", **{"db:string": sql_string(db)})
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", str(v))
    if "{{" in text:
        raise CheckFailed(f"{name}: a placeholder left unrendered")
    return text


def check_corrections(r, db, landed):
    print("== corrections: a block in the rollups alone is taken out by the rollup check")
    failures = []
    sale, _ = SAMPLES["sales_kafka"]["messages"][0]
    move, _ = SAMPLES["warehouse_kafka"]["messages"][0]
    cuts = [
        f"INSERT INTO `{db}`.sales_by_minute SELECT toStartOfMinute(toDateTime({sql_string(sale['event_time'])})), "
        f"{sql_string(sale['category'])}, {sale['product_id']}, sumState(toInt64(1)), "
        f"sumState(toInt64({sale['quantity']})), sumState(toDecimal64({sql_string(str(sale['total']))}, 2)), "
        f"uniqExactState({sql_string(sale['customer_id'])})",
        f"INSERT INTO `{db}`.stock_by_minute SELECT toStartOfMinute(toDateTime({sql_string(move['event_time'])})), "
        f"{sql_string(move['warehouse'])}, {move['product_id']}, {sql_string(move['product_name'])}, "
        f"{sql_string(move['movement_type'])}, sumState(toInt64(1)), sumState(toInt64({move['quantity']}))",
        f"INSERT INTO `{db}`.stock_levels (warehouse, product_id, product_name, supplied, relocated, written_off) "
        f"VALUES ({sql_string(move['warehouse'])}, {move['product_id']}, {sql_string(move['product_name'])}, 0, 0, 7)",
    ]
    for cut in cuts:
        ok, out = r.try_run(cut)
        if not ok:
            raise CheckFailed(f"cutting a fan-out short failed: {out}")

    def correct():
        for name, rollup in (("correct_sales_by_minute.sql", "sales_by_minute"),
                             ("correct_stock_by_minute.sql", "stock_by_minute")):
            minutes = r.run(f"SELECT toUInt32(minute) FROM `{db}`.{rollup} GROUP BY minute "
                            f"ORDER BY minute").split()
            ok, out = r.try_run(reconcile_sql(name, db, lo=minutes[0], hi=int(minutes[-1]) + 60,
                                              minutes=", ".join(minutes)))
            if not ok:
                failures.append(f"{name}: {out}")
        ok, out = r.try_run(reconcile_sql("stock_levels_drift.sql", db), fmt="JSONCompact")
        if not ok:
            failures.append(f"stock_levels_drift.sql: {out}")
            return
        rows = json.loads(out)["data"]
        if rows:
            values = ", ".join(
                f"({sql_string(w)}, {p}, {sql_string(n)}, {s}, {rl}, {wo})"
                for w, p, n, s, rl, wo in rows)
            ok, out = r.try_run(reconcile_sql("correct_stock_levels.sql", db, rows=values))
            if not ok:
                failures.append(f"correct_stock_levels.sql: {out}")

    tables = ("sales_by_minute_corrections", "stock_by_minute_corrections",
              "stock_levels_corrections")
    correct()
    written = {t: count(r, db, t) for t in tables}
    for t, n in written.items():
        if n != 1:
            failures.append(f"{t}: {n} correction rows for one cut key, expected 1")
    correct()
    for t in tables:
        if count(r, db, t) != written[t]:
            failures.append(f"{t}: a second run wrote {count(r, db, t) - written[t]} more rows")
    report(failures, "correction")
    check_rollups(r, db, landed, "after the rollup check (every event once again)")



# The hour tiers of migration 6, each against the minute rollup it is sealed from: the keys
# besides the hour (stock_by_hour has no warehouse) and the summed values.
HOUR_TIERS = {
    "sales_by_hour": ("sales_by_minute", ["category", "product_id"],
                      ["orders", "items", "revenue"]),
    "stock_by_hour": ("stock_by_minute", ["product_id", "product_name", "movement_type"],
                      ["events", "quantity"]),
}

# The hour seals per family, in the order crates/query/src/tiers.rs lists them: the
# minute rollup whose hours are sealed, and the seals.
HOUR_SEALS = [
    ("sales_by_minute", ["tiers/seal_sales_by_hour.sql", "tiers/seal_customers_by_hour.sql"]),
    ("stock_by_minute", ["tiers/seal_stock_by_hour.sql"]),
]

# The page's queries that read the tiers (crates/query/src/lib.rs), each run once.
TIER_QUERIES = ["overview_sales.sql", "customers.sql", "movement_mix.sql", "sales_hourly.sql",
                "stock_top.sql"]


def query_sql(name, db, **values):
    """One of the page's queries, rendered as crates/query renders it: {{db}} is the bare
    name there, backquoted here as reconcile_sql does; the tier fragments are values."""
    text = (QUERY_SQL / name).read_text(encoding="utf-8")
    if "-- @if" in text:
        raise CheckFailed(f"{name}: has @if blocks, which this check does not render")
    for k, v in dict(values, db=f"`{db}`", **{"db:string": sql_string(db)}).items():
        text = text.replace("{{" + k + "}}", str(v))
    if "{{" in text:
        raise CheckFailed(f"{name}: a placeholder left unrendered")
    return text


def starts(r, sql):
    """Unix seconds (minute or hour starts) that `sql` selects, ascending."""
    return [int(x) for x in r.run(sql).split()]


def run_seal(r, db, failures, name, at, step, param):
    """A seal over the minutes or hours `at` (unix seconds, ascending): lo the first, hi the
    last plus `step`, as rollups.rs passes them."""
    ok, out = r.try_run(reconcile_sql(name, db, lo=at[0], hi=at[-1] + step,
                                      **{param: ", ".join(map(str, at))}))
    if not ok:
        failures.append(f"{name}: {out}")


def seal_hours(r, db, failures):
    for rollup, seals in HOUR_SEALS:
        hours = starts(r, f"SELECT DISTINCT toUInt32(toStartOfHour(minute)) AS h "
                          f"FROM `{db}`.{rollup} ORDER BY h")
        for name in seals:
            run_seal(r, db, failures, name, hours, 3600, "hours")


def sums_per_hour(r, db, table, time_col, keys, values):
    """{(hour, *keys): sums} of a rollup. A key whose sums are all zero is left out: a seal
    writes only differences, so a key that nets to zero has no row in the hour tier."""
    cols = [f"toString(toStartOfHour({time_col}))"] + [f"toString({k})" for k in keys]
    out = r.run(f"SELECT {', '.join(cols + [f'toString(sumMerge({v}))' for v in values])} "
                f"FROM `{db}`.{table} GROUP BY {', '.join(cols)}", "JSONCompact")
    got = {}
    for row in json.loads(out)["data"]:
        sums = tuple(decimal.Decimal(c) for c in row[len(cols):])
        if any(sums):
            got[tuple(row[:len(cols)])] = sums
    return got


def uniq_customers(r, db, table, expr):
    return r.run(f"SELECT {expr} FROM `{db}`.{table}").strip()


def check_hour_tiers(r, db, failures):
    """The hour tiers against their minute rollups per key, customers against raw sales."""
    for hour_table, (minute_table, keys, values) in HOUR_TIERS.items():
        have = sums_per_hour(r, db, hour_table, "hour", keys, values)
        want = sums_per_hour(r, db, minute_table, "minute", keys, values)
        bad = [f"{hour_table} {k}: {dict(zip(values, have.get(k, ())))}, from "
               f"{minute_table} {dict(zip(values, want.get(k, ())))}"
               for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)]
        if bad:
            failures += bad
        else:
            print(f"  ok   {hour_table}: {len(have)} key(s), each {minute_table}'s hour summed")
    # uniqCombined is exact at a few customers, so the states must give the raw count.
    raw = uniq_customers(r, db, "sales", "uniqCombined(13)(customer_id)")
    for table in ("customers_by_minute", "customers_by_hour"):
        got = uniq_customers(r, db, table, "uniqCombinedMerge(13)(customers)")
        if got != raw:
            failures.append(f"{table}: {got} customers, the raw sales have {raw}")
        else:
            print(f"  ok   {table}: {got} customers, as in the raw sales")


def check_reseal(r, db, failures):
    """Sealing still tables again writes nothing to the sum tiers, and changes no estimate."""
    tables = list(HOUR_TIERS)
    rows = {t: count(r, db, t) for t in tables}
    customers = uniq_customers(r, db, "customers_by_hour", "uniqCombinedMerge(13)(customers)")
    seal_hours(r, db, failures)
    for t in tables:
        if count(r, db, t) != rows[t]:
            failures.append(f"{t}: a second seal wrote {count(r, db, t) - rows[t]} more rows")
    again = uniq_customers(r, db, "customers_by_hour", "uniqCombinedMerge(13)(customers)")
    if again != customers:
        failures.append(f"customers_by_hour: {customers} customers, {again} after a second seal")
    if not failures:
        print(f"  ok   a second seal wrote no rows to {', '.join(tables)}; "
              f"customers_by_hour still {again}")


def check_queries(r, db, failures):
    """The page's queries over the tiers, from a day before the first minute: everything is
    in the current period, read from the hour tiers (every hour is sealed)."""
    first = r.run(f"SELECT toUInt32(least((SELECT min(minute) FROM `{db}`.sales_by_minute), "
                  f"(SELECT min(minute) FROM `{db}`.stock_by_minute)))").strip()
    since = int(first) - 86400
    # The tiers as crates/query/src/lib.rs renders them (Queries::tier).
    tiers = {
        "sales": ("sales_by_hour", "sales_by_minute",
                  "category, product_id, orders, items, revenue"),
        "stock": ("stock_by_hour", "stock_by_minute",
                  "product_id, product_name, movement_type, events, quantity"),
        "customers": ("customers_by_hour", "customers_by_minute", "customers"),
    }
    values = {t: query_sql("tiers/read.sql", db, since=since, split=since, hours=h,
                           minutes=m, columns=c)
              for t, (h, m, c) in tiers.items()}
    values["customers"] = query_sql("tiers/read_customers.sql", db, since=since,
                                    sealed=values["customers"])
    values.update({"from": since, "bucket": "toStartOfHour"})
    got = {}
    for name in TIER_QUERIES:
        ok, out = r.try_run(query_sql(name, db, **values), "JSONEachRow")
        if not ok:
            failures.append(f"{name}: {out}")
        elif not out.strip():
            failures.append(f"{name}: no rows")
        else:
            got[name] = [json.loads(line) for line in out.splitlines() if line.strip()]
            print(f"  ok   {name}: {len(got[name])} row(s)")
    # (query, its rows' fields, the rollup, its totals' expressions); from = since, so
    # every group must be current.
    totals = [
        ("overview_sales.sql", ["orders", "items", "rubles"], "sales_by_minute",
         ["sumMerge(orders)", "sumMerge(items)", "sumMerge(revenue)"]),
        ("movement_mix.sql", ["events", "quantity"], "stock_by_minute",
         ["sumMerge(events)", "sumMerge(quantity)"]),
    ]
    for name, fields, rollup, exprs in totals:
        if name not in got:
            continue
        want = rollup_totals(r, db, rollup)
        for field, e in zip(fields, exprs):
            have = sum(decimal.Decimal(str(row[field])) for row in got[name]
                       if row.get("current", 1) == 1) if field != "rubles" else \
                sum(decimal.Decimal(str(row["kopecks"])) / 100 for row in got[name]
                    if row.get("current", 1) == 1)
            if money(have) != money(want[e]):
                failures.append(f"{name}: {field} totals {have}, {rollup} {e} = {want[e]}")
        stale = [row for row in got[name] if row.get("current", 1) != 1]
        if stale:
            failures.append(f"{name}: groups before `from` though from = since: {stale}")
    if "customers.sql" in got:
        have = sum(int(row["unique_customers"]) for row in got["customers.sql"]
                   if row["current"] == 1)
        raw = uniq_customers(r, db, "sales", "uniqCombined(13)(customer_id)")
        if str(have) != raw or len(got["customers.sql"]) != 1:
            failures.append(f"customers.sql: {got['customers.sql']}, the raw sales have "
                            f"{raw} customers (all of them current)")
    if not failures:
        print("  ok   overview_sales.sql, movement_mix.sql and customers.sql totals equal the rollups' "
              "and the raw sales'")


def check_seal(r, db, landed):
    print("== seal: the minute rollups sealed into the hour tiers by the reconcile loop's SQL")
    failures = []
    for t in list(HOUR_TIERS) + ["customers_by_minute", "customers_by_hour"]:
        if not table_exists(r, db, t):
            raise CheckFailed(f"{t}: not in this DDL")
    minutes = starts(r, f"SELECT DISTINCT toUInt32(toStartOfMinute(event_time)) AS m "
                        f"FROM `{db}`.sales ORDER BY m")
    run_seal(r, db, failures, "tiers/seal_customers_by_minute.sql", minutes, 60, "minutes")
    seal_hours(r, db, failures)
    report(failures, "seal")
    check_hour_tiers(r, db, failures)
    report(failures, "seal")
    print("== seal: a second seal over unchanged minutes")
    check_reseal(r, db, failures)
    report(failures, "seal")
    print("== seal: the page's queries over the tiers")
    check_queries(r, db, failures)
    report(failures, "seal")
    check_rollups(r, db, landed, "after sealing (the minute rollups untouched)")


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


def check_edge_cases(r, db, kafka, landed):
    """A message without a timestamp (_timestamp_ms NULL) lands with kafka_timestamp_ms 0; a
    sale at the largest total the rules accept lands exactly, one just above is refused."""
    print("== edge cases")
    failures = []
    for kname in [split_name(n)[1] for n, _ in kafka]:
        payload, virt = SAMPLES[kname]["messages"][0]
        payload = dict(payload, event_id="null-ts-" + kname)
        target = SAMPLES[kname]["target"]
        ok, out = insert(r, db, kname, [kafka_row(json_row(payload),
                                                  dict(virt, _timestamp_ms=None))])
        have = r.run(f"SELECT toString(kafka_timestamp_ms) FROM `{db}`.`{target}` "
                     f"WHERE event_id = {sql_string(payload['event_id'])}").split()
        if not ok or have != ["0"]:
            failures.append(f"{kname}: a message without a timestamp: "
                            f"{out if not ok else f'kafka_timestamp_ms {have}, expected [0]'}")
        else:
            landed[target].append((payload, 1))
            print(f"  ok   {kname}: a message without a timestamp lands, kafka_timestamp_ms 0")
    payload, virt = SAMPLES["sales_kafka"]["messages"][0]
    largest = dict(payload, event_id="max-total", quantity=10, price=decimal.Decimal("999999.999"),
                   discount=decimal.Decimal("0"), total=decimal.Decimal("9999999.99"))
    above = dict(largest, event_id="above-max-total", total=decimal.Decimal("10000000"))
    ok, out = insert(r, db, "sales_kafka", [
        kafka_row(json_row(largest), dict(virt, _offset=990001)),
        kafka_row(json_row(above), dict(virt, _offset=990002))])
    have = r.run(f"SELECT toString(total) FROM `{db}`.sales WHERE event_id = 'max-total'").split()
    refused = [d["reason"] for d in dead_letters(r, db, "offset = 990002")]
    if not ok or have != ["9999999.99"] or refused != ["total: must be in [0, 9999999.99]"]:
        failures.append(f"largest total: {out if not ok else ''} sales {have}, expected "
                        f"['9999999.99']; the one above it refused as {refused}")
    else:
        landed["sales"].append((largest, 1))
        print("  ok   total 9999999.99 lands exactly; 10000000 goes to dead_letter")
    report(failures, "edge case")
    check_rollups(r, db, landed, "after the edge cases")


def outcomes(r, db, path):
    """Each message of `path` through its Kafka table's stand-in, one at a time; where it went."""
    with open(path, encoding="utf-8") as f:
        messages = [json.loads(line) for line in f if line.strip()]
    # One block per Kafka table, as the engine would deliver a backlog.
    r.run("SET max_query_size = 1000000000")
    for table in sorted({m["table"] for m in messages}):
        rows = "\n".join(json.dumps(m) for m in messages if m["table"] == table)
        r.run(f"INSERT INTO `{db}`.`{table}` (raw, _topic, _partition, _offset, _timestamp_ms, "
              f"_key, _error, _raw_message) SELECT unhex(hex), topic, partition, offset, NULL, "
              f"'', '', '' FROM format(JSONEachRow, 'hex String, topic String, partition UInt64, "
              f"offset UInt64', {sql_string(rows)})")
    where = {}
    for line in r.run(f"SELECT topic, partition, offset, reason FROM `{db}`.dead_letter",
                      "JSONEachRow").splitlines():
        d = json.loads(line)
        where.setdefault((d["topic"], int(d["partition"]), int(d["offset"])), []).append(
            d["reason"])
    rows = {}
    for target in ("sales", "stock_movements"):
        for line in r.run(f"SELECT kafka_topic, kafka_partition, kafka_offset, count() AS n "
                          f"FROM `{db}`.`{target}` GROUP BY 1, 2, 3", "JSONEachRow").splitlines():
            d = json.loads(line)
            rows[(d["kafka_topic"], int(d["kafka_partition"]), int(d["kafka_offset"]))] = int(d["n"])
    for m in messages:
        place = (m["topic"], int(m["partition"]), int(m["offset"]))
        print(json.dumps({"topic": place[0], "partition": place[1], "offset": place[2],
                          "reasons": where.get(place, []), "rows": rows.get(place, 0)}))


def main(argv):
    parse_only = "--parse-only" in argv
    argv = [a for a in argv if a != "--parse-only"]
    messages = None
    if "--outcomes" in argv:
        i = argv.index("--outcomes")
        messages = argv[i + 1] if i + 1 < len(argv) else None
        argv = argv[:i] + argv[i + 2:]
        if messages is None:
            print("--outcomes needs a file of messages", file=sys.stderr)
            return 2
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
        if parse_only:
            print(f"PASSED (parse only): {len(statements)} statements parse on ClickHouse {r.version}")
            return 0
        dbs = [m.group(1).strip("`") for f in formatted
               for m in [re.match(r"CREATE DATABASE (?:IF NOT EXISTS )?(\S+)", f)] if m]
        if len(dbs) != 1:
            raise CheckFailed(f"expected one CREATE DATABASE, found {dbs}")
        db = dbs[0]
        kafka = [(table_name(f), f) for f in formatted if is_kafka_table(f)]
        if not kafka:
            raise CheckFailed("no Kafka engine table in the DDL")
        if messages is not None:
            execute_all(r, statements, formatted, quiet=True)
            outcomes(r, db, messages)
            return 0
        check_kafka_settings(r, kafka)
        execute_all(r, statements, formatted)
        # Every row that reached a target table, as (payload, copies): the rollups' expectation.
        landed = {"sales": [], "stock_movements": []}
        check_behaviour(r, db, kafka, landed)
        check_rollups(r, db, landed, "the views on the target tables (cascade)")
        check_rejects(r, db, landed)
        check_duplicates(r, db, landed)
        check_corrections(r, db, landed)
        check_seal(r, db, landed)
        check_edge_cases(r, db, kafka, landed)
    except CheckFailed as e:
        print(f"FAILED: {e}")
        return 1
    print(f"PASSED: {len(statements)} statements parse; Kafka settings valid; "
          f"DDL runs on ClickHouse {r.version}; rows reach the targets exactly; "
          f"{len(REJECTS)} refused messages reach dead_letter only, with their bytes; the duplicates ledgers and the rollup check correct the rollups exactly; "
          f"the seals fill the hour tiers exactly, once, and the page's queries over them agree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
