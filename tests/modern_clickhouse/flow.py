#!/usr/bin/env python3
"""The current-ClickHouse flow run whole in chDB, every figure compared with the generator's
ledger.

Usage:
    cargo run -q -p pipeline -- schema print --for-version 25.8 \\
        | python3 flow.py MESSAGES LEDGER
    python3 flow.py MESSAGES LEDGER ddl.sql

MESSAGES: what a topic holds, one JSON line per message as check_ddl.py --outcomes takes them
(table, topic, partition, offset, hex: the message's bytes). LEDGER: `pipeline generate
--json`'s summary (per topic: events, bad, quantity, total_cents). Made by
crates/pipeline/tests/modern_flow.rs from a real topic.

What the stand-ins receive: on current ClickHouse each Kafka table reads every message whole
(kafka_format RawBLOB, kafka_handle_error_mode 'stream'): the engine hands `raw` = the
message's exact bytes and the virtual columns to the one parse view, which does every JSON
check. So feeding the bytes into the stand-in is exactly what the engine does; no JSONEachRow
decision on `_error` is needed, because the engine never parses JSON on this path (`_error`
is only set for a message RawBLOB cannot read at all, which check_ddl.py's rejects cover).

In order (DDL parsed and executed as check_ddl.py steps 1 and 3 do):
  input     the messages against the ledger: good ones (a JSON object whose event_id does
            not start with "bad-", the generator's mark) and bad ones per topic, and the good
            ones' quantity and total in cents;
  landed    every message fed, one block per Kafka table: raw rows, quantity and cents per
            target = ledger; dead_letter rows per topic = ledger `bad`; each good message one
            row at its topic/partition/offset, each bad one one dead letter there, with its
            exact bytes and a reason;
  dedup     a duplicate-check pass (crates/reconcile/sql, run as duplicates.rs runs it:
            watermark, new parts, time range, record, save state) records nothing; the
            good messages of partition 0 below offset REDELIVER_BELOW are fed again (same
            topic/partition/offset, as the engine redelivers after a crash), then once more;
            each pass records exactly the new copies, a last one nothing;
  rollups   the rollup check's SQL (correct_*_by_minute.sql over every minute, then
            seal_customers_by_minute.sql, as rollups.rs runs them; stock_levels_drift.sql)
            finds nothing to correct; the minute rollups' totals = ledger;
  page      EVERY query of crates/query/sql (as crates/query/src/lib.rs renders it: single
            server, tiers from tiers/read.sql and read_customers.sql): overview_sales,
            customers and movement_mix for each range (15m, 1h, 24h, 7d; windows as
            range.rs computes them)
            at chDB's now() and again "cut" (the period boundary right after the data's
            newest minute, so it cuts the data's hour), last_24_hours + sales_hourly,
            stock_top, recent_sales, stock_levels and stock_levels_by_product,
            existing_tables + table_rows (status), dead_letters, audit_table,
            landed_event_ids; run before the hours are sealed ("minutes") and after ("hours");
  seal      the hour seals (seal_hours of check_ddl.py: every hour the data touches, the
            current one too, as the data is still) fill the hour tiers with the ledger's
            totals; a second seal writes nothing.

The overview's per-bucket figures of the minute-bucket ranges (15m, 1h) are compared per
minute before the seals and per hour after them: a sealed hour comes back from the hour tier
as one row at the hour's first minute (which is why 24h, whose middle hours are sealed, has
hour buckets like 7d).

Where each figure's expectation comes from:
  the ledger: raw and rollup totals, dead letters per topic, the status row counts, the 7d
            overview's totals and movement mix, the 24 hours' sums, stock moved in total;
  Python, from the good messages themselves (where the ledger has no such figure): every
            per-range, per-bucket, per-category, per-movement-type and per-hour figure, the
            previous period, stock levels per warehouse and product, the top five, the last
            ten sales, which event ids are recent, distinct customers. The unique-customers
            tile is an estimate (uniqCombined(13)): it must equal that estimator run by chDB
            over the distinct customer ids Python took from the good messages.

Each check prints `ok   <name>: <figure>` or `FAILED <name>: have X want Y`; exit 1 if any
failed, 2 on a usage error or when chDB is missing. Nothing is a warning.
"""

import contextlib
import datetime
import decimal
import io
import json
import sys
import zoneinfo

from check_ddl import (
    INSTALL_HINT, QUERY_SQL, CheckFailed, Runner, execute_all, is_kafka_table, parse_all,
    query_sql, reconcile_sql, seal_hours, split_statements, sql_string, table_name,
)

D = decimal.Decimal
TARGETS = {"sales_kafka": ("sales", "sales"), "warehouse_kafka": ("warehouse", "stock_movements")}
RANGES = [("15m", 900, 60), ("1h", 3600, 60), ("24h", 86400, 3600), ("7d", 604800, 3600)]
REDELIVER_BELOW = 60
MOVES = ("supply", "relocation", "write_off")


class Checks:
    def __init__(self):
        self.count, self.failed = 0, []

    def check(self, name, have, want, show=None):
        self.count += 1
        if have == want:
            print(f"ok   {name}: {show if show is not None else brief(have)}")
        else:
            self.failed.append(name)
            if isinstance(have, dict) and isinstance(want, dict):
                keys = [k for k in sorted(set(have) | set(want), key=str)
                        if have.get(k) != want.get(k)]
                have = {k: have.get(k) for k in keys[:5]}
                want = {k: want.get(k) for k in keys[:5]}
            print(f"FAILED {name}: have {brief(have)} want {brief(want)}")


def brief(x, limit=400):
    text = str(x)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def rows(r, sql):
    return [json.loads(line) for line in r.run(sql, "JSONEachRow").splitlines() if line.strip()]


def one(r, sql):
    return r.run(sql).strip()


# ---------------------------------------------------------------------------- the input

class Message:
    def __init__(self, m, tz):
        self.table, self.topic = m["table"], m["topic"]
        self.place = (m["topic"], int(m["partition"]), int(m["offset"]))
        self.raw = bytes.fromhex(m["hex"])
        self.event = None
        try:
            e = json.loads(self.raw.decode("utf-8"), parse_float=D)
        except (UnicodeDecodeError, ValueError):
            return
        if isinstance(e, dict) and isinstance(e.get("event_id"), str) \
                and not e["event_id"].startswith("bad-"):
            self.event = e
            local = datetime.datetime.strptime(e["event_time"], "%Y-%m-%d %H:%M:%S")
            self.ts = int(local.replace(tzinfo=tz).timestamp())
            self.hour = int(local.replace(minute=0, second=0, tzinfo=tz).timestamp())
            self.minute = self.ts - self.ts % 60

    def cents(self):
        return int(D(self.event["total"]) * 100)


def hexed(m):
    return json.dumps({"hex": m.raw.hex(), "topic": m.place[0], "partition": m.place[1],
                       "offset": m.place[2]})


def feed(r, db, messages):
    """One block per Kafka table, each message's bytes as RawBLOB hands them over (as
    check_ddl.py's outcomes() feeds them)."""
    for table in sorted({m.table for m in messages}):
        block = "\n".join(hexed(m) for m in messages if m.table == table)
        r.run(f"INSERT INTO `{db}`.`{table}` (raw, _topic, _partition, _offset, _timestamp_ms, "
              f"_key, _error, _raw_message) SELECT unhex(hex), topic, partition, offset, NULL, "
              f"'', '', '' FROM format(JSONEachRow, 'hex String, topic String, partition UInt64, "
              f"offset UInt64', {sql_string(block)})")


def check_input(c, messages, ledger):
    for kafka, (label, _) in TARGETS.items():
        mine = [m for m in messages if m.table == kafka]
        topics = {m.topic for m in mine}
        if len(topics) != 1 or next(iter(topics)) not in ledger:
            raise CheckFailed(f"{kafka}: messages of topics {topics}, ledger has {list(ledger)}")
        want = ledger[next(iter(topics))]
        good = [m for m in mine if m.event]
        c.check(f"input {label} events", len(good), want["events"])
        c.check(f"input {label} bad", len(mine) - len(good), want["bad"])
        c.check(f"input {label} quantity", sum(m.event["quantity"] for m in good),
                want["quantity"])
        if label == "sales":
            c.check("input sales total_cents", sum(m.cents() for m in good), want["total_cents"])


# ---------------------------------------------------------------------------- landing

def check_landed(c, r, db, messages, ledger):
    topic_of = {k: next(m.topic for m in messages if m.table == k) for k in TARGETS}
    for kafka, (label, target) in TARGETS.items():
        want = ledger[topic_of[kafka]]
        have = rows(r, f"SELECT count() AS n, sum(quantity) AS q, "
                       f"{'toInt64(sum(total) * 100)' if target == 'sales' else '0'} AS c "
                       f"FROM `{db}`.{target}")[0]
        c.check(f"{target} rows", int(have["n"]), want["events"])
        c.check(f"{target} quantity", int(have["q"]), want["quantity"])
        if target == "sales":
            c.check("sales total_cents", int(have["c"]), want["total_cents"])
        placed = {(d["kafka_topic"], int(d["kafka_partition"]), int(d["kafka_offset"])):
                  int(d["n"]) for d in rows(
                      r, f"SELECT kafka_topic, kafka_partition, kafka_offset, count() AS n "
                         f"FROM `{db}`.{target} GROUP BY 1, 2, 3")}
        wanted = {m.place: 1 for m in messages if m.table == kafka and m.event}
        c.check(f"{target} placement", placed, wanted,
                f"each of {len(wanted)} good messages one row at its topic/partition/offset")
        dead = int(one(r, f"SELECT count() FROM `{db}`.dead_letter "
                          f"WHERE topic = {sql_string(topic_of[kafka])}"))
        c.check(f"dead_letter {label}", dead, want["bad"])
    letters = rows(r, f"SELECT topic, partition, offset, hex(raw) AS raw, reason "
                      f"FROM `{db}`.dead_letter")
    have = {(d["topic"], int(d["partition"]), int(d["offset"])): [] for d in letters}
    for d in letters:
        have[(d["topic"], int(d["partition"]), int(d["offset"]))].append(
            (d["raw"].lower(), bool(d["reason"])))
    want = {m.place: [(m.raw.hex(), True)] for m in messages if not m.event}
    reasons = len({d["reason"] for d in letters})
    c.check("dead_letter placement", have, want,
            f"each of {len(want)} bad messages one row at its place, its exact bytes and a "
            f"reason ({reasons} distinct reasons)")


# ---------------------------------------------------------------------------- duplicates

def duplicates_pass(r, db):
    """One pass of crates/reconcile/src/duplicates.rs over both tables: ledger rows written."""
    recorded = {}
    for table, record in (("sales", "record_sales_duplicates.sql"),
                          ("stock_movements", "record_stock_movements_duplicates.sql")):
        mark = int(one(r, reconcile_sql("watermark.sql", db, key=sql_string(table))) or 0)
        parts = rows(r, reconcile_sql("new_parts.sql", db, watermark=mark, table=table))
        newest = max([int(p["max_block"]) for p in parts], default=mark)
        recorded[table] = 0
        if not parts or newest <= mark:
            continue
        span = rows(r, reconcile_sql("time_range.sql", db, parts=", ".join(
            sql_string(p["name"]) for p in parts), table=table))[0]
        if int(span["n"]) > 0:
            count = f"SELECT count() FROM `{db}`.{table}_duplicates"
            before = int(one(r, count))
            r.run(reconcile_sql(record, db, lo=span["lo"], hi=span["hi"]))
            recorded[table] = int(one(r, count)) - before
        # As crates/reconcile/src/state.rs saves a position.
        r.run(reconcile_sql("save_state.sql", db, rows=f"({sql_string(table)}, {newest}, now())"))
    return recorded


def check_duplicates(c, r, db, messages, ledger):
    """Two redeliveries of the same good messages (a second and then a third copy): each
    pass records exactly the copies that are new. The copies removed per table."""
    none = {"sales": 0, "stock_movements": 0}
    c.check("dedup first pass", duplicates_pass(r, db), none)
    again = [m for m in messages if m.event and m.place[1] == 0 and m.place[2] < REDELIVER_BELOW]
    copies = {t: sum(1 for m in again if TARGETS[m.table][1] == t) for t in none}
    for n, (label, recorded) in enumerate((("redelivered", "dedup records the copies"),
                                           ("redelivered again", "dedup records the new copies")),
                                          1):
        feed(r, db, again)
        for t, k in copies.items():
            topic = next(m.topic for m in messages if TARGETS[m.table][1] == t)
            total = int(one(r, f"SELECT count() FROM `{db}`.{t}"))
            c.check(f"{label} {t} rows", total, ledger[topic]["events"] + n * k,
                    f"{total} ({k} copies redelivered)")
        c.check(recorded, duplicates_pass(r, db), copies)
    removed = {t: 2 * k for t, k in copies.items()}
    c.check("dedup copies_removed", {t: int(one(
        r, f"SELECT sum(copies_removed) FROM `{db}`.{t}_duplicates")) for t in none}, removed)
    c.check("dedup last pass", duplicates_pass(r, db), none)
    return removed


# ---------------------------------------------------------------------------- rollups

def rollup_check(r, db):
    """The rollup check's SQL over every minute (rollups.rs: correct, then seal the minutes'
    customers), then the stock_levels drift: the correction rows written."""
    tables = ("sales_by_minute_corrections", "stock_by_minute_corrections",
              "stock_levels_corrections")
    before = {t: int(one(r, f"SELECT count() FROM `{db}`.{t}")) for t in tables}
    for raw, rollup, correct, seal in (
            ("sales", "sales_by_minute", "correct_sales_by_minute.sql",
             "tiers/seal_customers_by_minute.sql"),
            ("stock_movements", "stock_by_minute", "correct_stock_by_minute.sql", None)):
        minutes = [int(x) for x in r.run(
            f"SELECT m FROM (SELECT DISTINCT toUInt32(toStartOfMinute(event_time)) AS m "
            f"FROM `{db}`.{raw} UNION DISTINCT SELECT DISTINCT toUInt32(minute) AS m "
            f"FROM `{db}`.{rollup}) ORDER BY m").split()]
        values = {"lo": minutes[0], "hi": minutes[-1] + 60,
                  "minutes": ", ".join(map(str, minutes))}
        r.run(reconcile_sql(correct, db, **values))
        if seal:
            r.run(reconcile_sql(seal, db, **values))
    drift = json.loads(r.run(reconcile_sql("stock_levels_drift.sql", db), "JSONCompact"))["data"]
    if drift:
        r.run(reconcile_sql("correct_stock_levels.sql", db, rows=", ".join(
            f"({sql_string(w)}, {p}, {sql_string(n)}, {s}, {rl}, {wo})"
            for w, p, n, s, rl, wo in drift)))
    return {t: int(one(r, f"SELECT count() FROM `{db}`.{t}")) - before[t] for t in tables}


def rollup_totals(r, db, sales_table, stock_table):
    s = rows(r, f"SELECT toInt64(sumMerge(orders)) AS orders, toInt64(sumMerge(items)) AS items, "
                f"toInt64(sumMerge(revenue) * 100) AS cents FROM `{db}`.{sales_table}")[0]
    m = rows(r, f"SELECT toInt64(sumMerge(events)) AS events, "
                f"toInt64(sumMerge(quantity)) AS quantity FROM `{db}`.{stock_table}")[0]
    return ({k: int(v) for k, v in s.items()}, {k: int(v) for k, v in m.items()})


def check_rollups(c, r, db, expect):
    c.check("rollup check corrections", rollup_check(r, db),
            {"sales_by_minute_corrections": 0, "stock_by_minute_corrections": 0,
             "stock_levels_corrections": 0})
    sales, moves = rollup_totals(r, db, "sales_by_minute", "stock_by_minute")
    c.check("sales_by_minute totals", sales, expect["sales"])
    c.check("stock_by_minute totals", moves, expect["moves"])
    c.check("sales_by_minute customers",
            int(one(r, f"SELECT uniqExactMerge(customers) FROM `{db}`.sales_by_minute")),
            len(expect["customers"]))
    c.check("stock_levels moved", int(one(
        r, f"SELECT sum(supplied + relocated + written_off) FROM `{db}`.stock_levels")),
        expect["moves"]["quantity"])


def check_seal(c, r, db, expect, estimate):
    failures = []
    seal_hours(r, db, failures)
    if failures:
        raise CheckFailed(f"the hour seals fail: {failures}")
    sales, moves = rollup_totals(r, db, "sales_by_hour", "stock_by_hour")
    c.check("sales_by_hour totals", sales, expect["sales"])
    c.check("stock_by_hour totals", moves, expect["moves"])
    c.check("customers_by_hour customers", int(one(
        r, f"SELECT uniqCombinedMerge(13)(customers) FROM `{db}`.customers_by_hour")),
        estimate(expect["customers"]))
    tiers = ("sales_by_hour", "stock_by_hour", "customers_by_hour")
    before = {t: int(one(r, f"SELECT count() FROM `{db}`.{t}")) for t in tiers[:2]}
    seal_hours(r, db, failures)
    c.check("seal again writes nothing",
            {t: int(one(r, f"SELECT count() FROM `{db}`.{t}")) for t in tiers[:2]}, before)


# ---------------------------------------------------------------------------- the page

def page_sql(name, db, **values):
    """A query of crates/query/sql rendered as Queries renders it on one server
    (`distributed` off); files without @if blocks go through check_ddl.query_sql."""
    text = (QUERY_SQL / name).read_text(encoding="utf-8")
    if "-- @if" not in text:
        return query_sql(name, db, **values)
    keep, out = True, []
    for line in text.splitlines():
        d = line.strip()
        if d.startswith("-- @if "):
            if d != "-- @if distributed":
                raise CheckFailed(f"{name}: unknown feature in {d!r}")
            keep = False
        elif d == "-- @else":
            keep = not keep
        elif d == "-- @endif":
            keep = True
        elif keep:
            out.append(line)
    text = "\n".join(out)
    for k, v in dict(values, db=f"`{db}`", **{"db:string": sql_string(db)}).items():
        text = text.replace("{{" + k + "}}", str(v))
    if "{{" in text:
        raise CheckFailed(f"{name}: a placeholder left unrendered")
    return text


def tier(db, which, since, split):
    """Queries::tier: a rollup from `since` on, from the hour tier where sealed."""
    hours, minutes, columns = {
        "sales": ("sales_by_hour", "sales_by_minute",
                  "category, product_id, orders, items, revenue"),
        "stock": ("stock_by_hour", "stock_by_minute",
                  "product_id, product_name, movement_type, events, quantity"),
        "customers": ("customers_by_hour", "customers_by_minute", "customers"),
    }[which]
    sealed = query_sql("tiers/read.sql", db, since=since, split=split, hours=hours,
                       minutes=minutes, columns=columns)
    if which != "customers":
        return sealed
    return query_sql("tiers/read_customers.sql", db, since=since, split=split, sealed=sealed)


def window(now, seconds, bucket):
    """range.rs Range::window."""
    frm = now - now % 60 + 60 - seconds
    return frm, frm - seconds, bucket


def hour_start(t, tz):
    return int(datetime.datetime.fromtimestamp(t, tz).replace(minute=0, second=0).timestamp())


def per_hour(by_t, tz):
    out = {}
    for t, v in by_t.items():
        h = hour_start(t, tz)
        out[h] = tuple(a + b for a, b in zip(out.get(h, (0,) * len(v)), v))
    return out


def check_overview(c, r, db, phase, now, sales, moves, ledger_totals, estimate, tz):
    """Each range at chDB's now(), and again ("cut") at a now whose period starts right
    after the newest minute of the data (at it, if that ends an hour): the boundary between
    the two periods then cuts the data's hour, which the tiers must read by the minute."""
    newest = max(m.minute for m in sales + moves)
    boundary = newest + 60 if hour_start(newest + 60, tz) == hour_start(newest, tz) else newest
    for (label, seconds, bucket), cut in [(x, cut) for x in RANGES for cut in (False, True)]:
        frm, prev, bucket = window(boundary + seconds - 30 if cut else now, seconds, bucket)
        label += " cut" if cut else ""
        name = f"{phase} overview {label}"
        got = rows(r, page_sql("overview_sales.sql", db, **{
            "from": frm, "sales": tier(db, "sales", prev, frm),
            "bucket": "toStartOfHour" if bucket == 3600 else "toStartOfMinute"}))
        cur = [s for s in sales if s.ts >= frm]
        old = [s for s in sales if prev <= s.ts < frm]

        def sums(evs):
            return (len(evs), sum(e.event["quantity"] for e in evs), sum(e.cents() for e in evs))

        def add(into, key, row):
            o, i, k = into.get(key, (0, 0, 0))
            into[key] = (o + int(row["orders"]), i + int(row["items"]), k + int(row["kopecks"]))

        have_t, have_cat, have_prev = {}, {}, {}
        for row in got:
            if int(row["current"]) == 1:
                add(have_t, int(row["t"]), row)
                add(have_cat, row["category_name"], row)
            else:
                add(have_prev, "previous", row)
        want_t, want_cat = {}, {}
        for e in cur:
            t = e.hour if bucket == 3600 else e.minute
            want_t[t] = tuple(a + b for a, b in zip(want_t.get(t, (0, 0, 0)), sums([e])))
            k = e.event["category"]
            want_cat[k] = tuple(a + b for a, b in zip(want_cat.get(k, (0, 0, 0)), sums([e])))
        have_cur = tuple(map(sum, zip(*have_t.values()))) if have_t else (0, 0, 0)
        c.check(f"{name} orders items kopecks", have_cur, sums(cur))
        c.check(f"{name} previous", have_prev.get("previous", (0, 0, 0)), sums(old))
        if phase == "hours" and bucket == 60:
            # A sealed hour comes back as one row at its first minute: compared per hour.
            have_t, want_t = per_hour(have_t, tz), per_hour(want_t, tz)
        c.check(f"{name} per bucket", have_t, want_t,
                f"{len(have_t)} {'hour' if phase == 'hours' else 'bucket'}(s) as the messages")
        c.check(f"{name} per category", have_cat, want_cat,
                f"{len(have_cat)} categories as the messages")
        if label == "7d":  # at now(): everything is current
            c.check(f"{name} = ledger", have_cur, ledger_totals["sales"])
        got = rows(r, page_sql("customers.sql", db, **{
            "from": frm, "customers": tier(db, "customers", prev, frm)}))
        have = {int(x["current"]): int(x["unique_customers"]) for x in got}
        want_cur = {s.event["customer_id"] for s in cur}
        want_old = {s.event["customer_id"] for s in old}
        c.check(f"{name} customers", (have.get(1, 0), have.get(0, 0)),
                (estimate(want_cur), estimate(want_old)),
                f"{have.get(1, 0)} now, {have.get(0, 0)} before (exact {len(want_cur)}, "
                f"{len(want_old)})")
        got = rows(r, page_sql("movement_mix.sql", db, stock=tier(db, "stock", frm, frm)))
        have = {x["movement_type"]: (int(x["events"]), int(x["quantity"])) for x in got}
        want = {}
        for m in moves:
            if m.ts >= frm:
                k = m.event["movement_type"]
                e, q = want.get(k, (0, 0))
                want[k] = (e + 1, q + m.event["quantity"])
        c.check(f"{name} movement mix", have, want)
        if label == "7d":
            total = tuple(map(sum, zip(*have.values()))) if have else (0, 0)
            c.check(f"{name} movement mix = ledger", total, ledger_totals["moves"])


def check_page(c, r, db, phase, messages, ledger, expect, estimate, tz):
    now = int(one(r, "SELECT toUInt32(now())"))
    sales = [m for m in messages if m.event and m.table == "sales_kafka"]
    moves = [m for m in messages if m.event and m.table == "warehouse_kafka"]
    totals = {"sales": (expect["sales"]["orders"], expect["sales"]["items"],
                        expect["sales"]["cents"]),
              "moves": (expect["moves"]["events"], expect["moves"]["quantity"])}
    check_overview(c, r, db, phase, now, sales, moves, totals, estimate, tz)

    # /api/sales: the last 24 hours, per hour.
    hours = rows(r, page_sql("last_24_hours.sql", db))[0]
    t = [int(x) for x in hours["t"]]
    first = t[0]
    labels = [datetime.datetime.fromtimestamp(x, tz).strftime("%H:%M") for x in t]
    c.check(f"{phase} last 24 hours", (t[1:] == [x + 3600 for x in t[:-1]], len(t),
                                      t[-1] <= now < t[-1] + 3600 + 5, hours["labels"]),
            (True, 24, True, labels), f"{labels[0]} .. {labels[-1]}")
    got = rows(r, page_sql("sales_hourly.sql", db, sales=tier(db, "sales", first, first)))
    have = {int(x["t"]): (int(x["quantity"]), D(repr(float(x["revenue"])))) for x in got}
    want = {}
    for s in sales:
        if s.ts >= first:
            q, v = want.get(s.hour, (0, D(0)))
            want[s.hour] = (q + s.event["quantity"], v + D(s.event["total"]))
    c.check(f"{phase} sales hourly per hour", have, want, f"{len(have)} hour(s) as the messages")
    c.check(f"{phase} sales hourly = ledger",
            (sum(q for q, _ in have.values()), int(sum(v for _, v in have.values()) * 100)),
            (expect["sales"]["items"], expect["sales"]["cents"]))

    # /api/stock: the five products that moved most over 7 days.
    since = now - 7 * 86400
    got = rows(r, page_sql("stock_top.sql", db, stock=tier(db, "stock", since, since)))
    have = [(x["product_name"], int(x["incoming"]), int(x["outgoing"])) for x in got]
    per = {}
    for m in moves:
        if m.ts >= since:
            k = (m.event["product_id"], m.event["product_name"])
            i, o = per.get(k, (0, 0))
            q = m.event["quantity"]
            per[k] = (i + q, o) if m.event["movement_type"] == "supply" else (i, o + q)
    top = sorted(per.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0][0]))[:5]
    c.check(f"{phase} stock top", have, [(k[1], i, o) for k, (i, o) in top])

    # /api/recent_sales: the last ten, each event once.
    got = rows(r, page_sql("recent_sales.sql", db))
    have = [(int(x["product_id"]), x["product_name"], int(x["quantity"]),
             D(repr(float(x["price"]))), x["event_time"]) for x in got]
    last = sorted(sales, key=lambda s: (-s.ts, s.event["event_id"]))[:10]
    c.check(f"{phase} recent sales", have,
            [(s.event["product_id"], s.event["product_name"], s.event["quantity"],
              D(s.event["price"]), s.event["event_time"]) for s in last],
            f"{len(have)} sales, newest first")

    # Stock on hand, per warehouse and per warehouse and product.
    levels = {}
    for m in moves:
        for key in (m.event["warehouse"], (m.event["warehouse"], m.event["product_id"],
                                           m.event["product_name"])):
            s = levels.setdefault(key, {k: 0 for k in MOVES})
            s[m.event["movement_type"]] += m.event["quantity"]

    def level(s):
        return (s["supply"], s["relocation"], s["write_off"],
                s["supply"] - s["relocation"] - s["write_off"])
    got = rows(r, page_sql("stock_levels.sql", db))
    have = {x["warehouse"]: tuple(int(x[k]) for k in ("supplied", "relocated", "written_off",
                                                        "level")) for x in got}
    c.check(f"{phase} stock levels", have,
            {k: level(s) for k, s in levels.items() if isinstance(k, str)},
            f"{len(have)} warehouses as the messages")
    c.check(f"{phase} stock levels = ledger", sum(sum(v[:3]) for v in have.values()),
            expect["moves"]["quantity"])
    got = rows(r, page_sql("stock_levels_by_product.sql", db))
    have = {(x["warehouse"], int(x["product_id"]), x["product_name"]): tuple(
        int(x[k]) for k in ("supplied", "relocated", "written_off", "level")) for x in got}
    c.check(f"{phase} stock levels by product", have,
            {k: level(s) for k, s in levels.items() if isinstance(k, tuple)},
            f"{len(have)} warehouse/product keys as the messages")

    # /api/status: the tables and the events each holds once.
    names = [x["name"] for x in rows(r, page_sql("existing_tables.sql", db))]
    existing = [n for n in names if not n.startswith("schema_")]
    c.check(f"{phase} existing tables", sorted(existing), expect["objects"],
            f"{len(existing)} objects, every one the DDL creates")
    counts = {x["table"]: int(x["rows"]) for x in rows(r, page_sql("table_rows.sql", db))}
    ready = all(t in existing for t in ("sales", "stock_movements"))
    status = "error" if not ready else ("ready" if sum(counts.values()) else "waiting_for_data")
    c.check(f"{phase} status", (ready, counts.get("sales"), counts.get("stock_movements"),
                                status),
            (True, expect["sales"]["orders"], expect["moves"]["events"], "ready"))
    c.check(f"{phase} dead letters", {x["topic"]: int(x["rows"]) for x in rows(
        r, page_sql("dead_letters.sql", db))}, {k: v["bad"] for k, v in ledger.items()})
    # The page's panel: the latest 50, newest first, each with its message's first bytes.
    bad = {m.place: m.raw for m in messages if not m.event}
    got = rows(r, page_sql("latest_dead_letters.sql", db))
    have = [((x["topic"], int(x["partition"]), int(x["offset"])), x["raw_hex"].lower(),
             int(x["bytes"])) for x in got]
    order = [(-int(x["received_at"]), x["topic"], int(x["partition"]), -int(x["offset"]))
             for x in got]
    c.check(f"{phase} latest dead letters", (len(have), order == sorted(order),
                                             all(p in bad for p, _, _ in have)),
            (min(50, len(bad)), True, True), "50 at most, newest first, each a bad message")
    c.check(f"{phase} latest dead letters bytes", [(h, n) for _, h, n in have],
            [(bad[p][:800].hex(), len(bad[p])) for p, _, _ in have],
            "each row's first 800 bytes and length are its message's")

    # `pipeline audit`'s view of each table.
    for table, rollup, column, want in (
            ("sales", "sales_by_minute", "orders", expect["sales"]["orders"]),
            ("stock_movements", "stock_by_minute", "events", expect["moves"]["events"])):
        a = rows(r, page_sql("audit_table.sql", db, table=table, rollup=rollup,
                             count_column=column))[0]
        c.check(f"{phase} audit {table}", {k: int(v) for k, v in a.items()},
                {"rows": want + expect["copies"][table], "unique_events": want,
                 "counted": want, "corrections": 0})

    # The latency probe's lookup: which ids are queryable (events of the last 10 minutes).
    sample = sales[::97] + moves[::97]
    ids = ", ".join(sql_string(m.event["event_id"]) for m in sample)
    for table, kafka in (("sales", "sales_kafka"), ("stock_movements", "warehouse_kafka")):
        at = int(one(r, "SELECT toUInt32(now())"))
        got = {x["event_id"] for x in rows(r, page_sql("landed_event_ids.sql", db, table=table,
                                                       ids=ids))}
        after = int(one(r, "SELECT toUInt32(now())"))
        mine = [m for m in sample if m.table == kafka]
        # An event on the 10-minute edge while the query ran may go either way.
        edge = {m.event["event_id"] for m in mine if at - 600 <= m.ts < after - 600 + 1}
        want = {m.event["event_id"] for m in mine if m.ts >= after - 600} - edge
        c.check(f"{phase} landed event ids {table}", got - edge, want,
                f"{len(got)} of {len(mine)} sampled ids (those of the last 10 minutes)")


# ---------------------------------------------------------------------------- main

def main(argv):
    if len(argv) not in (3, 4) or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    try:
        import chdb
        from chdb import session as chdb_session
    except ImportError:
        print(INSTALL_HINT.format(exe=sys.executable), file=sys.stderr)
        return 2
    ddl = open(argv[3], encoding="utf-8").read() if len(argv) == 4 and argv[3] != "-" \
        else sys.stdin.read()
    with open(argv[2], encoding="utf-8") as f:
        ledger = {t["topic"]: t for t in json.load(f)["topics"]}
    r = Runner(chdb_session.Session())
    r.version = one(r, "SELECT version()")
    tz = zoneinfo.ZoneInfo(one(r, "SELECT timezone()"))
    print(f"chDB {getattr(chdb, '__version__', '?')} (ClickHouse {r.version}), "
          f"time zone {tz.key}")
    with open(argv[1], encoding="utf-8") as f:
        messages = [Message(json.loads(line), tz) for line in f if line.strip()]
    c = Checks()
    try:
        statements = split_statements(ddl)
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                formatted = parse_all(r, statements)
        except CheckFailed:
            print(quiet.getvalue())
            raise
        dbs = {table_name(f).rpartition(".")[0].strip("`") for f in formatted
               if table_name(f)}
        if len(dbs) != 1:
            raise CheckFailed(f"expected the objects of one database, found {dbs}")
        db = dbs.pop()
        if not any(is_kafka_table(f) for f in formatted):
            raise CheckFailed("no Kafka engine table in the DDL")
        execute_all(r, statements, formatted, quiet=True)
        r.run("SET max_query_size = 1000000000")
        objects = sorted({table_name(f).rpartition(".")[2].strip("`") for f in formatted
                          if table_name(f) and "schema_" not in table_name(f)})
        print(f"DDL: {len(statements)} statements run, Kafka tables as stand-ins, "
              f"database {db}; {len(messages)} messages")

        check_input(c, messages, ledger)
        good = [m for m in messages if m.event]
        sales = [m for m in good if m.table == "sales_kafka"]
        moves = [m for m in good if m.table == "warehouse_kafka"]
        expect = {
            "sales": {"orders": len(sales), "items": sum(m.event["quantity"] for m in sales),
                      "cents": sum(m.cents() for m in sales)},
            "moves": {"events": len(moves), "quantity": sum(m.event["quantity"] for m in moves)},
            "customers": {m.event["customer_id"] for m in sales},
            "objects": objects,
        }
        sales_topic = sales[0].topic if sales else None
        moves_topic = moves[0].topic if moves else None
        if (expect["sales"]["orders"], expect["sales"]["items"], expect["sales"]["cents"]) != (
                ledger[sales_topic]["events"], ledger[sales_topic]["quantity"],
                ledger[sales_topic]["total_cents"]) or (
                expect["moves"]["events"], expect["moves"]["quantity"]) != (
                ledger[moves_topic]["events"], ledger[moves_topic]["quantity"]):
            raise CheckFailed("the messages do not add up to the ledger (see input above)")

        def estimate(ids):
            """uniqCombined(13), the page's estimator, over exactly these customer ids."""
            if not ids:
                return 0
            return int(one(r, "SELECT uniqCombined(13)(c) FROM (SELECT arrayJoin([" +
                           ", ".join(sql_string(i) for i in sorted(ids)) + "]) AS c)"))

        feed(r, db, messages)
        check_landed(c, r, db, messages, ledger)
        expect["copies"] = check_duplicates(c, r, db, messages, ledger)
        check_rollups(c, r, db, expect)
        check_page(c, r, db, "minutes", messages, ledger, expect, estimate, tz)
        check_seal(c, r, db, expect, estimate)
        check_page(c, r, db, "hours", messages, ledger, expect, estimate, tz)
    except CheckFailed as e:
        print(f"FAILED setup: {e}")
        return 1
    if c.failed:
        print(f"FAILED: {len(c.failed)} of {c.count} checks: {', '.join(c.failed)}")
        return 1
    print(f"PASSED: {c.count} checks on ClickHouse {r.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
