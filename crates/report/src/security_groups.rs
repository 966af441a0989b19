//! The EC2 Security Group Modifications tile: one row per rule and per peer of the rule
//! (address range, IPv6 range, prefix list or security group), across every shape
//! CloudTrail gives a security-group change:
//!
//! - `Authorize*`/`Revoke*`/`UpdateSecurityGroupRuleDescriptions*`: `requestParameters.ipPermissions.items[*]`,
//!   each with `ipRanges`, `ipv6Ranges`, `prefixListIds` and `groups` lists;
//! - the older form of the same calls: `cidrIp`, `ipProtocol`, `fromPort`, `toPort` (or
//!   `sourceSecurityGroupName`) at the top of `requestParameters`;
//! - `Revoke*` by rule id: `requestParameters.securityGroupRuleIds.items[*].securityGroupRuleId`;
//! - `ModifySecurityGroupRules`: `requestParameters.ModifySecurityGroupRulesRequest`, capitalised
//!   keys, its `SecurityGroupRule` one object or a list of them;
//! - `ModifyNetworkInterfaceAttribute`: `groupSet.items[*].groupId`, a row per group;
//! - `CreateSecurityGroup` (its id in `responseElements.groupId`), `DeleteSecurityGroup` and
//!   any event none of the above matches: one row, its rule columns NULL.
//!
//! Every event of the tile's selection gives at least one row: a shape that does not parse
//! (`TRY_CAST`) falls to the last case rather than vanishing.

/// The tile's columns, in order.
pub const COLUMNS: &str = "eventtime, eventname, user_arn, sourceipaddress, group_id, \
     network_interface_id, direction, rule_id, protocol, from_port, to_port, peer, open_to_world";

/// The order of the tile's rows (`eventid` keeps one event's rows together).
pub const ORDER: &str =
    "eventtime DESC, eventid, group_id, rule_id, protocol, from_port, to_port, peer";

/// The events the tile looks at.
const EVENTS: &str = "('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', \
     'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', \
     'DeleteSecurityGroup', 'ModifySecurityGroupRules', 'UpdateSecurityGroupRuleDescriptionsIngress', \
     'UpdateSecurityGroupRuleDescriptionsEgress', 'ModifyNetworkInterfaceAttribute')";

/// Where a change names its group: the call's group, a rule change's group, or a new group's
/// id in the response (a network interface's groups are a list: `groupSet.items`).
pub(crate) const GROUP_ID: &str = "coalesce(json_extract_scalar(requestparameters, '$.groupId'), \
     json_extract_scalar(requestparameters, '$.ModifySecurityGroupRulesRequest.GroupId'), \
     json_extract_scalar(responseelements, '$.groupId'))";

/// A JSON list member of `doc` at `path` as `ARRAY(JSON)`; empty when absent or not a list.
pub(crate) fn list(doc: &str, path: &str) -> String {
    format!(
        "coalesce(TRY_CAST(json_extract({doc}, '{path}') AS ARRAY(JSON)), CAST(JSON '[]' AS ARRAY(JSON)))"
    )
}

/// `list`, or a list of one NULL when it is empty: unnested, an event or a rule with nothing
/// to list keeps one row (as a LEFT JOIN would, with one pass over the events).
fn or_null(list: &str) -> String {
    format!("if(cardinality({list}) > 0, {list}, ARRAY[CAST(NULL AS VARCHAR)])")
}

/// Rows the tile shows, the newest first (the block's limit); the drill-down lists them all.
pub const LIMIT: usize = 500;

/// The rows of the newest `events` events (all of them with `None`), with `dt`, `eventid` and
/// [`COLUMNS`]; `{range}` selects the events. Every event gives at least one row, so the
/// first N rows in [`ORDER`] come from the newest N events: reading the rules of those
/// alone gives the same first rows.
///
/// One pass, the JSON read only for the newest events: each event's rule items of every shape (`ipPermissions` rules, rule ids,
/// `ModifySecurityGroupRules` rules, a network interface's groups) are unnested together,
/// then each rule's peers; an event with no item keeps one row, its rule read from the older
/// top-level form (NULL for a created or deleted group).
pub fn rows(events: Option<usize>) -> String {
    let newest = events
        .map(|n| format!(" ORDER BY eventtime DESC, eventid LIMIT {n}"))
        .unwrap_or_default();
    // ModifySecurityGroupRules' rules: a list, or one object made a list of one.
    let modify_path = "'$.ModifySecurityGroupRulesRequest.SecurityGroupRule'";
    let modify = format!(
        "coalesce(TRY_CAST(json_extract(rp, {modify_path}) AS ARRAY(JSON)), \
         TRY_CAST(json_parse('[' || json_format(json_extract(rp, {modify_path})) || ']') AS ARRAY(JSON)), \
         CAST(JSON '[]' AS ARRAY(JSON)))"
    );
    let items = or_null(&format!(
        "concat({}, {}, {modify}, {})",
        list("rp", "$.ipPermissions.items"),
        list("rp", "$.securityGroupRuleIds.items"),
        list("rp", "$.groupSet.items"),
    ));
    let peers = |field: &str, key: &str| {
        format!(
            "transform({}, v -> coalesce(json_extract_scalar(v, '$.{key}'), json_extract_scalar(v, '$.groupName')))",
            list("x", &format!("$.{field}.items"))
        )
    };
    let peer_list = or_null(&format!(
        "concat({}, {}, {}, {})",
        peers("ipRanges", "cidrIp"),
        peers("ipv6Ranges", "cidrIpv6"),
        peers("prefixListIds", "prefixListId"),
        peers("groups", "groupId"),
    ));
    // A field of the item, else of a ModifySecurityGroupRules rule, else (an event without
    // items) of the older top-level form.
    let field = |item: &str, modify: &str, top: &str| {
        format!(
            "coalesce(json_extract_scalar(x, '$.{item}'), json_extract_scalar(x, '$.SecurityGroupRule.{modify}'), \
             CASE WHEN x IS NULL THEN json_extract_scalar(rp, '$.{top}') END)"
        )
    };
    let port =
        |item: &str, modify: &str| format!("TRY_CAST({} AS INTEGER)", field(item, modify, item));
    format!(
        "SELECT r.*, coalesce(r.peer LIKE '%/0', false) AS open_to_world FROM (\
         SELECT dt, eventid, eventtime, eventname, user_arn, sourceipaddress, \
           coalesce(json_extract_scalar(x, '$.groupId'), group_id) AS group_id, network_interface_id, direction, \
           coalesce(json_extract_scalar(x, '$.securityGroupRuleId'), json_extract_scalar(x, '$.SecurityGroupRuleId'), \
                    json_extract_scalar(x, '$')) AS rule_id, \
           {protocol} AS protocol, {from_port} AS from_port, {to_port} AS to_port, \
           coalesce(peer, json_extract_scalar(x, '$.SecurityGroupRule.CidrIpv4'), \
                    json_extract_scalar(x, '$.SecurityGroupRule.CidrIpv6'), \
                    json_extract_scalar(x, '$.SecurityGroupRule.PrefixListId'), \
                    json_extract_scalar(x, '$.SecurityGroupRule.ReferencedGroupId'), \
                    CASE WHEN x IS NULL THEN coalesce(json_extract_scalar(rp, '$.cidrIp'), json_extract_scalar(rp, '$.cidrIpv6'), \
                      json_extract_scalar(rp, '$.sourceSecurityGroupId'), json_extract_scalar(rp, '$.sourceSecurityGroupName')) END) AS peer \
         FROM (SELECT dt, eventid, eventtime, eventname, \
           coalesce(useridentity.arn, useridentity.principalid) AS user_arn, sourceipaddress, \
           requestparameters AS rp, \
           {GROUP_ID} AS group_id, \
           json_extract_scalar(requestparameters, '$.networkInterfaceId') AS network_interface_id, \
           CASE WHEN eventname LIKE '%Ingress' THEN 'ingress' WHEN eventname LIKE '%Egress' THEN 'egress' END AS direction \
           FROM cloudtrail_logs WHERE {{range}} AND eventsource = 'ec2.amazonaws.com' AND eventname IN {EVENTS}{newest}) AS e \
         CROSS JOIN UNNEST({items}) AS u(x) \
         CROSS JOIN UNNEST({peer_list}) AS q(peer)) AS r",
        protocol = field("ipProtocol", "IpProtocol", "ipProtocol"),
        from_port = port("fromPort", "FromPort"),
        to_port = port("toPort", "ToPort"),
    )
}
