"""Writes land-110m.txt, the outlines the geolocation map draws behind its points, from Natural
Earth's 1:110m admin-0 countries (public domain, naturalearthdata.com), as GeoPandas 0.14
shipped them (`naturalearth_lowres`).

Usage: python3 -m pip download geopandas==0.14.4 --no-deps -d /tmp/ne
       python3 extract_land.py /tmp/ne/geopandas-0.14.4-py3-none-any.whl > land-110m.txt
Output: one polygon ring per line, `lon,lat` pairs in degrees (0.1 degree) separated by spaces.
"""
import io
import struct
import sys
import zipfile

wheel = zipfile.ZipFile(sys.argv[1])
shp = wheel.read("geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp")
pos = 100  # the file header
while pos < len(shp):
    _, words = struct.unpack(">ii", shp[pos:pos + 8])
    body = shp[pos + 8:pos + 8 + 2 * words]
    pos += 8 + 2 * words
    (kind,) = struct.unpack("<i", body[:4])
    if kind not in (5, 15, 25):  # polygons
        continue
    parts, points = struct.unpack("<ii", body[36:44])
    starts = list(struct.unpack(f"<{parts}i", body[44:44 + 4 * parts])) + [points]
    xy = body[44 + 4 * parts:]
    for a, b in zip(starts, starts[1:]):
        ring = []
        for i in range(a, b):
            x, y = struct.unpack("<dd", xy[16 * i:16 * i + 16])
            p = f"{x:.1f},{y:.1f}"
            if not ring or ring[-1] != p:
                ring.append(p)
        if len(ring) >= 4:
            print(" ".join(ring))
