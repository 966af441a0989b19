"""The driver of benches/query_vs_duckdb.sh: every query on trawl's lake and on DuckDB's Parquet
of the same trail, each a fresh process, best of ROUNDS; ratios, geometric means, and a check
that both engines gave the same answer.

Usage: python3 query_vs_duckdb.py TRAWL LAKE DUCK_DIR THREADS ROUNDS [OUT_JSON]
DUCK_DIR `-` times trawl alone (a lake DuckDB has no copy of).

trawl is timed from the command to its last printed row (`trawl sql --format csv`, process
start, commit log and all). DuckDB twice: from connecting to its last fetched row inside its
process (benches/duckdb_query.py; the Python interpreter's start and `import duckdb` are not
counted, about what DuckDB's own shell would pay: the ratio the targets are read against), and
the whole Python process ("process", what a script calling DuckDB pays).
The Athena SQL is what a user of Athena would paste; the DuckDB SQL is the same question in
DuckDB's dialect over its own table, with the `day` partition bounds a DuckDB user would add.
"""
import csv
import datetime
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SG_EVENTS = ("'AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', "
             "'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', "
             "'DeleteSecurityGroup'")


def queries(v):
    """(group, name, Athena SQL, DuckDB SQL, how to compare) with the picked values `v`."""
    day, nxt, hour, hour_end, week = v["day"], v["next_day"], v["hour"], v["hour_end"], v["week_ago"]
    return [
        ("kinds", "count(*)", "SELECT count(*) FROM cloudtrail_logs", "SELECT count(*) FROM cloudtrail", "exact"),
        ("kinds", "top event names",
         "SELECT eventname, count(*) AS n FROM cloudtrail_logs GROUP BY eventname ORDER BY n DESC, eventname LIMIT 10",
         "SELECT eventName, count(*) AS n FROM cloudtrail GROUP BY eventName ORDER BY n DESC, eventName LIMIT 10",
         "exact"),
        ("kinds", "events per day and region (from_iso8601_timestamp)",
         "SELECT date_trunc('day', from_iso8601_timestamp(eventtime)) AS d, awsregion, count(*) AS n "
         "FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2",
         "SELECT date_trunc('day', CAST(eventTime AS TIMESTAMPTZ)) AS d, awsRegion, count(*) AS n "
         "FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2",
         "exact"),
        ("kinds", "top actors (coalesce over useridentity)",
         "SELECT coalesce(useridentity.arn, useridentity.sessioncontext.sessionissuer.arn, useridentity.principalid, "
         "useridentity.invokedby) AS actor, count(*) AS n FROM cloudtrail_logs GROUP BY 1 ORDER BY n DESC, actor LIMIT 20",
         "SELECT coalesce(userIdentity.arn, userIdentity.sessionContext.sessionIssuer.arn, userIdentity.principalId, "
         "userIdentity.invokedBy) AS actor, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC, actor LIMIT 20",
         "exact"),
        ("kinds", "errors by code and source",
         "SELECT errorcode, eventsource, count(*) AS n FROM cloudtrail_logs WHERE errorcode IS NOT NULL "
         "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 50",
         "SELECT errorCode, eventSource, count(*) AS n FROM cloudtrail WHERE errorCode IS NOT NULL "
         "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 50",
         "exact"),
        ("kinds", "failed console logins by IP (JSON member)",
         "SELECT sourceipaddress, count(*) AS n FROM cloudtrail_logs WHERE eventname = 'ConsoleLogin' "
         "AND json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "SELECT sourceIPAddress, count(*) AS n FROM cloudtrail WHERE eventName = 'ConsoleLogin' "
         "AND json_extract_string(responseElements, '$.ConsoleLogin') = 'Failure' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "exact"),
        ("kinds", "security-group changes, newest 100",
         "SELECT eventtime, eventname, useridentity.arn, json_extract_scalar(requestparameters, '$.groupId') AS g, eventid "
         f"FROM cloudtrail_logs WHERE eventsource = 'ec2.amazonaws.com' AND eventname IN ({SG_EVENTS}) "
         "ORDER BY eventtime DESC, eventid LIMIT 100",
         "SELECT eventTime, eventName, userIdentity.arn, json_extract_string(requestParameters, '$.groupId') AS g, eventID "
         f"FROM cloudtrail WHERE eventSource = 'ec2.amazonaws.com' AND eventName IN ({SG_EVENTS}) "
         "ORDER BY eventTime DESC, eventID LIMIT 100",
         "exact"),
        ("windows", "one day's window (eventtime text)",
         f"SELECT eventname, count(*) AS n FROM cloudtrail_logs WHERE eventtime >= '{day}T00:00:00Z' "
         f"AND eventtime < '{nxt}T00:00:00Z' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         f"SELECT eventName, count(*) AS n FROM cloudtrail WHERE day = '{day}' AND eventTime >= '{day}T00:00:00Z' "
         f"AND eventTime < '{nxt}T00:00:00Z' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "exact"),
        ("windows", "one hour, from_iso8601_timestamp BETWEEN",
         "SELECT count(*), count(DISTINCT useridentity.arn) FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) "
         f"BETWEEN from_iso8601_timestamp('{hour}') AND from_iso8601_timestamp('{hour_end}')",
         "SELECT count(*), count(DISTINCT userIdentity.arn) FROM cloudtrail WHERE day = '{d}' AND CAST(eventTime AS TIMESTAMPTZ) "
         "BETWEEN TIMESTAMPTZ '{a}' AND TIMESTAMPTZ '{b}'".format(d=hour[:10], a=hour, b=hour_end),
         "exact"),
        ("windows", "errors per hour, last 7 days (date_trunc)",
         "SELECT date_trunc('hour', from_iso8601_timestamp(eventtime)) AS h, count(*) AS n FROM cloudtrail_logs "
         f"WHERE eventtime >= '{week}' AND errorcode IS NOT NULL GROUP BY 1 ORDER BY 1",
         "SELECT date_trunc('hour', CAST(eventTime AS TIMESTAMPTZ)) AS h, count(*) AS n FROM cloudtrail "
         f"WHERE day >= '{week[:10]}' AND eventTime >= '{week}' AND errorCode IS NOT NULL GROUP BY 1 ORDER BY 1",
         "exact"),
        ("windows", "events per hour of one day (date_parse, date_format)",
         "SELECT date_format(date_parse(eventtime, '%Y-%m-%dT%H:%i:%sZ'), '%H') AS h, count(*) AS n FROM cloudtrail_logs "
         f"WHERE eventtime >= '{day}T00:00:00Z' AND eventtime < '{nxt}T00:00:00Z' GROUP BY 1 ORDER BY 1",
         "SELECT strftime(strptime(eventTime, '%Y-%m-%dT%H:%M:%SZ'), '%H') AS h, count(*) AS n FROM cloudtrail "
         f"WHERE day = '{day}' AND eventTime >= '{day}T00:00:00Z' AND eventTime < '{nxt}T00:00:00Z' GROUP BY 1 ORDER BY 1",
         "exact"),
        ("needles", "needle: source IP",
         "SELECT eventtime, eventname, useridentity.arn, eventid FROM cloudtrail_logs "
         f"WHERE sourceipaddress = '{v['ip']}' ORDER BY eventtime, eventid",
         "SELECT eventTime, eventName, userIdentity.arn, eventID FROM cloudtrail "
         f"WHERE sourceIPAddress = '{v['ip']}' ORDER BY eventTime, eventID",
         "exact"),
        ("needles", "needle: eventID",
         "SELECT eventtime, eventname, useridentity.arn, sourceipaddress FROM cloudtrail_logs "
         f"WHERE eventid = '{v['eventid']}'",
         "SELECT eventTime, eventName, userIdentity.arn, sourceIPAddress FROM cloudtrail "
         f"WHERE eventID = '{v['eventid']}'",
         "exact"),
        ("needles", "needle: access key",
         "SELECT eventtime, eventname, sourceipaddress, eventid FROM cloudtrail_logs "
         f"WHERE useridentity.accesskeyid = '{v['key']}' ORDER BY eventtime, eventid",
         "SELECT eventTime, eventName, sourceIPAddress, eventID FROM cloudtrail "
         f"WHERE userIdentity.accessKeyId = '{v['key']}' ORDER BY eventTime, eventID",
         "exact"),
        ("needles", "needle: principal ARN",
         "SELECT eventtime, eventname, sourceipaddress, eventid FROM cloudtrail_logs "
         f"WHERE useridentity.arn = '{v['principal']}' ORDER BY eventtime, eventid",
         "SELECT eventTime, eventName, sourceIPAddress, eventID FROM cloudtrail "
         f"WHERE userIdentity.arn = '{v['principal']}' ORDER BY eventTime, eventID",
         "exact"),
        ("investigation", "approx distinct principals",
         "SELECT approx_distinct(useridentity.arn) FROM cloudtrail_logs",
         "SELECT approx_count_distinct(userIdentity.arn) FROM cloudtrail",
         "approx"),
        ("investigation", "AssumeRole by role (JSON member)",
         "SELECT json_extract_scalar(requestparameters, '$.roleArn') AS role, count(*) AS n, "
         "count(DISTINCT sourceipaddress) AS ips FROM cloudtrail_logs WHERE eventname = 'AssumeRole' "
         "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "SELECT json_extract_string(requestParameters, '$.roleArn') AS role, count(*) AS n, "
         "count(DISTINCT sourceIPAddress) AS ips FROM cloudtrail WHERE eventName = 'AssumeRole' "
         "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "exact"),
        ("investigation", "access denied by principal and service",
         "SELECT useridentity.arn, eventsource, count(*) AS n FROM cloudtrail_logs "
         "WHERE errorcode IN ('AccessDenied', 'Client.UnauthorizedOperation', 'UnauthorizedOperation') "
         "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 25",
         "SELECT userIdentity.arn, eventSource, count(*) AS n FROM cloudtrail "
         "WHERE errorCode IN ('AccessDenied', 'Client.UnauthorizedOperation', 'UnauthorizedOperation') "
         "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 25",
         "exact"),
        ("investigation", "IAM writes, newest 50",
         "SELECT eventtime, eventname, useridentity.arn, sourceipaddress, eventid FROM cloudtrail_logs "
         "WHERE eventsource = 'iam.amazonaws.com' AND readonly = 'false' ORDER BY eventtime DESC, eventid LIMIT 50",
         "SELECT eventTime, eventName, userIdentity.arn, sourceIPAddress, eventID FROM cloudtrail "
         "WHERE eventSource = 'iam.amazonaws.com' AND readOnly = 'false' ORDER BY eventTime DESC, eventID LIMIT 50",
         "exact"),
        ("investigation", "console logins without MFA per user",
         "SELECT useridentity.arn, count(*) AS n FROM cloudtrail_logs WHERE eventname = 'ConsoleLogin' "
         "AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "SELECT userIdentity.arn, count(*) AS n FROM cloudtrail WHERE eventName = 'ConsoleLogin' "
         "AND json_extract_string(additionalEventData, '$.MFAUsed') = 'No' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
         "exact"),
    ]


TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.0+)?( ?(UTC|Z|\+00(:?00)?))?$")


def norm(cell):
    """A cell as both engines' text of the same value compares: times without their zone
    spelling, numbers as numbers."""
    if cell is None or cell == "":
        return ""
    m = TIME.match(cell)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    try:
        return f"{float(cell):.9g}"
    except ValueError:
        return cell


def call(cmd):
    """The stdout of `cmd`; stops with its stderr when it fails."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed:\n{p.stderr}")
    return p.stdout


def trawl_sql(trawl, lake, sql):
    out = call([trawl, "sql", "--lake", lake, "--format", "csv", sql])
    rows = list(csv.reader(io.StringIO(out)))
    return rows[1:] if rows else []


def best_trawl(trawl, lake, sql, rounds):
    best, rows = math.inf, None
    for _ in range(rounds):
        t0 = time.perf_counter()
        rows = trawl_sql(trawl, lake, sql)
        best = min(best, time.perf_counter() - t0)
    return best, rows


def best_duck(duck, threads, sql, rounds, since=None):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    try:
        best, best_proc, rows = math.inf, math.inf, None
        for _ in range(rounds):
            cmd = [sys.executable, os.path.join(HERE, "duckdb_query.py"), "run", duck, str(threads), f.name]
            t0 = time.perf_counter()
            out = json.loads(call(cmd + ([since] if since else [])))
            best_proc = min(best_proc, time.perf_counter() - t0)
            best, rows = min(best, out["seconds"]), out["rows"]
        return best, best_proc, rows
    finally:
        os.unlink(f.name)


def picks(trawl, lake):
    """Needles and windows picked from the lake (not timed)."""
    def one(sql):
        rows = trawl_sql(trawl, lake, sql)
        if not rows or not rows[0][0]:
            sys.exit(f"nothing picked by: {sql}")
        return rows[0]
    hi = one("SELECT max(eventtime) FROM cloudtrail_logs WHERE eventtime LIKE '2%Z'")[0]
    days = [r[0] for r in trawl_sql(trawl, lake, "SELECT DISTINCT dt FROM cloudtrail_logs WHERE dt IS NOT NULL ORDER BY dt")]
    day = days[len(days) // 2]
    nxt = (datetime.datetime.strptime(day, "%Y-%m-%d") + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    newest = datetime.datetime.strptime(hi[:19], "%Y-%m-%dT%H:%M:%S")
    rare = "GROUP BY 1 HAVING count(*) BETWEEN 1 AND 5 ORDER BY count(*), 1 LIMIT 1"
    return {
        "day": day, "next_day": nxt,
        "hour": f"{day}T10:00:00Z", "hour_end": f"{day}T11:00:00Z",
        "week_ago": (newest - datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # Planted by plant_needle.py: the generator's addresses are few and busy.
        "ip": one("SELECT sourceipaddress FROM cloudtrail_logs WHERE sourceipaddress = '198.51.100.77' LIMIT 1")[0],
        "eventid": one(f"SELECT max(eventid) FROM cloudtrail_logs WHERE eventtime >= '{day}T12:00:00Z' "
                       f"AND eventtime < '{day}T13:00:00Z'")[0],
        "key": one(f"SELECT useridentity.accesskeyid FROM cloudtrail_logs WHERE useridentity.accesskeyid IS NOT NULL {rare}")[0],
        "principal": one("SELECT useridentity.arn FROM cloudtrail_logs "
                         "WHERE useridentity.arn = 'arn:aws:iam::111122223333:user/needle' LIMIT 1")[0],
    }


def tiles(trawl, lake):
    """Every dashboard tile trawl runs by default (geolocation tiles need a database: left out),
    with its SQL and the range DuckDB's peer SQL reads."""
    sys.path.insert(0, os.path.join(HERE, "..", "crates", "report", "tests", "block"))
    import peer
    duck_sql = peer.tiles("UTC")
    out = call([trawl, "report", "all", "--lake", lake, "--format", "json"])
    dashboards = json.loads(out)
    if isinstance(dashboards, dict):
        dashboards = dashboards.get("dashboards", [dashboards])
    found = []
    for d in dashboards:
        for t in d["tiles"]:
            if not t.get("sql") or t.get("note") or t["id"] not in duck_sql:
                continue
            found.append(("tiles", f"{d['id']}/{t['id']}", t["sql"], duck_sql[t["id"]], "rows", d.get("since")))
    return found


def main():
    trawl, lake, duck, threads, rounds = sys.argv[1:6]
    threads, rounds = int(threads), int(rounds)
    out_json = sys.argv[6] if len(sys.argv) > 6 else None
    v = picks(trawl, lake)
    print("picked: " + ", ".join(f"{k}={v[k]}" for k in ("day", "ip", "eventid", "key", "principal")), file=sys.stderr)
    work = [q + (None,) for q in queries(v)] + tiles(trawl, lake)
    results, failed = [], []

    def finish():
        needles = [r["trawl_s"] for r in results if r["group"] == "needles"]
        print(f"needles, trawl, slowest: {max(needles) * 1000:.0f} ms")
        if out_json:
            with open(out_json, "w") as f:
                json.dump({"picked": v, "results": results}, f, indent=1)

    if duck == "-":
        print(f"{'query':<58} {'trawl s':>8} {'rows':>6}")
        for group, name, athena, _, _, _ in work:
            t, trows = best_trawl(trawl, lake, athena, rounds)
            results.append({"group": group, "query": name, "trawl_s": t, "rows": len(trows)})
            print(f"{name[:58]:<58} {t:8.3f} {len(trows):6}", flush=True)
        finish()
        return
    print(f"{'query':<58} {'trawl s':>8} {'duckdb s':>9} {'ratio':>6} {'process':>8} {'ratio':>6} {'rows':>6}")
    for group, name, athena, duck_sql, compare, since in work:
        t, trows = best_trawl(trawl, lake, athena, rounds)
        d, dp, drows = best_duck(duck, threads, duck_sql, rounds, since)
        a = sorted(tuple(norm(c) for c in r) for r in trows)
        b = sorted(tuple(norm(c) for c in r) for r in drows)
        if compare == "exact":
            same = a == b
        elif compare == "approx":
            x, y = float(trows[0][0]), float(drows[0][0])
            same = abs(x - y) <= 0.05 * max(x, y)
        else:
            same = len(a) == len(b)
        if not same:
            failed.append(name)
        results.append({"group": group, "query": name, "trawl_s": t, "duckdb_s": d, "duckdb_process_s": dp,
                        "ratio": t / d, "ratio_process": t / dp, "rows": len(trows), "same": same})
        print(f"{name[:58]:<58} {t:8.3f} {d:9.3f} {t / d:6.2f} {dp:8.3f} {t / dp:6.2f} {len(trows):6}"
              f"{'' if same else '  DIFFERENT'}", flush=True)

    def geo(rs, key):
        return math.exp(sum(math.log(r[key]) for r in rs) / len(rs))
    print("geometric means of trawl/duckdb (in DuckDB's process; with its process start):")
    for g in ("kinds", "windows", "needles", "investigation", "tiles"):
        rs = [r for r in results if r["group"] == g]
        if rs:
            print(f"  {g:<14} {geo(rs, 'ratio'):5.2f}  {geo(rs, 'ratio_process'):5.2f}  ({len(rs)} queries)")
    print(f"  {'all':<14} {geo(results, 'ratio'):5.2f}  {geo(results, 'ratio_process'):5.2f}  ({len(results)} queries)")
    finish()
    if failed:
        sys.exit("different answers: " + "; ".join(failed))


if __name__ == "__main__":
    main()
