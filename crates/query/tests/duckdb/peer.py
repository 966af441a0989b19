"""The differential peer: the same queries through DuckDB on the same trail.

Usage: python3 peer.py TRAIL_DIR RECORD_TYPE QUERIES_FILE
RECORD_TYPE is the DuckDB type of one record (generated from trawl's schema by the test);
QUERIES_FILE holds one query per line. Prints one JSON line per query: its rows, every value
as text (NULL as null), in result order.
"""
import json
import sys

import duckdb

trail, record_type, queries = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"""
CREATE VIEW cloudtrail_logs AS
SELECT r.* FROM (
    SELECT unnest(Records) AS r
    FROM read_json('{trail}/**/*.json.gz', format = 'unstructured', columns = {{'Records': '{record_type}[]'}})
)
""")
# Trino functions under DuckDB's names, where the meaning is the same.
con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")
con.execute("CREATE MACRO from_iso8601_timestamp(s) AS strptime(s, '%Y-%m-%dT%H:%M:%SZ')")
for line in open(queries):
    if not line.strip():
        continue
    rows = con.execute(line).fetchall()
    print(json.dumps([[None if v is None else str(v) for v in row] for row in rows]))
