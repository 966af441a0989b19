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

/// A JSON list member of `requestParameters` as `ARRAY(JSON)` (NULL when absent or not a list).
fn list(path: &str) -> String {
    format!("TRY_CAST(json_extract(rp, '{path}') AS ARRAY(JSON))")
}

/// The rows, with `dt`, `eventid` and [`COLUMNS`]; `{range}` selects the events.
pub fn rows() -> String {
    let perms = list("$.ipPermissions.items");
    let rule_ids = list("$.securityGroupRuleIds.items");
    let group_set = list("$.groupSet.items");
    // ModifySecurityGroupRules' rules: a list, or one object made a list of one.
    let modify = "coalesce(TRY_CAST(json_extract(rp, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule') AS ARRAY(JSON)), \
         TRY_CAST(json_parse('[' || json_format(json_extract(rp, '$.ModifySecurityGroupRulesRequest.SecurityGroupRule')) || ']') AS ARRAY(JSON)))";
    let legacy = "(json_extract_scalar(rp, '$.cidrIp') IS NOT NULL \
         OR json_extract_scalar(rp, '$.cidrIpv6') IS NOT NULL \
         OR json_extract_scalar(rp, '$.sourceSecurityGroupName') IS NOT NULL \
         OR json_extract_scalar(rp, '$.sourceSecurityGroupId') IS NOT NULL)";
    let some = |a: &str| format!("coalesce(cardinality({a}), 0) > 0");
    let peers = |field: &str, key: &str| {
        format!(
            "transform(coalesce(TRY_CAST(json_extract(p, '$.{field}.items') AS ARRAY(JSON)), \
             CAST(JSON '[]' AS ARRAY(JSON))), x -> coalesce(json_extract_scalar(x, '$.{key}'), \
             json_extract_scalar(x, '$.groupName')))"
        )
    };
    let head = "dt, eventid, eventtime, eventname, user_arn, sourceipaddress";
    let port = |v: &str| format!("TRY_CAST(json_extract_scalar({v}) AS INTEGER)");
    format!(
        "WITH e AS (SELECT dt, eventid, eventtime, eventname, \
           coalesce(useridentity.arn, useridentity.principalid) AS user_arn, sourceipaddress, \
           requestparameters AS rp, \
           coalesce(json_extract_scalar(requestparameters, '$.groupId'), \
                    json_extract_scalar(requestparameters, '$.ModifySecurityGroupRulesRequest.GroupId'), \
                    json_extract_scalar(responseelements, '$.groupId')) AS group_id, \
           json_extract_scalar(requestparameters, '$.networkInterfaceId') AS network_interface_id, \
           CASE WHEN eventname LIKE '%Ingress' THEN 'ingress' WHEN eventname LIKE '%Egress' THEN 'egress' END AS direction \
         FROM cloudtrail_logs WHERE {{range}} AND eventsource = 'ec2.amazonaws.com' AND eventname IN {EVENTS}), \
         r AS (\
         SELECT {head}, group_id, network_interface_id, direction, CAST(NULL AS VARCHAR) AS rule_id, \
           json_extract_scalar(p, '$.ipProtocol') AS protocol, {from_p} AS from_port, {to_p} AS to_port, peer \
         FROM e CROSS JOIN UNNEST({perms}) AS u(p) \
         LEFT JOIN UNNEST(concat({v4}, {v6}, {pl}, {sg})) AS q(peer) ON TRUE \
         UNION ALL \
         SELECT {head}, group_id, network_interface_id, direction, NULL, \
           json_extract_scalar(rp, '$.ipProtocol'), {from_l}, {to_l}, \
           coalesce(json_extract_scalar(rp, '$.cidrIp'), json_extract_scalar(rp, '$.cidrIpv6'), \
                    json_extract_scalar(rp, '$.sourceSecurityGroupId'), json_extract_scalar(rp, '$.sourceSecurityGroupName')) \
         FROM e WHERE NOT ({some_perms}) AND {legacy} \
         UNION ALL \
         SELECT {head}, group_id, network_interface_id, direction, \
           coalesce(json_extract_scalar(x, '$.securityGroupRuleId'), json_extract_scalar(x, '$')), \
           NULL, NULL, NULL, NULL \
         FROM e CROSS JOIN UNNEST({rule_ids}) AS u(x) WHERE NOT ({some_perms}) \
         UNION ALL \
         SELECT {head}, group_id, network_interface_id, direction, \
           json_extract_scalar(m, '$.SecurityGroupRuleId'), \
           json_extract_scalar(m, '$.SecurityGroupRule.IpProtocol'), {from_m}, {to_m}, \
           coalesce(json_extract_scalar(m, '$.SecurityGroupRule.CidrIpv4'), json_extract_scalar(m, '$.SecurityGroupRule.CidrIpv6'), \
                    json_extract_scalar(m, '$.SecurityGroupRule.PrefixListId'), json_extract_scalar(m, '$.SecurityGroupRule.ReferencedGroupId')) \
         FROM e CROSS JOIN UNNEST({modify}) AS u(m) \
         UNION ALL \
         SELECT {head}, coalesce(json_extract_scalar(g, '$.groupId'), group_id), network_interface_id, direction, \
           NULL, NULL, NULL, NULL, NULL \
         FROM e CROSS JOIN UNNEST({group_set}) AS u(g) \
         UNION ALL \
         SELECT {head}, group_id, network_interface_id, direction, NULL, NULL, NULL, NULL, NULL \
         FROM e WHERE NOT ({some_perms}) AND NOT {legacy} AND NOT ({some_ids}) \
           AND NOT ({some_modify}) AND NOT ({some_groups})) \
         SELECT dt, eventid, eventtime, eventname, user_arn, sourceipaddress, group_id, network_interface_id, \
           direction, rule_id, protocol, from_port, to_port, peer, \
           coalesce(peer LIKE '%/0', false) AS open_to_world FROM r",
        v4 = peers("ipRanges", "cidrIp"),
        v6 = peers("ipv6Ranges", "cidrIpv6"),
        pl = peers("prefixListIds", "prefixListId"),
        sg = peers("groups", "groupId"),
        from_p = port("p, '$.fromPort'"),
        to_p = port("p, '$.toPort'"),
        from_l = port("rp, '$.fromPort'"),
        to_l = port("rp, '$.toPort'"),
        from_m = port("m, '$.SecurityGroupRule.FromPort'"),
        to_m = port("m, '$.SecurityGroupRule.ToPort'"),
        some_perms = some(&perms),
        some_ids = some(&rule_ids),
        some_modify = some(modify),
        some_groups = some(&group_set),
    )
}
