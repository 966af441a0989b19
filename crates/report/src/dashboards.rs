//! The five dashboards of the Looker CloudTrail block, tile by tile, as Athena SQL over
//! `cloudtrail_logs`, with the block's defects fixed: a failed console login is
//! `responseElements.ConsoleLogin = 'Failure'` (not `errorCode = 'AccessDenied'`), JSON
//! members are read with JSON functions, geolocation is real, and every query is filtered on
//! `eventtime` so the time range prunes partitions. Tiles keep the block's row limits.
//!
//! In a tile's SQL, `{range}` is replaced by the range's predicate (time and filters),
//! `{error}` by [`ERROR`], and `{day}`, `{ts}`, `{halfhour}` by the time buckets in the
//! range's zone ([`zoned`]).

/// How a tile reads best.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Bar,
    Line,
    Area,
    Pie,
    Table,
    Map,
    /// Hours of the day (0-23) down, ISO weekdays (Monday first) across: rows of
    /// `(hour, day_of_week, day name, measure)`, drawn as a shaded cross-tab ([`crate::pivot`]).
    Heatmap,
    /// Guidance: what the dashboard shows and where to look next ([`Tile::text`]); no query.
    Text,
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
            Chart::Heatmap => "heatmap",
            Chart::Text => "text",
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
    /// A guidance tile's text (paragraphs separated by blank lines); such a tile runs no SQL.
    pub text: Option<&'static str>,
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
    /// up) following the time columns.
    pub keys: usize,
}

/// What an error is, as the block counts it and more: an error code or an error message. The
/// block counts `errorMessage` alone, because a failed console login has a message and no
/// code; many failed API calls have a code and no message (`AccessDenied` on S3, most EC2
/// errors), so either one makes an error. `{error}` in a tile's SQL is this predicate.
pub const ERROR: &str = "(errorcode IS NOT NULL OR errormessage IS NOT NULL)";

/// A tile's SQL with its time buckets in `zone` (an IANA name or an offset; `None` is UTC):
/// `{day}` (the day, `YYYY-MM-DD`), `{ts}` (the event's time, whose hour, weekday and
/// `date_format` read the zone's wall clock) and `{halfhour}` (the half hour it falls in).
///
/// In UTC the buckets come from what the lake stores, which needs no parsing of `eventtime`
/// (decoding that text is most of a scan of the whole lake): the day is the event's day
/// partition `dt` and the time is `eventtime_ts`. Both give exactly the buckets of
/// `from_iso8601_timestamp(eventtime)`: a time that parses is stored as canonical UTC text in
/// the partition of its date, and `eventtime_ts` differs from the text's time only by the
/// fraction of a second the text drops, which moves no event out of its second, half hour,
/// hour or day. A time that does not parse is NULL in all three (its day is the unknown
/// partition's, read as NULL).
pub fn zoned(sql: &str, zone: Option<&str>) -> String {
    let half = |ts: &str, z: &str| {
        format!("from_unixtime(CAST(floor(to_unixtime({ts}) / 1800) * 1800 AS bigint){z})")
    };
    match zone {
        None => sql
            .replace("{day}", trawl_schema::PARTITION_COL)
            .replace("{ts}", trawl_schema::COL_EVENTTIME_TS)
            .replace("{halfhour}", &half(trawl_schema::COL_EVENTTIME_TS, "")),
        Some(z) => {
            let z = z.replace('\'', "''");
            let ts = format!("(from_iso8601_timestamp(eventtime) AT TIME ZONE '{z}')");
            sql.replace("{day}", &format!("date_format({ts}, '%Y-%m-%d')"))
                .replace("{ts}", &ts)
                .replace(
                    "{halfhour}",
                    &half("from_iso8601_timestamp(eventtime)", &format!(", '{z}'")),
                )
        }
    }
}

/// A weekday's short name from its ISO number (`day_of_week`), named once per group rather
/// than formatted once per event.
const WEEKDAY_NAME: &str =
    "element_at(ARRAY['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], day_of_week)";

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
        )
        .replace("{error}", ERROR),
        merge: merge.to_string(),
        keys: keys.len(),
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
    /// The range shown when none is asked for, in microseconds counted back from the lake's
    /// newest event (the block's date filter defaults: [`YEAR_US`], [`TWO_DAYS_US`]).
    pub default_period_us: i64,
    /// When every tile reads only some events: those events are read from the lake once and
    /// the tiles run on them in memory ([`crate::run_cached`] without a cache).
    pub scope: Option<Scope>,
    pub tiles: Vec<Tile>,
}

/// The events all of a dashboard's tiles read: `predicate` selects them, `columns` are every
/// column a tile uses (the range and its filters are applied when the events are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub predicate: &'static str,
    pub columns: &'static str,
    /// Expressions of several tiles, computed once per event as the events are read: each
    /// `(expression, column)` is read as `expression AS column`, and a tile running on the
    /// events in memory reads the column wherever its SQL has the expression's text.
    pub computed: &'static [(&'static str, &'static str)],
}

const HOUR_US: i64 = 3_600_000_000;
/// The block's default date range: 1 year.
pub const YEAR_US: i64 = 365 * 24 * HOUR_US;
/// Error Overview's and Operational Account Activity's default: 48 hours.
pub const TWO_DAYS_US: i64 = 48 * HOUR_US;

fn tile(id: &'static str, title: &'static str, chart: Chart, sql: impl Into<String>) -> Tile {
    Tile {
        id,
        title,
        chart,
        sql: sql.into().replace("{error}", ERROR),
        geo: false,
        rollup: None,
        text: None,
    }
}

/// A guidance tile: `text` says what the dashboard shows and where to look next.
fn guide(id: &'static str, title: &'static str, text: &'static str) -> Tile {
    Tile {
        text: Some(text),
        ..tile(id, title, Chart::Text, "")
    }
}

/// The events the Console Login Overview reads.
const LOGINS: &str = "eventname = 'ConsoleLogin'";

/// The user a console login is for: `root`, the IAM user name, or the role session name.
const LOGIN_USER: &str = "CASE WHEN useridentity.type = 'Root' THEN 'root' \
     ELSE coalesce(useridentity.username, element_at(split(useridentity.arn, '/'), -1), useridentity.principalid) END";

/// A console login's outcome: `Success` or `Failure`.
const LOGIN_OUTCOME: &str = "json_extract_scalar(responseelements, '$.ConsoleLogin')";

/// Whether a console login used MFA: `Yes` or `No`.
const MFA_USED: &str = "json_extract_scalar(additionaleventdata, '$.MFAUsed')";

/// The columns [`drill_filter`] knows: the block's filters (account, region, user, event
/// name) and the columns of tile cells a click drills into.
pub const FILTER_COLUMNS: &[&str] = &[
    "account",
    "region",
    "user",
    "eventname",
    "eventsource",
    "sourceipaddress",
    "errorcode",
    "awsregion",
    "user_arn",
    "user_type",
    "assumed_role",
    "group_id",
    "network_interface_id",
    "error",
    "resource",
];

/// The predicate on `cloudtrail_logs` that selects the events behind a filter or a tile
/// cell: the web app's drill-down (click a user, address, event name, error code, group
/// id...). `None` for columns that are not filters.
pub fn drill_filter(column: &str, value: &str) -> Option<String> {
    use crate::security_groups;
    let v = format!("'{}'", value.replace('\'', "''"));
    Some(match column {
        "eventname" | "eventsource" | "sourceipaddress" | "errorcode" | "awsregion" => {
            format!("{column} = {v}")
        }
        "account" => format!("recipientaccountid = {v}"),
        "region" => format!("awsregion = {v}"),
        "user" => format!("{LOGIN_USER} = {v}"),
        "user_arn" => format!("coalesce(useridentity.arn, useridentity.principalid) = {v}"),
        "user_type" => format!("useridentity.type = {v}"),
        "assumed_role" => format!("useridentity.sessioncontext.sessionissuer.username = {v}"),
        // Where the security-group tile finds a group: the call's group, a rule change's
        // group, a new group's id, or one of a network interface's groups.
        "group_id" => format!(
            "({} = {v} OR contains(transform({}, g -> json_extract_scalar(g, '$.groupId')), {v}))",
            security_groups::GROUP_ID,
            security_groups::list("requestparameters", "$.groupSet.items"),
        ),
        "network_interface_id" => {
            format!("json_extract_scalar(requestparameters, '$.networkInterfaceId') = {v}")
        }
        "error" => format!("coalesce(errormessage, errorcode) = {v}"),
        // A resource: an ARN in `resources`, or a bucket or instance id the request names.
        "resource" => format!(
            "(any_match(resources, r -> r.arn = {v}) \
             OR json_extract_scalar(requestparameters, '$.bucketName') = {v} \
             OR json_extract_scalar(requestparameters, '$.instanceId') = {v} \
             OR contains(transform({}, i -> json_extract_scalar(i, '$.instanceId')), {v}))",
            security_groups::list("requestparameters", "$.instancesSet.items"),
        ),
        _ => return None,
    })
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
        default_period_us: YEAR_US,
        scope: None,
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
                "Top Events (Full Detail), top 100",
                Chart::Table,
                "SELECT eventname, count(*) AS events, \
                 count(DISTINCT useridentity.sessioncontext.sessionissuer.username) AS assumed_users, \
                 count(DISTINCT coalesce(useridentity.arn, useridentity.principalid)) AS principals, \
                 count_if(errorcode = 'AccessDenied') AS access_denied, \
                 round(100 * CAST(count_if({error}) AS DOUBLE) / count(*), 2) AS error_pct \
                 FROM cloudtrail_logs WHERE {range} GROUP BY eventname ORDER BY events DESC, eventname LIMIT 100",
            )
            .rolled(rollup(
                &[
                    "eventname",
                    "useridentity.sessioncontext.sessionissuer.username AS a",
                    "coalesce(useridentity.arn, useridentity.principalid) AS u",
                ],
                "count(*) AS events, count_if(errorcode = 'AccessDenied') AS access_denied, \
                 count_if({error}) AS errors",
                "FROM cloudtrail_logs WHERE {range}",
                "SELECT eventname, sum(events) AS events, count(DISTINCT a) AS assumed_users, \
                 count(DISTINCT u) AS principals, sum(access_denied) AS access_denied, \
                 round(100 * CAST(sum(errors) AS DOUBLE) / sum(events), 2) AS error_pct \
                 FROM {partial} GROUP BY eventname ORDER BY events DESC, eventname LIMIT 100",
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
                "SELECT {day} AS day, awsregion, count(*) AS events \
                 FROM cloudtrail_logs WHERE {range} GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .rolled(counted(&["{day} AS day", "awsregion"], "day, awsregion", "events", "FROM cloudtrail_logs WHERE {range}", "ORDER BY 1, 2")),
            tile(
                "events-by-hour-and-day-of-week",
                "Events by Hour of Day, Day of Week",
                Chart::Heatmap,
                format!(
                    "SELECT \"hour\", day_of_week, {WEEKDAY_NAME} AS day, events FROM (\
                     SELECT hour({{ts}}) AS \"hour\", day_of_week({{ts}}) AS day_of_week, count(*) AS events \
                     FROM cloudtrail_logs WHERE {{range}} GROUP BY 1, 2) ORDER BY 1, 2"
                ),
            )
            .rolled(rollup(
                &["hour({ts}) AS \"hour\"", "day_of_week({ts}) AS day_of_week"],
                "count(*) AS events",
                "FROM cloudtrail_logs WHERE {range}",
                &format!(
                    "SELECT \"hour\", day_of_week, {WEEKDAY_NAME} AS day, sum(events) AS events \
                     FROM {{partial}} GROUP BY 1, 2 ORDER BY 1, 2"
                ),
            )),
            tile(
                "ec2-instance-changes",
                "EC2 Instance Changes",
                Chart::Area,
                "SELECT {day} AS day, eventname, count(*) AS events \
                 FROM cloudtrail_logs WHERE {range} AND eventsource = 'ec2.amazonaws.com' \
                 AND eventname IN ('RunInstances', 'StartInstances', 'StopInstances', 'TerminateInstances') \
                 GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .rolled(counted(
                &["{day} AS day", "eventname"],
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
        default_period_us: TWO_DAYS_US,
        scope: None,
        tiles: vec![
            tile(
                "top-assumed-user-types",
                "Top Assumed User Types (Top 10)",
                Chart::Bar,
                "SELECT useridentity.sessioncontext.sessionissuer.username AS assumed_role, count(*) AS errors \
                 FROM cloudtrail_logs WHERE {range} AND {error} \
                 AND useridentity.sessioncontext.sessionissuer.username IS NOT NULL \
                 GROUP BY 1 ORDER BY errors DESC, 1 LIMIT 10",
            )
            .rolled(counted(
                &["useridentity.sessioncontext.sessionissuer.username AS assumed_role"],
                "assumed_role",
                "errors",
                "FROM cloudtrail_logs WHERE {range} AND {error} \
                 AND useridentity.sessioncontext.sessionissuer.username IS NOT NULL",
                "ORDER BY errors DESC, 1 LIMIT 10",
            )),
            tile(
                "errors-by-user-type",
                "Errors by User Type (Top 10)",
                Chart::Pie,
                "SELECT useridentity.type AS user_type, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND {error} GROUP BY 1 ORDER BY errors DESC, 1 LIMIT 10",
            )
            .rolled(counted(&["useridentity.type AS user_type"], "user_type", "errors", "FROM cloudtrail_logs WHERE {range} AND {error}", "ORDER BY errors DESC, 1 LIMIT 10")),
            tile(
                "errors-by-source",
                "Errors by Source",
                Chart::Bar,
                "SELECT eventsource, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND {error} GROUP BY 1 ORDER BY errors DESC, 1",
            )
            .rolled(counted(&["eventsource"], "eventsource", "errors", "FROM cloudtrail_logs WHERE {range} AND {error}", "ORDER BY errors DESC, 1")),
            tile(
                "errors-and-events-over-time",
                "Errors and Events Over Time",
                Chart::Line,
                "SELECT {halfhour} AS bucket, \
                 count(*) AS events, count_if({error}) AS errors, \
                 round(100 * CAST(count_if({error}) AS DOUBLE) / count(*), 2) AS error_pct \
                 FROM cloudtrail_logs WHERE {range} GROUP BY 1 ORDER BY 1",
            )
            .rolled(rollup(
                &["{halfhour} AS bucket"],
                "count(*) AS events, count_if({error}) AS errors",
                "FROM cloudtrail_logs WHERE {range}",
                "SELECT bucket, sum(events) AS events, sum(errors) AS errors, \
                 round(100 * CAST(sum(errors) AS DOUBLE) / sum(events), 2) AS error_pct \
                 FROM {partial} GROUP BY bucket ORDER BY 1",
            )),
            tile(
                "top-events-with-errors",
                "Top Events with Errors (Top 10)",
                Chart::Bar,
                "SELECT eventname, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND {error} GROUP BY 1 ORDER BY errors DESC, 1 LIMIT 10",
            )
            .rolled(counted(&["eventname"], "eventname", "errors", "FROM cloudtrail_logs WHERE {range} AND {error}", "ORDER BY errors DESC, 1 LIMIT 10")),
            tile(
                "top-error-codes",
                "Top Error Codes (Top 10)",
                Chart::Bar,
                "SELECT errorcode, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC, 1 LIMIT 10",
            )
            .rolled(counted(&["errorcode"], "errorcode", "errors", "FROM cloudtrail_logs WHERE {range} AND errorcode IS NOT NULL", "ORDER BY errors DESC, 1 LIMIT 10")),
            tile(
                "assumed-iam-user-errors-full-detail",
                "Assumed IAM User Errors (Full Detail)",
                Chart::Table,
                "SELECT useridentity.sessioncontext.sessionissuer.username AS assumed_role, eventname, \
                 errorcode, errormessage, eventsource, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND {error} AND useridentity.sessioncontext.sessionissuer.username IS NOT NULL \
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
                "FROM cloudtrail_logs WHERE {range} AND {error} \
                 AND useridentity.sessioncontext.sessionissuer.username IS NOT NULL",
                "ORDER BY errors DESC, 1, 2, 3, 4, 5",
            )),
        ],
    }
}

fn console_login_overview() -> Dashboard {
    let q = |body: &str| -> String {
        body.replace("{user}", LOGIN_USER)
            .replace("{outcome}", LOGIN_OUTCOME)
            .replace("{mfa}", MFA_USED)
            .replace("{failed}", &format!("{LOGIN_OUTCOME} = 'Failure'"))
            .replace("{ok}", &format!("{LOGIN_OUTCOME} = 'Success'"))
    };
    let logins = format!("FROM cloudtrail_logs WHERE {{range}} AND {LOGINS}");
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
        default_period_us: YEAR_US,
        scope: Some(Scope {
            predicate: LOGINS,
            columns: "dt, eventtime, eventname, sourceipaddress, errorcode, errormessage",
            // The tiles read `useridentity`, `responseelements` and `additionaleventdata`
            // only through these: computed once per login, not once per tile.
            computed: &[
                (LOGIN_USER, "__login_user"),
                (LOGIN_OUTCOME, "__login_outcome"),
                (MFA_USED, "__mfa_used"),
            ],
        }),
        tiles: vec![
            tile(
                "top-user-logins",
                "Top User Logins (Top 10)",
                Chart::Bar,
                q(&format!(
                    "SELECT {{user}} AS user, count_if({{ok}}) AS successful, count_if({{failed}}) AS failed, \
                     count(*) AS total {logins} GROUP BY 1 ORDER BY total DESC, 1 LIMIT 10"
                )),
            )
            .rolled(lr(&["{user} AS \"user\""], "count_if({ok}) AS successful, count_if({failed}) AS failed, count(*) AS total", "", "SELECT \"user\", sum(successful) AS successful, sum(failed) AS failed, sum(total) AS total FROM {partial} GROUP BY \"user\" ORDER BY total DESC, 1 LIMIT 10")),
            tile(
                "console-logins-over-time",
                "Console Logins Over Time",
                Chart::Line,
                q(&format!(
                    "SELECT {{day}} AS day, count_if({{ok}}) AS successful, \
                     count_if({{failed}}) AS failed {logins} GROUP BY 1 ORDER BY 1"
                )),
            )
            .rolled(lr(&["{day} AS day"], "count_if({ok}) AS successful, count_if({failed}) AS failed", "", "SELECT day, sum(successful) AS successful, sum(failed) AS failed FROM {partial} GROUP BY day ORDER BY 1")),
            tile(
                "logins-from-multiple-ip-addresses",
                "Logins from Multiple IP Addresses (Top 50)",
                Chart::Table,
                q(&format!(
                    "SELECT {{user}} AS user, count(DISTINCT sourceipaddress) AS ip_addresses, \
                     count(*) AS logins {logins} GROUP BY 1 HAVING count(DISTINCT sourceipaddress) > 1 \
                     ORDER BY ip_addresses DESC, 1 LIMIT 50"
                )),
            )
            .rolled(lr(&["{user} AS \"user\"", "sourceipaddress"], "count(*) AS logins", "", "SELECT \"user\", count(DISTINCT sourceipaddress) AS ip_addresses, sum(logins) AS logins FROM {partial} GROUP BY \"user\" HAVING count(DISTINCT sourceipaddress) > 1 ORDER BY ip_addresses DESC, 1 LIMIT 50")),
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
                    "SELECT coalesce(errormessage, errorcode, 'Failure') AS error, count(*) AS logins, \
                     count(DISTINCT {{user}}) AS users_impacted \
                     {logins} AND {{failed}} GROUP BY 1 ORDER BY logins DESC, 1"
                )),
            )
            .rolled(lr(&["coalesce(errormessage, errorcode, 'Failure') AS error", "{user} AS \"user\""], "count(*) AS logins", " AND {failed}", "SELECT error, sum(logins) AS logins, count(DISTINCT \"user\") AS users_impacted FROM {partial} GROUP BY error ORDER BY logins DESC, 1")),
            tile(
                "login-user-count-over-time",
                "Login User Count Over Time",
                Chart::Line,
                q(&format!(
                    "SELECT {{day}} AS day, count(DISTINCT {{user}}) AS users \
                     {logins} GROUP BY 1 ORDER BY 1"
                )),
            )
            .rolled(lr(&["{day} AS day", "{user} AS \"user\""], "count(*) AS logins", "", "SELECT day, count(DISTINCT \"user\") AS users FROM {partial} GROUP BY day ORDER BY 1")),
            tile(
                "logins-without-multi-factor-auth",
                "Logins without Multi-Factor Auth",
                Chart::Table,
                q(&format!(
                    "SELECT {{user}} AS user, {{outcome}} AS login_status, count(*) AS logins {logins} \
                     AND {{mfa}} = 'No' GROUP BY 1, 2 ORDER BY logins DESC, 1, 2"
                )),
            )
            .rolled(lr(&["{user} AS \"user\"", "{outcome} AS login_status"], "count(*) AS logins", " AND {mfa} = 'No'", "SELECT \"user\", login_status, sum(logins) AS logins FROM {partial} GROUP BY \"user\", login_status ORDER BY logins DESC, 1, 2")),
        ],
    }
}

fn security_group_modifications() -> Dashboard {
    use crate::security_groups::{COLUMNS, LIMIT, ORDER, rows};
    Dashboard {
        id: "security-group-modifications",
        title: "EC2 Security Group Modifications",
        default_period_us: YEAR_US,
        scope: None,
        tiles: vec![
            guide(
                "security-group-guide",
                "Reading this dashboard",
                "Every change to a security group in the range, newest first, one row per rule \
                 and per peer of the rule: an address range, an IPv6 range, a prefix list or \
                 another group. open_to_world marks a rule that admits any address (a /0 range).\n\n\
                 Investigating an instance that misbehaves? Filter on its network interface \
                 (network_interface_id = eni-...) and on each of its groups (group_id = sg-...) \
                 and read the changes made shortly before the alarm. A port opened to the world \
                 and closed again minutes later deserves a look at everything the same user did: \
                 click the user for their events.",
            ),
            // Queried directly, not from cached partials: the newest rows of the range need
            // the rules of a few hundred events, a partial would hold every event's.
            tile(
                "security-group-modifications",
                "Security Group Modifications (newest 500 rule rows)",
                Chart::Table,
                format!(
                    "SELECT {COLUMNS} FROM ({}) AS r ORDER BY {ORDER} LIMIT {LIMIT}",
                    rows(Some(LIMIT))
                ),
            ),
        ],
    }
}

fn operational_account_activity() -> Dashboard {
    Dashboard {
        id: "operational-account-activity",
        title: "Operational Account Activity",
        default_period_us: TWO_DAYS_US,
        scope: None,
        tiles: vec![
            guide(
                "operational-guide",
                "Reading this dashboard",
                "Three questions about the running account: which calls keep failing, who works \
                 with long-term IAM user keys, and what the root user does.\n\n\
                 The same error repeated many times usually means a misconfigured policy, a \
                 workload running with the wrong role, or a changed dependency; many different \
                 denied calls from one principal can mean someone exploring what a stolen \
                 credential allows. IAM users should be few and known: compare the list with \
                 the people and systems you expect. Root should rarely act at all. A root event \
                 invoked by an AWS service (invoked_by) is routine; one from an address is a \
                 person signed in as root: check who, and from where.",
            ),
            tile(
                "top-aws-event-errors",
                "Top AWS Event Errors (Top 15)",
                Chart::Table,
                "SELECT eventname, errorcode, errormessage, count(*) AS errors FROM cloudtrail_logs \
                 WHERE {range} AND {error} GROUP BY 1, 2, 3 ORDER BY errors DESC, 1, 2, 3 LIMIT 15",
            )
            .rolled(counted(&["eventname", "errorcode", "errormessage"], "eventname, errorcode, errormessage", "errors", "FROM cloudtrail_logs WHERE {range} AND {error}", "ORDER BY errors DESC, 1, 2, 3 LIMIT 15")),
            tile(
                "top-iam-users",
                "Top IAM Users (Top 15)",
                Chart::Table,
                "SELECT useridentity.username AS user, eventname, count(*) AS events FROM cloudtrail_logs \
                 WHERE {range} AND useridentity.type = 'IAMUser' GROUP BY 1, 2 ORDER BY events DESC, 1, 2 LIMIT 15",
            )
            .rolled(counted(
                &["useridentity.username AS \"user\"", "eventname"],
                "\"user\", eventname",
                "events",
                "FROM cloudtrail_logs WHERE {range} AND useridentity.type = 'IAMUser'",
                "ORDER BY events DESC, 1, 2 LIMIT 15",
            )),
            tile(
                "root-activity",
                "Root Activity (Top 15)",
                Chart::Table,
                "SELECT eventname, useridentity.invokedby AS invoked_by, sourceipaddress, \
                 count(*) AS events FROM cloudtrail_logs WHERE {range} AND useridentity.type = 'Root' \
                 GROUP BY 1, 2, 3 ORDER BY events DESC, 1, 2, 3 LIMIT 15",
            )
            .rolled(counted(
                &["eventname", "useridentity.invokedby AS invoked_by", "sourceipaddress"],
                "eventname, invoked_by, sourceipaddress",
                "events",
                "FROM cloudtrail_logs WHERE {range} AND useridentity.type = 'Root'",
                "ORDER BY events DESC, 1, 2, 3 LIMIT 15",
            )),
        ],
    }
}
