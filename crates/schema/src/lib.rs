//! The CloudTrail record model of the trawl lake: which JSON members become which flat
//! Parquet columns, the Arrow schema of those columns, the Athena-shaped `cloudtrail_logs`
//! view over them, and the inverse mapping that rebuilds a record's JSON from a row.
//!
//! This crate does no I/O. It owns the *contract* between the ingest side (which fills the
//! columns) and everything that reads the lake (DataFusion, Athena, DuckDB, `trawl verify`).
//!
//! ```
//! use trawl_schema::{arrow_schema, FIELDS, Kind};
//! let schema = arrow_schema();
//! assert!(schema.field_with_name("useridentity_sessioncontext_sessionissuer_arn").is_ok());
//! assert!(FIELDS.iter().any(|f| f.key == "eventTime" && matches!(f.kind, Kind::Time)));
//! ```
//!
//! # Lossless storage
//!
//! Every member of an input record ends up in exactly one place:
//! - a known member with its canonical JSON type goes to its column;
//! - a member the schema does not know (at any depth) goes, under its original key, into
//!   the [`COL_UNMAPPED`] JSON object, which mirrors the record's nesting;
//! - when a known member differs from its canonical form (other key case, other JSON type,
//!   explicit `null`, non-canonical time format), its column holds the normalised value and
//!   [`COL_FIXUPS`] records the original key and/or value by path, so [`rebuild`] restores it.

pub mod ddl;
mod rebuild;
mod time;
mod window;

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field as ArrowField, Fields, Schema, SchemaRef, TimeUnit};

pub use rebuild::{RebuildError, rebuild, rebuild_batch};
pub use time::{ParsedTime, format_canonical, parse_event_time};
pub use window::{TimeWindow, WindowError, parse_instant, rfc3339};

/// How a known JSON member is stored.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A JSON string, stored as is in a Utf8 column.
    Str,
    /// A JSON boolean, stored as `"true"`/`"false"` text (as Athena's DDL has it).
    Bool,
    /// Free-form JSON (an object, usually), stored as compact JSON text in original key order.
    Json,
    /// `eventTime`: normalised to `YYYY-MM-DDTHH:MM:SSZ`, also typed in [`COL_EVENTTIME_TS`].
    Time,
    /// A known object whose members are flattened into their own columns.
    Object(&'static [Field]),
    /// An object of string values, stored as `map<string,string>`.
    StrMap,
    /// `resources`: a list of `struct<arn, accountid, type>`.
    Resources,
}

/// One known member of a record or of a nested object.
#[derive(Debug)]
pub struct Field {
    /// Canonical JSON key, as CloudTrail writes it.
    pub key: &'static str,
    pub kind: Kind,
}

impl Field {
    const fn new(key: &'static str, kind: Kind) -> Self {
        Self { key, kind }
    }
}

use Kind::*;

const ATTRIBUTES: &[Field] = &[
    Field::new("mfaAuthenticated", Str),
    Field::new("creationDate", Str),
];
const SESSION_ISSUER: &[Field] = &[
    Field::new("type", Str),
    Field::new("principalId", Str),
    Field::new("arn", Str),
    Field::new("accountId", Str),
    Field::new("userName", Str),
];
const WEB_ID: &[Field] = &[
    Field::new("federatedProvider", Str),
    Field::new("attributes", StrMap),
];
const SESSION_CONTEXT: &[Field] = &[
    Field::new("attributes", Object(ATTRIBUTES)),
    Field::new("sessionIssuer", Object(SESSION_ISSUER)),
    Field::new("ec2RoleDelivery", Str),
    Field::new("webIdFederationData", Object(WEB_ID)),
    Field::new("sourceIdentity", Str),
];
const ON_BEHALF_OF: &[Field] = &[
    Field::new("userId", Str),
    Field::new("identityStoreArn", Str),
];
const USER_IDENTITY: &[Field] = &[
    Field::new("type", Str),
    Field::new("principalId", Str),
    Field::new("arn", Str),
    Field::new("accountId", Str),
    Field::new("invokedBy", Str),
    Field::new("accessKeyId", Str),
    Field::new("userName", Str),
    Field::new("onBehalfOf", Object(ON_BEHALF_OF)),
    Field::new("sessionContext", Object(SESSION_CONTEXT)),
];
const ADDENDUM: &[Field] = &[
    Field::new("reason", Str),
    Field::new("updatedFields", Str),
    Field::new("originalRequestID", Str),
    Field::new("originalEventID", Str),
];
const TLS_DETAILS: &[Field] = &[
    Field::new("tlsVersion", Str),
    Field::new("cipherSuite", Str),
    Field::new("clientProvidedHostHeader", Str),
];

/// The known top-level members of a CloudTrail record, in Athena DDL order, followed by
/// members AWS documents that the Athena DDL lacks.
pub const FIELDS: &[Field] = &[
    Field::new("eventVersion", Str),
    Field::new("userIdentity", Object(USER_IDENTITY)),
    Field::new("eventTime", Time),
    Field::new("eventSource", Str),
    Field::new("eventName", Str),
    Field::new("awsRegion", Str),
    Field::new("sourceIPAddress", Str),
    Field::new("userAgent", Str),
    Field::new("errorCode", Str),
    Field::new("errorMessage", Str),
    Field::new("requestParameters", Json),
    Field::new("responseElements", Json),
    Field::new("additionalEventData", Json),
    Field::new("requestID", Str),
    Field::new("eventID", Str),
    Field::new("readOnly", Bool),
    Field::new("resources", Resources),
    Field::new("eventType", Str),
    Field::new("apiVersion", Str),
    Field::new("recipientAccountId", Str),
    Field::new("serviceEventDetails", Json),
    Field::new("sharedEventID", Str),
    Field::new("vpcEndpointId", Str),
    Field::new("vpcEndpointAccountId", Str),
    Field::new("eventCategory", Str),
    Field::new("addendum", Object(ADDENDUM)),
    Field::new("sessionCredentialFromConsole", Str),
    Field::new("edgeDeviceDetails", Json),
    Field::new("tlsDetails", Object(TLS_DETAILS)),
    Field::new("managementEvent", Bool),
    Field::new("insightDetails", Json),
];

/// Canonical keys of a `resources` element, in column order.
pub const RESOURCE_KEYS: [&str; 3] = ["ARN", "accountId", "type"];

/// `eventID`: what dedup keys on, and what an investigator looks an event up by.
pub const COL_EVENTID: &str = "eventid";
/// `eventTime` as stored: normalised RFC 3339 text (Athena's `eventtime` string).
pub const COL_EVENTTIME: &str = "eventtime";
/// `requestID` and `sharedEventID`: random IDs, like `eventID`.
pub const COL_REQUESTID: &str = "requestid";
pub const COL_SHAREDEVENTID: &str = "sharedeventid";
/// Typed event time (UTC, microseconds); NULL when `eventTime` could not be parsed.
pub const COL_EVENTTIME_TS: &str = "eventtime_ts";
/// JSON object holding the members the schema does not know, mirroring the record's nesting.
pub const COL_UNMAPPED: &str = "trawl_unmapped";
/// JSON object `{path: {"k": original key, "v": original value}}` for known members stored
/// in normalised form (see the crate docs).
pub const COL_FIXUPS: &str = "trawl_fixups";
/// The object the row was read from (`/abs/path` or `s3://bucket/key`); Athena's `"$path"`.
pub const COL_SOURCE: &str = "trawl_source";
/// 64-bit hash of the record's content, used to tell duplicates from conflicts. Only in the
/// in-memory batches of [`ingest_schema`]: the lake keeps it in its dedup index, not in Parquet.
pub const COL_HASH: &str = "trawl_hash";
/// Hive partition column: the event's UTC date `YYYY-MM-DD`.
pub const PARTITION_COL: &str = "dt";
/// Partition value of events whose `eventTime` could not be parsed (Hive's NULL partition).
pub const UNKNOWN_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A leaf of the flattened schema: one physical column.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Physical column name: the lowercased JSON path joined by `_`.
    pub column: String,
    /// Canonical JSON keys from the record root.
    pub path: Vec<&'static str>,
    pub kind: Kind,
}

/// Every physical column derived from [`FIELDS`], depth first, in schema order.
pub static LEAVES: LazyLock<Vec<Leaf>> = LazyLock::new(|| {
    fn walk(fields: &'static [Field], path: &mut Vec<&'static str>, out: &mut Vec<Leaf>) {
        for f in fields {
            path.push(f.key);
            match f.kind {
                Object(children) => walk(children, path, out),
                kind => out.push(Leaf {
                    column: path
                        .iter()
                        .map(|k| k.to_ascii_lowercase())
                        .collect::<Vec<_>>()
                        .join("_"),
                    path: path.clone(),
                    kind,
                }),
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(FIELDS, &mut Vec::new(), &mut out);
    out
});

/// The Arrow type of `resources`.
pub fn resources_type() -> DataType {
    DataType::List(Arc::new(ArrowField::new(
        "item",
        resource_struct_type(),
        true,
    )))
}

fn resource_struct_type() -> DataType {
    DataType::Struct(Fields::from(
        RESOURCE_KEYS
            .iter()
            .map(|k| ArrowField::new(k.to_ascii_lowercase(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow type of a `map<string,string>` column.
pub fn str_map_type() -> DataType {
    DataType::Map(
        Arc::new(ArrowField::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                ArrowField::new("keys", DataType::Utf8, false),
                ArrowField::new("values", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

fn leaf_type(kind: Kind) -> DataType {
    match kind {
        StrMap => str_map_type(),
        Resources => resources_type(),
        _ => DataType::Utf8,
    }
}

fn lake_fields() -> Vec<ArrowField> {
    let mut fields: Vec<ArrowField> = Vec::new();
    for leaf in LEAVES.iter() {
        fields.push(ArrowField::new(&leaf.column, leaf_type(leaf.kind), true));
        if matches!(leaf.kind, Time) {
            fields.push(ArrowField::new(
                COL_EVENTTIME_TS,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ));
        }
    }
    fields.push(ArrowField::new(COL_UNMAPPED, DataType::Utf8, true));
    fields.push(ArrowField::new(COL_FIXUPS, DataType::Utf8, true));
    fields.push(ArrowField::new(COL_SOURCE, DataType::Utf8, false));
    fields
}

/// The schema of the lake's Parquet files (without the `dt` partition column).
pub fn arrow_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| Arc::new(Schema::new(lake_fields())));
    SCHEMA.clone()
}

/// The schema of the batches ingest builds: the lake's columns plus [`COL_HASH`] last.
pub fn ingest_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = lake_fields();
        fields.push(ArrowField::new(COL_HASH, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Columns that get Parquet bloom filters: the values an investigator looks up one at a time.
pub const BLOOM_COLUMNS: &[&str] = &[
    COL_EVENTID,
    "sourceipaddress",
    "useridentity_accesskeyid",
    "useridentity_arn",
];

/// Known members that AWS's Athena DDL does not have inside its structs: the view shows them
/// as flat extra columns (named like the physical column) so the structs stay exactly Athena's.
pub const NOT_IN_ATHENA_STRUCTS: &[&str] = &["useridentity_sessioncontext_sourceidentity"];

/// Name of the physical table the `cloudtrail_logs` view reads.
pub const PHYSICAL_TABLE: &str = "cloudtrail_events";

/// SQL body of the Athena-shaped view in trawl's own dialect: the flat columns folded back
/// into Athena's structs with Athena's lowercase names, followed by trawl's extra columns
/// ([`ddl::view_select`] writes it for other engines).
pub fn athena_view_select(table: &str) -> String {
    ddl::view_select(table, ddl::Dialect::DataFusion)
}

/// The column reference of `docs/schema.md`, generated from the schema.
pub fn markdown_columns() -> String {
    let schema = arrow_schema();
    let mut out =
        String::from("| column | Arrow type | JSON source | stored as |\n|---|---|---|---|\n");
    let kind_text = |k: Kind| match k {
        Str => "string",
        Bool => "boolean, as `true`/`false` text",
        Json => "any JSON, as compact JSON text in original key order",
        Time => "time, normalised to `YYYY-MM-DDTHH:MM:SSZ`",
        StrMap => "object of strings, as `map<string,string>`",
        Resources => "array of `{ARN, accountId, type}`",
        Object(_) => "object",
    };
    for leaf in LEAVES.iter() {
        let ty = schema
            .field_with_name(&leaf.column)
            .expect("leaf column")
            .data_type()
            .to_string();
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} |\n",
            leaf.column,
            ty,
            leaf.path.join("."),
            kind_text(leaf.kind)
        ));
        if matches!(leaf.kind, Time) {
            out.push_str(&format!(
                "| `{COL_EVENTTIME_TS}` | {} | `eventTime` | typed time (UTC, µs, fraction kept); NULL if unparseable |\n",
                schema.field_with_name(COL_EVENTTIME_TS).expect("ts").data_type()
            ));
        }
    }
    for (col, what) in [
        (
            COL_UNMAPPED,
            "members the schema does not know, under their path (JSON object)",
        ),
        (
            COL_FIXUPS,
            "original key / value of members stored in normalised form (JSON object)",
        ),
        (
            COL_SOURCE,
            "the object the row was read from (Athena's `\"$path\"`)",
        ),
    ] {
        let ty = schema
            .field_with_name(col)
            .expect("trawl column")
            .data_type()
            .to_string();
        out.push_str(&format!("| `{col}` | {ty} | — | {what} |\n"));
    }
    out.push_str(&format!("| `{PARTITION_COL}` | Utf8 (partition) | `eventTime` | the event's UTC date `YYYY-MM-DD`; NULL if unparseable (stored in partition `{UNKNOWN_PARTITION}`, Hive's NULL partition, as every Hive engine reads it) |\n"));
    out
}

pub(crate) fn hive_type(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Map(..) => "map<string,string>".into(),
        DataType::List(item) => format!("array<{}>", hive_type(item.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => unreachable!("no {other} column in the lake"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_column_names_follow_the_json_path() {
        let names: Vec<&str> = LEAVES.iter().map(|l| l.column.as_str()).collect();
        for expected in [
            "eventversion",
            "useridentity_type",
            "useridentity_onbehalfof_identitystorearn",
            "useridentity_sessioncontext_attributes_mfaauthenticated",
            "useridentity_sessioncontext_webidfederationdata_attributes",
            "eventtime",
            "sourceipaddress",
            "resources",
            "addendum_originaleventid",
            "tlsdetails_clientprovidedhostheader",
            "insightdetails",
        ] {
            assert!(
                names.contains(&expected),
                "missing column {expected} in {names:?}"
            );
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "column names must be unique");
    }

    #[test]
    fn bloom_columns_exist() {
        let schema = arrow_schema();
        for c in BLOOM_COLUMNS {
            assert!(schema.field_with_name(c).is_ok(), "{c}");
        }
    }

    #[test]
    fn view_has_athena_structs() {
        let sql = athena_view_select("t");
        assert!(sql.contains("'sessionissuer', named_struct('type', useridentity_sessioncontext_sessionissuer_type"), "{sql}");
        assert!(sql.contains(") AS useridentity"), "{sql}");
        assert!(sql.contains(") AS tlsdetails"), "{sql}");
        assert!(
            !sql.contains("'sourceidentity'"),
            "structs stay exactly Athena's: {sql}"
        );
        assert!(
            sql.contains(", useridentity_sessioncontext_sourceidentity,"),
            "{sql}"
        );
    }
}
