"""DuckDB's side of benches/query_vs_duckdb.sh, over its own zstd Parquet of the trail.

Usage: python3 duckdb_query.py load TRAIL_DIR PARQUET_DIR RECORD_TYPE_FILE THREADS
       python3 duckdb_query.py run PARQUET_DIR THREADS SQL_FILE [SINCE]

`load` writes the records (as DuckDB's read_json types them from trawl's schema: nested
`userIdentity`, JSON members as JSON text) once per eventID, zstd Parquet partitioned by day
(`day=YYYY-MM-DD`), a delivery day at a time (100M events do not fit in memory at once).
`run` runs one statement and prints one JSON line: the seconds from connecting to the last
row fetched (the interpreter's start and `import duckdb` are not counted, as a DuckDB shell
would not pay them) and the rows as DuckDB's text. With SINCE, the
statement reads the views `ct` (the events at or after SINCE) and `sg` (their security-group
changes), as crates/report/tests/block/peer.py's tiles do.
"""
import glob
import json
import os
import shutil
import sys
import time

import duckdb

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "report", "tests", "block"))
import peer  # noqa: E402


def delivery_days(trail):
    """The trail's parts to load one at a time: its delivery days in CloudTrail's key layout
    (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD`), or the whole trail if it has none."""
    days = sorted({"/".join(d.split(os.sep)[-3:])
                   for d in glob.glob(os.path.join(trail, "AWSLogs/*/CloudTrail/*/*/*/*"))})
    return [os.path.join(trail, "AWSLogs/*/CloudTrail/*", d) for d in days] or [trail]


def load(trail, out, record_type_file, threads):
    """Two passes, so memory stays bounded at any size: each delivery day's records streamed
    to a staging copy partitioned by the event's day, then each day's copy kept once per
    eventID (a duplicate delivery repeats its event's time, so both copies fall in one day)."""
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    record_type = open(record_type_file).read().strip()
    staging = os.path.join(out, ".staging")
    os.makedirs(out, exist_ok=True)
    for n, part in enumerate(delivery_days(trail)):
        con.execute(f"""COPY (
            SELECT *, left(eventTime, 10) AS day FROM ({peer.raw_trail(part, record_type)})
        ) TO '{staging}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, PARTITION_BY (day),
                          FILENAME_PATTERN 'part{n}_{{i}}', OVERWRITE_OR_IGNORE true)""")
    for part in sorted(os.listdir(staging)):
        os.makedirs(os.path.join(out, part))
        files = os.path.join(staging, part, "*.parquet")
        con.execute(f"""COPY (
            SELECT * FROM read_parquet('{files}', hive_partitioning = false)
            QUALIFY row_number() OVER (PARTITION BY eventID) = 1
        ) TO '{os.path.join(out, part, "data_0.parquet")}' (FORMAT parquet, COMPRESSION zstd)""")
        shutil.rmtree(os.path.join(staging, part))
    os.rmdir(staging)


def run(parquet, threads, sql_file, since):
    sql = open(sql_file).read()
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    source = f"read_parquet('{parquet}/**/*.parquet', hive_partitioning = true)"
    con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM {source}")
    if since:
        con.execute(f"""CREATE VIEW ct AS SELECT * FROM {source}
            WHERE day >= '{since[:10]}' AND eventTime >= '{since}'""")
        peer.sg_view(con)
    # As text, in DuckDB (a time with a zone would need pytz in Python).
    rows = con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM ({sql.strip().rstrip(';')})").fetchall()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": [[peer.text(v) for v in r] for r in rows]}))


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        run(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
