#!/usr/bin/env python3
"""Re-creating the ingest objects on current ClickHouse while a backlog waits loses nothing.

Usage: python3 recreate_under_backlog.py PLAN.json < ddl.sql

The DDL (what a database holds before) runs in chDB with each Kafka table replaced by a Null
stand-in that behaves as the engine does about streaming: it is fed a block of waiting
messages before and after every statement of the plan (`schema::plan_ingest`: PLAN.json is
its statements, in order), but only while at least one view reads it; a Kafka table with no
view reads nothing, and its messages wait in the topic. Then the rest of the backlog. Every
message fed must end up exactly once where it belongs: a good sale in `sales` and counted in
`sales_by_minute`, a bad one in `dead_letter`. A block delivered while only some of a topic's
views exist (say the dead-letter view, not yet the one into `sales`) shows as good events lost.

Exit status: 0 nothing lost, 1 something lost or a statement failed, 2 usage error.
"""

import json
import sys

from check_ddl import (CheckFailed, Runner, SAMPLES, is_kafka_table, json_row, kafka_row,
                       parse_all, split_name, split_statements, sql_string, stand_in,
                       table_name)

BLOCK = 3  # messages per topic per delivery: two good sales and one bad


def null_stand_in(fmt):
    return stand_in(fmt).replace("ENGINE = MergeTree\nORDER BY tuple()", "ENGINE = Null")


def run(r, stmt):
    fmt = r.run(f"SELECT formatQuery({sql_string(stmt)})").rstrip("\n")
    r.run(null_stand_in(fmt) if is_kafka_table(fmt) else stmt)


def backlog(n):
    """n blocks of sales messages: (raw, good?) with unique event ids."""
    base, virt = SAMPLES["sales_kafka"]["messages"][0]
    out = []
    for i in range(n * BLOCK):
        if i % BLOCK == BLOCK - 1:
            out.append(('{"event_id": "bad-%d", "quantity": ' % i, False))
        else:
            out.append((json_row(dict(base, event_id=f"backlog-{i:05d}")), True))
    return [(raw, good, dict(virt, _offset=i)) for i, (raw, good) in enumerate(out)]


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    from chdb import session as chdb_session
    plan = json.load(open(argv[1], encoding="utf-8"))
    statements = split_statements(sys.stdin.read())
    r = Runner(chdb_session.Session())
    formatted = parse_all(r, statements)
    db = [s for s in formatted if s.startswith("CREATE DATABASE")][0].split()[-1].strip("`")
    kafka = split_name([table_name(f) for f in formatted if is_kafka_table(f)
                        and "sales" in table_name(f)][0])[1]
    for stmt in statements:
        run(r, stmt)
    waiting = backlog(len(plan) * 2 + 4)
    fed = []

    def deliver():
        views = r.run(f"SELECT length(dependencies_table) FROM system.tables WHERE database = "
                      f"{sql_string(db)} AND name = {sql_string(kafka)}").strip()
        if waiting and views not in ("", "0"):
            block = [waiting.pop(0) for _ in range(min(BLOCK, len(waiting)))]
            r.run(f"INSERT INTO `{db}`.`{kafka}` FORMAT JSONEachRow\n"
                  + "\n".join(kafka_row(raw, virt) for raw, _, virt in block))
            fed.extend(block)

    print(f"== re-create under a backlog: {len(plan)} statements, a block before and after each")
    try:
        for i, stmt in enumerate(plan, 1):
            deliver()
            try:
                run(r, stmt)
            except Exception as e:
                raise CheckFailed(f"plan statement {i} fails: {e}\n{stmt}")
            print(f"  ok   {i}: {stmt.splitlines()[0][:100]}")
            deliver()
        while waiting:
            before = len(waiting)
            deliver()
            if len(waiting) == before:
                raise CheckFailed(f"{before} messages still wait: {kafka} has no view after the plan")
        good = [virt["_offset"] for _, ok, virt in fed if ok]
        bad = [virt["_offset"] for _, ok, virt in fed if not ok]
        rows = r.run(f"SELECT count(), uniqExact(event_id) FROM `{db}`.sales "
                     f"WHERE startsWith(event_id, 'backlog-')").split()
        orders = r.run(f"SELECT sumMerge(orders) FROM `{db}`.sales_by_minute").strip()
        dead = r.run(f"SELECT count() FROM `{db}`.dead_letter WHERE topic = "
                     f"{sql_string(SAMPLES['sales_kafka']['messages'][0][1]['_topic'])}").strip()
        want = [str(len(good)), str(len(good))]
        if rows != want or orders != str(len(good)) or dead != str(len(bad)):
            raise CheckFailed(f"fed {len(good)} good and {len(bad)} bad messages; sales holds "
                              f"{rows[0]} rows ({rows[1]} distinct), sales_by_minute counts "
                              f"{orders} orders, dead_letter {dead} rows")
    except CheckFailed as e:
        print(f"FAILED: {e}")
        return 1
    print(f"PASSED: {len(fed)} messages fed around {len(plan)} statements; {len(good)} good "
          f"ones each once in sales and sales_by_minute, {len(bad)} bad ones in dead_letter")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
