"""The peer: DuckDB turning the same trail into day-partitioned zstd Parquet.

The fair version: read_json with an explicit schema (no sampling), unnest(Records),
COPY to zstd Parquet partitioned by the event's day, with the thread count given.
Usage: python3 duckdb_ingest.py TRAIL_DIR OUT_DIR THREADS [MAX_OBJECT_BYTES]
(MAX_OBJECT_BYTES: DuckDB's maximum_object_size, default 128 MiB; big objects need more.)
"""
import sys

import duckdb

trail, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
max_object = int(sys.argv[4]) if len(sys.argv) > 4 else 134217728
# Top-level CloudTrail members; objects stay JSON (as trawl keeps the free-form ones).
fields = {
    "eventVersion": "VARCHAR", "userIdentity": "JSON", "eventTime": "VARCHAR", "eventSource": "VARCHAR",
    "eventName": "VARCHAR", "awsRegion": "VARCHAR", "sourceIPAddress": "VARCHAR", "userAgent": "VARCHAR",
    "errorCode": "VARCHAR", "errorMessage": "VARCHAR", "requestParameters": "JSON", "responseElements": "JSON",
    "additionalEventData": "JSON", "requestID": "VARCHAR", "eventID": "VARCHAR", "readOnly": "BOOLEAN",
    "resources": "JSON", "eventType": "VARCHAR", "apiVersion": "VARCHAR", "recipientAccountId": "VARCHAR",
    "serviceEventDetails": "JSON", "sharedEventID": "VARCHAR", "vpcEndpointId": "VARCHAR",
    "vpcEndpointAccountId": "VARCHAR", "eventCategory": "VARCHAR", "addendum": "JSON",
    "sessionCredentialFromConsole": "VARCHAR", "edgeDeviceDetails": "JSON", "tlsDetails": "JSON",
    "managementEvent": "BOOLEAN", "insightDetails": "JSON",
}
struct = "STRUCT(" + ", ".join(f'"{k}" {v}' for k, v in fields.items()) + ")[]"
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET preserve_insertion_order = false")
con.execute(f"""
COPY (
    SELECT r.*, strftime(CAST(r.eventTime AS TIMESTAMP), '%Y-%m-%d') AS dt
    FROM (SELECT unnest(Records) AS r
          FROM read_json('{trail}/**/*.json.gz', format = 'unstructured',
                         columns = {{'Records': '{struct}'}}, maximum_object_size = {max_object}))
) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt), OVERWRITE_OR_IGNORE)
""")
print(con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchone()[0])
