"""Runs the engines test's queries on Spark and DuckDB through the views `trawl ddl` printed.

Usage: run.py --queries FILE [--spark-ddl FILE] [--duckdb-ddl FILE] [--only a,b]
Prints {"spark": {name: rows}, "duckdb": {name: rows}} as JSON, each row an object of the
query's columns with values as text (null stays null), so the Rust side compares them with
`trawl sql --format json`'s answers.
"""

import argparse
import datetime
import json
import re
import sys


def queries(path, engine):
    """{name: sql} in `engine`'s dialect (its own text if the file has one, else Athena's)."""
    out = {}
    for block in open(path, encoding="utf-8").read().split("-- name: ")[1:]:
        name, rest = block.split("\n", 1)
        parts = re.split(r"^-- (spark|duckdb):\s*$", rest, flags=re.M)
        variants = {"athena": parts[0]}
        for i in range(1, len(parts), 2):
            variants[parts[i]] = parts[i + 1]
        out[name.strip()] = variants.get(engine, variants["athena"]).strip()
    return out


def statements(path):
    """The statements of a DDL file, comments dropped."""
    text = "\n".join(l for l in open(path, encoding="utf-8").read().splitlines() if not l.startswith("--"))
    return [s.strip() for s in text.split(";\n") if s.strip()]


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    return str(v)


def run_duckdb(ddl, qs):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for s in statements(ddl):
        con.execute(s)
    res = {}
    for name, sql in qs.items():
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        res[name] = [dict(zip(cols, map(text, row))) for row in cur.fetchall()]
    return res


def run_spark(ddl, qs):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("trawl-engines-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for s in statements(ddl):
        spark.sql(s)
    res = {}
    for name, sql in qs.items():
        df = spark.sql(sql)
        cols = df.columns
        res[name] = [dict(zip(cols, map(text, row))) for row in df.collect()]
    spark.stop()
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--queries", required=True)
    p.add_argument("--spark-ddl")
    p.add_argument("--duckdb-ddl")
    p.add_argument("--only")
    a = p.parse_args()
    only = set(a.only.split(",")) if a.only else None
    out = {}
    for engine, ddl, run in [("duckdb", a.duckdb_ddl, run_duckdb), ("spark", a.spark_ddl, run_spark)]:
        if ddl:
            qs = {n: q for n, q in queries(a.queries, engine).items() if only is None or n in only}
            out[engine] = run(ddl, qs)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
