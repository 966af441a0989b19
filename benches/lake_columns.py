"""Where a lake's bytes go: compressed size per Parquet column, bloom filters and footers.

Usage: python3 benches/lake_columns.py DIR [DIR ...]   (a lake's events/ or any Parquet tree)
Reads the files' metadata with DuckDB (`pip install duckdb`); prints one block per DIR, so a
trawl lake and DuckDB's output for the same trail can be set side by side.
"""
import os
import sys

import duckdb

con = duckdb.connect()
for root in sys.argv[1:]:
    glob = os.path.join(root, "**", "*.parquet")
    files, total, footers = con.execute(
        f"SELECT count(*), sum(file_size_bytes), sum(footer_size) FROM parquet_file_metadata('{glob}')"
    ).fetchone()
    columns = con.execute(
        f"""SELECT path_in_schema, sum(total_compressed_size), sum(coalesce(bloom_filter_length, 0)),
                   any_value(encodings)
            FROM parquet_metadata('{glob}') GROUP BY 1 ORDER BY 2 DESC"""
    ).fetchall()
    data = sum(c[1] for c in columns)
    blooms = sum(c[2] for c in columns)
    print(f"{root}: {files} files, {total / 1e6:.2f} MB; column data {data / 1e6:.2f} MB, "
          f"bloom filters {blooms / 1e6:.2f} MB, footers {footers / 1e6:.2f} MB")
    for name, size, bloom, encodings in columns[:15]:
        print(f"  {name:55} {size / 1e6:8.2f} MB  bloom {bloom / 1e6:5.2f} MB  {encodings}")
