"""The peer of `trawl report all`: DuckDB running every dashboard tile (the SQL of
crates/report/tests/block/peer.py, written from the Looker block) over its own zstd Parquet of
the same trail, with the same default ranges (the year, or 48 hours, before the newest event).

Usage: python3 duckdb_report.py load TRAIL_DIR PARQUET_DIR RECORD_TYPE_FILE THREADS
       python3 duckdb_report.py report PARQUET_DIR THREADS
`load` writes the Parquet, partitioned by day; `report` runs the tiles and prints their row
counts (one process, as a user at a shell pays).
"""
import datetime
import os
import sys

import duckdb

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "report", "tests", "block"))
import peer  # noqa: E402

DASHBOARDS = {
    "general-operations": (365 * 24, ["top-10-events", "top-events-full-detail", "events-by-source",
                                      "events-by-region", "events-by-hour-and-day-of-week", "ec2-instance-changes"]),
    "error-overview": (48, ["top-assumed-user-types", "errors-by-user-type", "errors-by-source",
                            "errors-and-events-over-time", "top-events-with-errors", "top-error-codes",
                            "assumed-iam-user-errors-full-detail"]),
    "console-login-overview": (365 * 24, ["top-user-logins", "console-logins-over-time",
                                          "logins-from-multiple-ip-addresses", "most-common-ip-addresses",
                                          "most-common-login-errors", "login-user-count-over-time",
                                          "logins-without-multi-factor-auth"]),
    "security-group-modifications": (365 * 24, ["security-group-modifications"]),
    "operational-account-activity": (48, ["top-aws-event-errors", "top-iam-users", "root-activity"]),
}


def load(trail, out, record_type_file, threads):
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    record_type = open(record_type_file).read().strip()
    con.execute(f"""COPY (SELECT *, left(eventTime, 10) AS day FROM ({peer.raw_trail(trail, record_type)}))
        TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day))""")


def report(parquet, threads):
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    source = f"read_parquet('{parquet}/**/*.parquet', hive_partitioning = true)"
    (newest,) = con.execute(f"SELECT max(eventTime) FROM {source}").fetchone()
    newest = datetime.datetime.strptime(newest[:19], "%Y-%m-%dT%H:%M:%S")
    sql = peer.tiles("UTC")
    rows = 0
    for hours, tiles in DASHBOARDS.values():
        since = (newest - datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        con.execute(f"""CREATE OR REPLACE VIEW ct AS SELECT * FROM {source}
            WHERE day >= '{since[:10]}' AND eventTime >= '{since}'""")
        con.execute("DROP VIEW IF EXISTS sg")
        peer.sg_view(con)
        for tile in tiles:
            rows += len(con.execute(sql[tile]).fetchall())
    print(rows)


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        report(sys.argv[2], int(sys.argv[3]))
