//! The five dashboards of the Looker CloudTrail block, tile by tile, as Athena SQL over
//! `cloudtrail_logs`, with the block's defects fixed: a failed console login is
//! `responseElements.ConsoleLogin = 'Failure'` (not `errorCode = 'AccessDenied'`), JSON
//! members are read with JSON functions, geolocation is real, and every query is filtered on
//! `eventtime` so the time range prunes partitions. "Top N" tiles keep their N; the others
//! return all rows.
//!
//! `{range}` in a query is replaced by the time-range predicate.

/// How a tile reads best.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Bar,
    Line,
    Area,
    Pie,
    Table,
    Map,
}

impl Chart {
    /// The name in JSON and in the page's `data-chart`.
    pub fn name(self) -> &'static str {
        match self {
            Chart::Bar => "bar",
            Chart::Line => "line",
            Chart::Area => "area",
            Chart::Pie => "pie",
            Chart::Table => "table",
            Chart::Map => "map",
        }
    }
}

impl serde::Serialize for Chart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[derive(Debug, Clone)]
pub struct Tile {
    pub id: &'static str,
    pub title: &'static str,
    pub chart: Chart,
    pub sql: String,
    /// Needs a geolocation database.
    pub geo: bool,
    /// The same answer from partial answers that add up ([`crate::rollup`]).
    pub rollup: Option<Rollup>,
}

/// A tile's query split in two, so that its answer over many commits is the merge of
/// answers per commit (cached: a commit never changes) and a range is a choice of days:
/// `partial` is the tile's query grouped by `dt` and the tile's keys, with decomposable
/// measures (counts, and the keys of a `count(DISTINCT ...)`), plus the columns that say
/// where each group's `eventtime` values lie (`_tmin`, `_tmax`, `_tn` non-NULL, `_n` in all);
/// `merge` reads the partial rows as `{partial}` and gives exactly the tile's answer.
#[derive(Debug, Clone)]
pub struct Rollup {
    pub partial: String,
    pub merge: String,
    /// How many key columns follow `dt` in a partial row, its measures (counts, which add
    /// up) following the time columns; `None` when partial rows are events, not groups.
    pub keys: Option<usize>,
}

/// The columns every partial query starts with after `dt` and its keys.
const PARTIAL_TIME: &str =
    "min(eventtime) AS _tmin, max(eventtime) AS _tmax, count(eventtime) AS _tn, count(*) AS _n";

/// A grouped tile's [`Rollup`]: `keys` (each `expr AS alias`) and `measures` after them;
/// `from` is the tile's `FROM ... WHERE {range} ...`; `merge` the query over `{partial}`.
fn rollup(keys: &[&str], measures: &str, from: &str, merge: &str) -> Rollup {
    let groups: Vec<String> = (1..=keys.len() + 1).map(|i| i.to_string()).collect();
    Rollup {
        partial: format!(
            "SELECT dt, {}{PARTIAL_TIME}, {measures} {from} GROUP BY {}",
            keys.iter().map(|k| format!("{k}, ")).collect::<String>(),
            groups.join(", ")
        ),
        merge: merge.to_string(),
        keys: Some(keys.len()),
    }
}

/// A `count(*)` by `keys` tile's [`Rollup`]: the counts add up.
fn counted(keys: &[&str], aliases: &str, count: &str, from: &str, order: &str) -> Rollup {
    rollup(
        keys,
        &format!("count(*) AS {count}"),
        from,
        &format!(
            "SELECT {aliases}, sum({count}) AS {count} FROM {{partial}} GROUP BY {aliases} {order}"
        ),
    )
}

impl Tile {
    fn rolled(self, rollup: Rollup) -> Tile {
        Tile {
            rollup: Some(rollup),
            ..self
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub id: &'static str,
    pub title: &'static str,
    pub tiles: Vec<Tile>,
}

fn tile(id: &'static str, title: &'static str, chart: Chart, sql: impl Into<String>) -> Tile {
    Tile {
        id,
        title,
        chart,
        sql: sql.into(),
        geo: false,
        rollup: None,
    }
}

/// The user a console login is for: `root`, the IAM user name, or the role session name.
const LOGIN_USER: &str = "CASE WHEN useridentity.type = 'Root' THEN 'root' \
     ELSE coalesce(useridentity.username, element_at(split(useridentity.arn, '/'), -1), useridentity.principalid) END";

/// The columns [`drill_filter`] knows.
pub const FILTER_COLUMNS: &[&str] = &[
    "eventname",
    "eventsource",
    "sourceipaddress",
    "errorcode",
    "awsregion",
    "user",
    "user_arn",
    "user_type",
    "assumed_role",
    "group_id",
    "network_interface_id",
    "error",
];

/// The predicate on `cloudtrail_logs` that selects the events behind a tile cell: the
/// web app's drill-down (click a user, address, event name, error code, group id...).
/// `None` for columns that are not drillable.
pub fn drill_filter(column: &str, value: &str) -> Option<String> {
    let expr = match column {
        "eventname" | "eventsource" | "sourceipaddress" | "errorcode" | "awsregion" => {
            column.to_string()
        }
        "user" => LOGIN_USER.to_string(),
        "user_arn" => "coalesce(useridentity.arn, useridentity.principalid)".to_string(),
        "user_type" => "useridentity.type".to_string(),
        "assumed_role" => "useridentity.sessioncontext.sessionissuer.username".to_string(),
        "group_id" => "json_extract_scalar(requestparameters, '$.groupId')".to_string(),
        "network_interface_id" => {
            "json_extract_scalar(requestparameters, '$.networkInterfaceId')".to_string()
        }
        "error" => "coalesce(errormessage, errorcode)".to_string(),
        _ => return None,
    };
    Some(format!("{expr} = '{}'", value.replace('\'', "''")))
}

pub fn all() -> Vec<Dashboard> {
    vec![
        general_operations(),
        error_overview(),
        console_login_overview(),
        security_group_modifications(),
        operational_account_activity(),
    ]
}

/// The dashboard with this id.
pub fn find(id: &str) -> Option<Dashboard> {
    all().into_iter().find(|d| d.id == id)
}

fn general_operations() -> Dashboard {
    Dashboard {
        id: "general-operations",
        title: "General Operations",
        tiles: vec![
            tile(
                "top-10-events",
                "Top 10 Events",
                Chart::Bar,
                "SELECT eventname, count(*) AS events FROM cloudtrail_logs WHERE {range} \
                 GROUP BY eventname ORDER BY events DESC, eventname LIMIT 10",
            )
            .rolled(counted(&["eventname"], "eventname", "events", "FROM cloudtrail_logs WHERE {range}", "ORDER BY events DESC, eventname LIMIT 10")),
            tile(
                "top-events-full-detail",
                "Top Events (Full Detail)",
                Chart::Table,
                "SELECT eventname, count(*) AS events, \
                 count(DISTINCT coalesce(useridentity.arn, useridentity.principalid)) AS distinct_users, \
                 count_if(errorcode = 'AccessDenied') AS access_denied, \
                 round(100 * CAST(count_if(errorcode IS NOT NULL) AS DOUBLE) / count(*), 2) AS error_pct \
                 FROM cloudtrail_logs WHERE {range} GROUP BY eventname ORDER BY events DESC, eventname",
            )
            .rolled(rollup(
                &["eventname", "coalesce(useridentity.arn, useridentity.principalid) AS u"],
                "count(*) AS events, count_if(errorcode = 'AccessDenied') AS access_denied, \
                 count_if(errorcode IS NOT NULL) AS errors",
                "FROM cloudtrail_logs WHERE {range}",
                "SELECT eventname, sum(events) AS events, count(DISTINCT u) AS distinct_users, \
                 sum(access_denied) AS access_denied, \
                 round(100 * CAST(sum(errors) AS DOUBLE) / sum(events), 2) AS error_pct \
                 FROM {partial} GROUP BY eventname ORDER BY events DESC, eventname",
            )),
            tile(
                "events-by-source",
                "Events by Source",
                Chart::Pie,
                "SELECT eventsource, count(*) AS events FROM cloudtrail_logs WHERE {range} \
                 GROUP BY eventsource ORDER BY events DESC, eventsource",
            )
            .rolled(counted(&["eventsource"], "eventsource", "events", "FROM cloudtrail_logs WHERE {range}", "ORDER BY events DESC, eventsource")),
            tile(
                "events-by-region",
                "Events by Region",
                Chart::Line,
                "SELECT substr(eventtime, 1, 10) AS day, awsregion, count(*) AS events \
                 FROM cloudtrail_logs WHERE {range} GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .rolled(counted(&["substr(eventtime, 1, 10) AS day", "awsregion"], "day, awsregion", "events", "FROM cloudtrail_logs WHERE {range}", "ORDER BY 1, 2")),
            tile(
                "events-by-hour-of-day",
                "Events by Hour of Day",
                Chart::Bar,
                "SELECT hour(from_iso8601_timestamp(eventtime)) AS hour, count(*) AS events \
                 FROM cloudtrail_logs WHERE {range} GROUP BY 1 ORDER BY 1",
            )
            .rolled(counted(&["hour(from_iso8601_timestamp(eventtime)) AS \"hour\""], "\"hour\"", "events", "FROM cloudtrail_logs WHERE {range}", "ORDER BY 1")),
            tile(
                "day-of-week",
                "Day of Week",
                Chart::Bar,
                "SELECT day_of_week(from_iso8601_timestamp(eventtime)) AS day_of_week, \
                 date_format(from_iso8601_timestamp(eventtime), '%W') AS day, count(*) AS events \
                 FROM cloudtrail_logs WHERE {range} GROUP BY 1, 2 ORDER BY 1",
            )
            .rolled(counted(
                &[
                    "day_of_week(from_iso8601_timestamp(eventtime)) AS day_of_week",
                    "date_format(from_iso8601_timestamp(eventtime), '%W') AS day",
                ],
                "day_of_week, day",
                "events",
                "FROM cloudtrail_logs WHERE {range}",
                "ORDER BY 1",
            )),
            tile(
                "ec2-instance-changes",
                "EC2 Instance Changes",
                Chart::Area,
                "SELECT substr(eventtime, 1, 10) AS day, eventname, count(*) AS events \
                 FROM cloudtrail_logs WHERE {range} AND eventsource = 'ec2.amazonaws.com' \
                 AND eventname IN ('RunInstances', 'StartInstances', 'StopInstances', 'TerminateInstances') \
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .rolled(counted(
                &["substr(eventtime, 1, 10) AS day", "eventname"],
                "day, eventname",
                "events",
                "FROM cloudtrail_logs WHERE {range} AND eventsource = 'ec2.amazonaws.com' \
                 AND eventname IN ('RunInstances', 'StartInstances', 'StopInstances', 'TerminateInstances')",
                "ORDER BY 1, 2",
            )),
        ],
    }
}

fn error_overview() -> Dashboard {
    Dashboard {
        id: "error-overview",
        title: "Error Overview",
        tiles: vec![
            tile(
                "top-assumed-user-types",
                "Top Assumed User Types",
                Chart::Bar,
                "SELECT useridentity.sessioncontext.sessionissuer.username AS assumed_role, count(*) AS errors \
                 FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL \
                 AND useridentity.type = 'AssumedRole' GROUP BY 1 ORDER BY errors DESC, 1",
            )
            .rolled(counted(
                &["useridentity.sessioncontext.sessionissuer.username AS assumed_role"],
                "assumed_role",
                "errors",
                "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL \
                 AND useridentity.type = 'AssumedRole'",
                "ORDER BY errors DESC, 1",
            )),
            tile(
                "errors-by-user-type",
                "Errors by User Type",
                Chart::Pie,
                "SELECT useridentity.type AS user_type, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC, 1",
            )
            .rolled(counted(&["useridentity.type AS user_type"], "user_type", "errors", "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL", "ORDER BY errors DESC, 1")),
            tile(
                "errors-by-source",
                "Errors by Source",
                Chart::Bar,
                "SELECT eventsource, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC, 1",
            )
            .rolled(counted(&["eventsource"], "eventsource", "errors", "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL", "ORDER BY errors DESC, 1")),
            tile(
                "errors-and-events-over-time",
                "Errors and Events Over Time",
                Chart::Line,
                "SELECT from_unixtime(CAST(floor(to_unixtime(from_iso8601_timestamp(eventtime)) / 1800) * 1800 AS bigint)) AS bucket, \
                 count(*) AS events, count_if(errorcode IS NOT NULL) AS errors, \
                 round(100 * CAST(count_if(errorcode IS NOT NULL) AS DOUBLE) / count(*), 2) AS error_pct \
                 FROM cloudtrail_logs WHERE {range} GROUP BY 1 ORDER BY 1",
            )
            .rolled(rollup(
                &["from_unixtime(CAST(floor(to_unixtime(from_iso8601_timestamp(eventtime)) / 1800) * 1800 AS bigint)) AS bucket"],
                "count(*) AS events, count_if(errorcode IS NOT NULL) AS errors",
                "FROM cloudtrail_logs WHERE {range}",
                "SELECT bucket, sum(events) AS events, sum(errors) AS errors, \
                 round(100 * CAST(sum(errors) AS DOUBLE) / sum(events), 2) AS error_pct \
                 FROM {partial} GROUP BY bucket ORDER BY 1",
            )),
            tile(
                "top-events-with-errors",
                "Top Events with Errors",
                Chart::Bar,
                "SELECT eventname, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC, 1",
            )
            .rolled(counted(&["eventname"], "eventname", "errors", "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL", "ORDER BY errors DESC, 1")),
            tile(
                "top-error-codes",
                "Top Error Codes",
                Chart::Bar,
                "SELECT errorcode, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC, 1",
            )
            .rolled(counted(&["errorcode"], "errorcode", "errors", "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL", "ORDER BY errors DESC, 1")),
            tile(
                "assumed-iam-user-errors-full-detail",
                "Assumed IAM User Errors (Full Detail)",
                Chart::Table,
                "SELECT useridentity.sessioncontext.sessionissuer.username AS assumed_role, eventname, \
                 errorcode, errormessage, eventsource, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL AND useridentity.type = 'AssumedRole' \
                 GROUP BY 1, 2, 3, 4, 5 ORDER BY errors DESC, 1, 2, 3, 4, 5",
            )
            .rolled(counted(
                &[
                    "useridentity.sessioncontext.sessionissuer.username AS assumed_role",
                    "eventname",
                    "errorcode",
                    "errormessage",
                    "eventsource",
                ],
                "assumed_role, eventname, errorcode, errormessage, eventsource",
                "errors",
                "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL \
                 AND useridentity.type = 'AssumedRole'",
                "ORDER BY errors DESC, 1, 2, 3, 4, 5",
            )),
        ],
    }
}

fn console_login_overview() -> Dashboard {
    let q = |body: &str| -> String {
        body.replace("{user}", LOGIN_USER)
            .replace(
                "{failed}",
                "json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'",
            )
            .replace(
                "{ok}",
                "json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success'",
            )
    };
    let logins = "FROM cloudtrail_logs WHERE {range} AND eventname = 'ConsoleLogin'";
    // A login tile's rollup: `extra` narrows the logins.
    let lr = |keys: &[&str], measures: &str, extra: &str, merge: &str| {
        let r = rollup(keys, measures, &format!("{logins}{extra}"), merge);
        Rollup {
            partial: q(&r.partial),
            ..r
        }
    };
    Dashboard {
        id: "console-login-overview",
        title: "Console Login Overview",
        tiles: vec![
            tile(
                "top-user-logins",
                "Top User Logins",
                Chart::Bar,
                q(&format!(
                    "SELECT {{user}} AS user, count_if({{ok}}) AS successful, count_if({{failed}}) AS failed, \
                     count(*) AS total {logins} GROUP BY 1 ORDER BY total DESC, 1"
                )),
            )
            .rolled(lr(&["{user} AS \"user\""], "count_if({ok}) AS successful, count_if({failed}) AS failed, count(*) AS total", "", "SELECT \"user\", sum(successful) AS successful, sum(failed) AS failed, sum(total) AS total FROM {partial} GROUP BY \"user\" ORDER BY total DESC, 1")),
            tile(
                "console-logins-over-time",
                "Console Logins Over Time",
                Chart::Line,
                q(&format!(
                    "SELECT substr(eventtime, 1, 10) AS day, count_if({{ok}}) AS successful, \
                     count_if({{failed}}) AS failed {logins} GROUP BY 1 ORDER BY 1"
                )),
            )
            .rolled(lr(&["substr(eventtime, 1, 10) AS day"], "count_if({ok}) AS successful, count_if({failed}) AS failed", "", "SELECT day, sum(successful) AS successful, sum(failed) AS failed FROM {partial} GROUP BY day ORDER BY 1")),
            tile(
                "logins-from-multiple-ip-addresses",
                "Logins from Multiple IP Addresses",
                Chart::Table,
                q(&format!(
                    "SELECT {{user}} AS user, count(DISTINCT sourceipaddress) AS ip_addresses, \
                     count(*) AS logins {logins} GROUP BY 1 HAVING count(DISTINCT sourceipaddress) > 1 \
                     ORDER BY ip_addresses DESC, 1"
                )),
            )
            .rolled(lr(&["{user} AS \"user\"", "sourceipaddress"], "count(*) AS logins", "", "SELECT \"user\", count(DISTINCT sourceipaddress) AS ip_addresses, sum(logins) AS logins FROM {partial} GROUP BY \"user\" HAVING count(DISTINCT sourceipaddress) > 1 ORDER BY ip_addresses DESC, 1")),
            tile(
                "most-common-ip-addresses",
                "Most Common IP Addresses",
                Chart::Bar,
                q(&format!(
                    "SELECT sourceipaddress, count(*) AS logins, count_if({{failed}}) AS failed \
                     {logins} GROUP BY 1 ORDER BY logins DESC, 1"
                )),
            )
            .rolled(lr(&["sourceipaddress"], "count(*) AS logins, count_if({failed}) AS failed", "", "SELECT sourceipaddress, sum(logins) AS logins, sum(failed) AS failed FROM {partial} GROUP BY sourceipaddress ORDER BY logins DESC, 1")),
            Tile {
                geo: true,
                ..tile(
                    "user-login-geolocation",
                    "User Login Geolocation",
                    Chart::Map,
                    q(&format!(
                        "SELECT geoip_country(sourceipaddress) AS country, geoip_city(sourceipaddress) AS city, \
                         geoip_lat(sourceipaddress) AS latitude, geoip_lon(sourceipaddress) AS longitude, \
                         count(*) AS logins, count_if({{failed}}) AS failed {logins} \
                         GROUP BY 1, 2, 3, 4 ORDER BY logins DESC, 1, 2"
                    )),
                )
            .rolled(lr(&["geoip_country(sourceipaddress) AS country", "geoip_city(sourceipaddress) AS city", "geoip_lat(sourceipaddress) AS latitude", "geoip_lon(sourceipaddress) AS longitude"], "count(*) AS logins, count_if({failed}) AS failed", "", "SELECT country, city, latitude, longitude, sum(logins) AS logins, sum(failed) AS failed FROM {partial} GROUP BY country, city, latitude, longitude ORDER BY logins DESC, 1, 2"))
            },
            tile(
                "most-common-login-errors",
                "Most Common Login Errors",
                Chart::Bar,
                q(&format!(
                    "SELECT coalesce(errormessage, errorcode, 'Failure') AS error, count(*) AS logins \
                     {logins} AND {{failed}} GROUP BY 1 ORDER BY logins DESC, 1"
                )),
            )
            .rolled(lr(&["coalesce(errormessage, errorcode, 'Failure') AS error"], "count(*) AS logins", " AND {failed}", "SELECT error, sum(logins) AS logins FROM {partial} GROUP BY error ORDER BY logins DESC, 1")),
            tile(
                "login-user-count-over-time",
                "Login User Count Over Time",
                Chart::Line,
                q(&format!(
                    "SELECT substr(eventtime, 1, 10) AS day, count(DISTINCT {{user}}) AS users \
                     {logins} GROUP BY 1 ORDER BY 1"
                )),
            )
            .rolled(lr(&["substr(eventtime, 1, 10) AS day", "{user} AS \"user\""], "count(*) AS logins", "", "SELECT day, count(DISTINCT \"user\") AS users FROM {partial} GROUP BY day ORDER BY 1")),
            tile(
                "logins-without-multi-factor-auth",
                "Logins without Multi-Factor Auth",
                Chart::Table,
                q(&format!(
                    "SELECT {{user}} AS user, json_extract_scalar(responseelements, '$.ConsoleLogin') AS login_status, \
                     count(*) AS logins {logins} \
                     AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No' \
                     GROUP BY 1, 2 ORDER BY logins DESC, 1, 2"
                )),
            )
            .rolled(lr(&["{user} AS \"user\"", "json_extract_scalar(responseelements, '$.ConsoleLogin') AS login_status"], "count(*) AS logins", " AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No'", "SELECT \"user\", login_status, sum(logins) AS logins FROM {partial} GROUP BY \"user\", login_status ORDER BY logins DESC, 1, 2")),
        ],
    }
}

fn security_group_modifications() -> Dashboard {
    let columns = "eventtime, eventname, \
             coalesce(useridentity.arn, useridentity.principalid) AS user_arn, sourceipaddress, \
             json_extract_scalar(requestparameters, '$.groupId') AS group_id, \
             json_extract_scalar(requestparameters, '$.networkInterfaceId') AS network_interface_id, \
             CASE WHEN eventname LIKE '%Ingress' THEN 'ingress' WHEN eventname LIKE '%Egress' THEN 'egress' END AS direction, \
             json_extract_scalar(requestparameters, '$.ipPermissions.items[0].ipProtocol') AS protocol, \
             json_extract_scalar(requestparameters, '$.ipPermissions.items[0].fromPort') AS from_port, \
             json_extract_scalar(requestparameters, '$.ipPermissions.items[0].toPort') AS to_port, \
             coalesce(json_extract_scalar(requestparameters, '$.ipPermissions.items[0].ipRanges.items[0].cidrIp'), \
                      json_extract_scalar(requestparameters, '$.ipPermissions.items[0].ipv6Ranges.items[0].cidrIpv6'), \
                      json_extract_scalar(requestparameters, '$.ipPermissions.items[0].groups.items[0].groupId')) AS cidr_or_peer, \
             (strpos(coalesce(requestparameters, ''), '\"0.0.0.0/0\"') > 0 \
              OR strpos(coalesce(requestparameters, ''), '\"::/0\"') > 0) AS open_to_world";
    let from = "FROM cloudtrail_logs WHERE {range} AND eventsource = 'ec2.amazonaws.com' AND eventname IN \
             ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress', \
              'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup', \
              'ModifySecurityGroupRules', 'UpdateSecurityGroupRuleDescriptionsIngress', \
              'UpdateSecurityGroupRuleDescriptionsEgress', 'ModifyNetworkInterfaceAttribute')";
    Dashboard {
        id: "security-group-modifications",
        title: "EC2 Security Group Modifications",
        tiles: vec![
            tile(
                "security-group-modifications",
                "Security Group Modifications",
                Chart::Table,
                format!("SELECT {columns} {from} ORDER BY eventtime DESC, eventid"),
            )
            // Rows, not groups: the partial rows are the events themselves.
            .rolled(Rollup {
                partial: format!(
                    "SELECT dt, eventtime AS _tmin, eventtime AS _tmax, \
                     CAST(CASE WHEN eventtime IS NULL THEN 0 ELSE 1 END AS BIGINT) AS _tn, \
                     CAST(1 AS BIGINT) AS _n, eventid AS _eventid, {columns} {from}"
                ),
                merge: "SELECT eventtime, eventname, user_arn, sourceipaddress, group_id, \
                        network_interface_id, direction, protocol, from_port, to_port, \
                        cidr_or_peer, open_to_world FROM {partial} ORDER BY eventtime DESC, _eventid"
                    .to_string(),
                keys: None,
            }),
        ],
    }
}

fn operational_account_activity() -> Dashboard {
    Dashboard {
        id: "operational-account-activity",
        title: "Operational Account Activity",
        tiles: vec![
            tile(
                "top-aws-event-errors",
                "Top AWS Event Errors",
                Chart::Bar,
                "SELECT eventname, errorcode, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL GROUP BY 1, 2 ORDER BY errors DESC, 1, 2",
            )
            .rolled(counted(&["eventname", "errorcode"], "eventname, errorcode", "errors", "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL", "ORDER BY errors DESC, 1, 2")),
            tile(
                "top-iam-users",
                "Top IAM Users",
                Chart::Table,
                "SELECT useridentity.username AS user, eventname, count(*) AS events FROM cloudtrail_logs \
                 WHERE {range} AND useridentity.type = 'IAMUser' GROUP BY 1, 2 ORDER BY events DESC, 1, 2",
            )
            .rolled(counted(
                &["useridentity.username AS \"user\"", "eventname"],
                "\"user\", eventname",
                "events",
                "FROM cloudtrail_logs WHERE {range} AND useridentity.type = 'IAMUser'",
                "ORDER BY events DESC, 1, 2",
            )),
            tile(
                "root-activity",
                "Root Activity",
                Chart::Table,
                "SELECT eventname, coalesce(useridentity.invokedby, sourceipaddress) AS invoked_by, \
                 count(*) AS events FROM cloudtrail_logs WHERE {range} AND useridentity.type = 'Root' \
                 GROUP BY 1, 2 ORDER BY events DESC, 1, 2",
            )
            .rolled(counted(
                &["eventname", "coalesce(useridentity.invokedby, sourceipaddress) AS invoked_by"],
                "eventname, invoked_by",
                "events",
                "FROM cloudtrail_logs WHERE {range} AND useridentity.type = 'Root'",
                "ORDER BY events DESC, 1, 2",
            )),
        ],
    }
}
