"""The dashboards' second opinion: every tile of the five dashboards computed by DuckDB on the
raw trail JSON (not on trawl's lake), with SQL written from the Looker block's LookML
(../shared/looker-block) and the differences docs/dashboards.md gives reasons for. It shares no
SQL with trawl: the comparison catches a tile whose query does not mean what the block means.

Usage: python3 peer.py TRAIL_DIR RECORD_TYPE_FILE ZONE
RECORD_TYPE_FILE holds the DuckDB type of one record (record_type.txt, from trawl's schema);
ZONE is UTC or an IANA name. Prints one JSON object per line: {"id": tile id, "rows": rows as
text (null for NULL)}. benches/report_vs_duckdb.py runs the same tiles on DuckDB's Parquet.
"""
import json
import sys

import duckdb


# EC2 Security Group Modifications: the block shows requestParameters whole; trawl gives a row
# per rule and peer. Written here from the event shapes (EC2 API reference), in DuckDB's JSON.
SG_EVENTS = """('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress',
    'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup', 'ModifySecurityGroupRules',
    'UpdateSecurityGroupRuleDescriptionsIngress', 'UpdateSecurityGroupRuleDescriptionsEgress',
    'ModifyNetworkInterfaceAttribute')"""
HEAD = "eventID, eventTime, eventName, user_arn, sourceIPAddress"
LEGACY = """(json_extract_string(rp, '$.cidrIp') IS NOT NULL OR json_extract_string(rp, '$.cidrIpv6') IS NOT NULL
    OR json_extract_string(rp, '$.sourceSecurityGroupName') IS NOT NULL OR json_extract_string(rp, '$.sourceSecurityGroupId') IS NOT NULL)"""


def json_list(expr):
    """A JSON array member as a list of JSON values; NULL when absent or not an array."""
    return f"CASE WHEN json_type({expr}) = 'ARRAY' THEN CAST({expr} AS JSON[]) END"


def port(expr):
    return f"TRY_CAST(json_extract_string({expr}) AS INTEGER)"


def peers(field, key):
    return f"""coalesce(list_transform(CASE WHEN json_type(p, '$.{field}.items') = 'ARRAY'
        THEN CAST(json_extract(p, '$.{field}.items') AS JSON[]) END,
        lambda x: coalesce(json_extract_string(x, '$.{key}'), json_extract_string(x, '$.groupName'))), [])"""


def some(col):
    return f"coalesce(len({col}), 0) > 0"


def raw_trail(trail, record_type):
    """The records of a trail's `.json.gz` files, typed as trawl's schema says."""
    return f"""SELECT r.* FROM (
    SELECT unnest(Records) AS r
    FROM read_json('{trail}/**/*.json.gz', format = 'unstructured', columns = {{'Records': '{record_type}[]'}})
)"""


def tiles(zone):
    """Every tile's DuckDB SQL over the view `ct` (the records) and `sg` ([`sg_view`])."""

    # The block's dimensions (cloudtrail_logs.view.lkml), in DuckDB.
    ERROR = "(errorCode IS NOT NULL OR errorMessage IS NOT NULL)"
    TS = "CAST(eventTime AS TIMESTAMPTZ)"
    if zone == "UTC":
        LOCAL = f"CAST({TS} AS TIMESTAMP)"
        DAY = "left(eventTime, 10)"
    else:
        LOCAL = f"timezone('{zone}', {TS})"
        DAY = f"strftime({LOCAL}, '%Y-%m-%d')"
    HALF_HOUR = f"to_timestamp(floor(epoch({TS}) / 1800) * 1800)"
    ISSUER = "userIdentity.sessionContext.sessionIssuer.userName"
    PRINCIPAL = "coalesce(userIdentity.arn, userIdentity.principalId)"
    # Who a console login is for: root, the IAM user, or the role session (the last part of the ARN).
    LOGIN_USER = """CASE WHEN userIdentity.type = 'Root' THEN 'root'
        ELSE coalesce(userIdentity.userName, string_split(userIdentity.arn, '/')[-1], userIdentity.principalId) END"""
    LOGIN_STATUS = "json_extract_string(responseElements, '$.ConsoleLogin')"
    LOGINS = "FROM ct WHERE eventName = 'ConsoleLogin'"

    TILES = {
        # General Operations
        "top-10-events": "SELECT eventName, count(*) AS n FROM ct GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
        "top-events-full-detail": f"""SELECT eventName, count(*) AS n, count(DISTINCT {ISSUER}), count(DISTINCT {PRINCIPAL}),
            count(*) FILTER (WHERE errorCode = 'AccessDenied'),
            round(100.0 * count(*) FILTER (WHERE {ERROR}) / count(*), 2)
            FROM ct GROUP BY 1 ORDER BY n DESC, 1 LIMIT 100""",
        "events-by-source": "SELECT eventSource, count(*) AS n FROM ct GROUP BY 1 ORDER BY n DESC, 1",
        "events-by-region": f"SELECT {DAY}, awsRegion, count(*) FROM ct GROUP BY 1, 2 ORDER BY 1, 2",
        "events-by-hour-and-day-of-week": f"""SELECT hour({LOCAL}), isodow({LOCAL}), strftime({LOCAL}, '%a'), count(*)
            FROM ct GROUP BY 1, 2, 3 ORDER BY 1, 2""",
        "ec2-instance-changes": f"""SELECT {DAY}, eventName, count(*) FROM ct WHERE eventSource = 'ec2.amazonaws.com'
            AND eventName IN ('RunInstances', 'StartInstances', 'StopInstances', 'TerminateInstances')
            GROUP BY 1, 2 ORDER BY 1, 2""",
        # Error Overview
        "top-assumed-user-types": f"""SELECT {ISSUER}, count(*) AS n FROM ct WHERE {ERROR} AND {ISSUER} IS NOT NULL
            GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10""",
        "errors-by-user-type": f"SELECT userIdentity.type, count(*) AS n FROM ct WHERE {ERROR} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
        "errors-by-source": f"SELECT eventSource, count(*) AS n FROM ct WHERE {ERROR} GROUP BY 1 ORDER BY n DESC, 1",
        "errors-and-events-over-time": f"""SELECT strftime({HALF_HOUR}, '%Y-%m-%dT%H:%M:%SZ') AS b, count(*), count(*) FILTER (WHERE {ERROR}),
            round(100.0 * count(*) FILTER (WHERE {ERROR}) / count(*), 2) FROM ct GROUP BY 1 ORDER BY 1""",
        "top-events-with-errors": f"SELECT eventName, count(*) AS n FROM ct WHERE {ERROR} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
        "top-error-codes": "SELECT errorCode, count(*) AS n FROM ct WHERE errorCode IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
        "assumed-iam-user-errors-full-detail": f"""SELECT {ISSUER}, eventName, errorCode, errorMessage, eventSource, count(*) AS n
            FROM ct WHERE {ERROR} AND {ISSUER} IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY n DESC, 1, 2, 3, 4, 5""",
        # Console Login Overview
        "top-user-logins": f"""SELECT {LOGIN_USER} AS u, count(*) FILTER (WHERE {LOGIN_STATUS} = 'Success'),
            count(*) FILTER (WHERE {LOGIN_STATUS} = 'Failure'), count(*) AS n {LOGINS} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10""",
        "console-logins-over-time": f"""SELECT {DAY}, count(*) FILTER (WHERE {LOGIN_STATUS} = 'Success'),
            count(*) FILTER (WHERE {LOGIN_STATUS} = 'Failure') {LOGINS} GROUP BY 1 ORDER BY 1""",
        "logins-from-multiple-ip-addresses": f"""SELECT {LOGIN_USER} AS u, count(DISTINCT sourceIPAddress) AS ips, count(*)
            {LOGINS} GROUP BY 1 HAVING count(DISTINCT sourceIPAddress) > 1 ORDER BY ips DESC, 1 LIMIT 50""",
        "most-common-ip-addresses": f"""SELECT sourceIPAddress, count(*) AS n, count(*) FILTER (WHERE {LOGIN_STATUS} = 'Failure')
            {LOGINS} GROUP BY 1 ORDER BY n DESC, 1""",
        "most-common-login-errors": f"""SELECT coalesce(errorMessage, errorCode, 'Failure'), count(*) AS n, count(DISTINCT {LOGIN_USER})
            {LOGINS} AND {LOGIN_STATUS} = 'Failure' GROUP BY 1 ORDER BY n DESC, 1""",
        "login-user-count-over-time": f"SELECT {DAY}, count(DISTINCT {LOGIN_USER}) {LOGINS} GROUP BY 1 ORDER BY 1",
        "logins-without-multi-factor-auth": f"""SELECT {LOGIN_USER}, {LOGIN_STATUS}, count(*) AS n {LOGINS}
            AND json_extract_string(additionalEventData, '$.MFAUsed') = 'No' GROUP BY 1, 2 ORDER BY n DESC, 1, 2""",
        # Operational Account Activity
        "top-aws-event-errors": f"""SELECT eventName, errorCode, errorMessage, count(*) AS n FROM ct WHERE {ERROR}
            GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT 15""",
        "top-iam-users": """SELECT userIdentity.userName, eventName, count(*) AS n FROM ct WHERE userIdentity.type = 'IAMUser'
            GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 15""",
        "root-activity": """SELECT eventName, userIdentity.invokedBy, sourceIPAddress, count(*) AS n FROM ct
            WHERE userIdentity.type = 'Root' GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT 15""",
    }

    TILES["security-group-modifications"] = f"""
    WITH rules AS (
        SELECT {HEAD}, group_id, eni, direction, NULL AS rule_id, json_extract_string(p, '$.ipProtocol') AS protocol,
            {port("p, '$.fromPort'")} AS from_port, {port("p, '$.toPort'")} AS to_port, peer
        FROM (SELECT *, unnest(perms) AS p FROM sg WHERE {some("perms")}) AS r
        LEFT JOIN LATERAL (SELECT unnest(list_concat({peers("ipRanges", "cidrIp")}, {peers("ipv6Ranges", "cidrIpv6")},
            {peers("prefixListIds", "prefixListId")}, {peers("groups", "groupId")})) AS peer) AS q ON TRUE
        UNION ALL
        SELECT {HEAD}, group_id, eni, direction, NULL, json_extract_string(rp, '$.ipProtocol'),
            {port("rp, '$.fromPort'")}, {port("rp, '$.toPort'")},
            coalesce(json_extract_string(rp, '$.cidrIp'), json_extract_string(rp, '$.cidrIpv6'),
                     json_extract_string(rp, '$.sourceSecurityGroupId'), json_extract_string(rp, '$.sourceSecurityGroupName'))
        FROM sg WHERE NOT {some("perms")} AND {LEGACY}
        UNION ALL
        SELECT {HEAD}, group_id, eni, direction, coalesce(json_extract_string(x, '$.securityGroupRuleId'), json_extract_string(x, '$')),
            NULL, NULL, NULL, NULL
        FROM (SELECT *, unnest(rule_ids) AS x FROM sg WHERE NOT {some("perms")} AND {some("rule_ids")})
        UNION ALL
        SELECT {HEAD}, group_id, eni, direction, json_extract_string(m, '$.SecurityGroupRuleId'),
            json_extract_string(m, '$.SecurityGroupRule.IpProtocol'), {port("m, '$.SecurityGroupRule.FromPort'")},
            {port("m, '$.SecurityGroupRule.ToPort'")},
            coalesce(json_extract_string(m, '$.SecurityGroupRule.CidrIpv4'), json_extract_string(m, '$.SecurityGroupRule.CidrIpv6'),
                     json_extract_string(m, '$.SecurityGroupRule.PrefixListId'), json_extract_string(m, '$.SecurityGroupRule.ReferencedGroupId'))
        FROM (SELECT *, unnest(modify) AS m FROM sg WHERE {some("modify")})
        UNION ALL
        SELECT {HEAD}, coalesce(json_extract_string(g, '$.groupId'), group_id), eni, direction, NULL, NULL, NULL, NULL, NULL
        FROM (SELECT *, unnest(group_set) AS g FROM sg WHERE {some("group_set")})
        UNION ALL
        SELECT {HEAD}, group_id, eni, direction, NULL, NULL, NULL, NULL, NULL FROM sg
        WHERE NOT {some("perms")} AND NOT {LEGACY} AND NOT {some("rule_ids")} AND NOT {some("modify")} AND NOT {some("group_set")}
    )
    SELECT eventTime, eventName, user_arn, sourceIPAddress, group_id, eni, direction, rule_id, protocol, from_port, to_port,
        peer, coalesce(peer LIKE '%/0', false)
    FROM rules ORDER BY eventTime DESC, eventID, group_id, rule_id, protocol, from_port, to_port, peer
    LIMIT 500
    """
    return TILES


def sg_view(con):
    """The security-group events of `ct`, with their rule lists parsed."""
    principal = "coalesce(userIdentity.arn, userIdentity.principalId)"
    con.execute(f"""
    CREATE VIEW sg AS
    SELECT eventID, eventTime, eventName, {principal} AS user_arn, sourceIPAddress,
        CAST(requestParameters AS JSON) AS rp,
        coalesce(json_extract_string(requestParameters, '$.groupId'),
                 json_extract_string(requestParameters, '$.ModifySecurityGroupRulesRequest.GroupId'),
                 json_extract_string(responseElements, '$.groupId')) AS group_id,
        json_extract_string(requestParameters, '$.networkInterfaceId') AS eni,
        CASE WHEN eventName LIKE '%Ingress' THEN 'ingress' WHEN eventName LIKE '%Egress' THEN 'egress' END AS direction,
        {json_list("json_extract(requestParameters, '$.ipPermissions.items')")} AS perms,
        {json_list("json_extract(requestParameters, '$.securityGroupRuleIds.items')")} AS rule_ids,
        {json_list("json_extract(requestParameters, '$.groupSet.items')")} AS group_set,
        CASE json_type(json_extract(requestParameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule'))
            WHEN 'ARRAY' THEN CAST(json_extract(requestParameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule') AS JSON[])
            WHEN 'OBJECT' THEN [json_extract(requestParameters, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule')]
        END AS modify
    FROM ct WHERE eventSource = 'ec2.amazonaws.com' AND eventName IN {SG_EVENTS}
    """)


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def main():
    trail, record_type_file, zone = sys.argv[1], sys.argv[2], sys.argv[3]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW ct AS {raw_trail(trail, open(record_type_file).read().strip())}")
    sg_view(con)
    for tile, sql in tiles(zone).items():
        rows = con.execute(sql).fetchall()
        print(json.dumps({"id": tile, "rows": [[text(v) for v in row] for row in rows]}))


if __name__ == "__main__":
    main()
