//! Sigma field names, as CloudTrail writes them (`eventSource`, `userIdentity.type`,
//! `requestParameters.bucketName`...), and where the lake keeps each.

use trawl_schema::{COL_UNMAPPED, FIELDS, Field, Kind};

/// Where a field's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A text column of the flat table (a JSON member as a whole is its compact JSON text).
    Column(String),
    /// A path inside the JSON text of a column (`requestParameters.x.y`).
    Json { column: String, path: String },
    /// A key of a `map<string,string>` column.
    MapKey { column: String, key: String },
    /// A member of the elements of `resources` (`resources.ARN`).
    Resource(String),
}

impl Target {
    /// The physical column the value is read from.
    pub fn column(&self) -> &str {
        match self {
            Target::Column(c)
            | Target::Json { column: c, .. }
            | Target::MapKey { column: c, .. } => c,
            Target::Resource(_) => "resources",
        }
    }

    /// A text SQL expression of the value, when one exists (a column, or a scalar inside
    /// JSON): what `fieldref` compares and correlations group by.
    pub fn scalar_sql(&self) -> Option<String> {
        match self {
            Target::Column(c) => Some(c.clone()),
            Target::Json { column, path } => Some(format!(
                "json_extract_scalar({column}, {})",
                crate::compile::lit(&format!("$.{path}"))
            )),
            Target::MapKey { .. } | Target::Resource(_) => None,
        }
    }
}

/// A resolved field, and a note when it is not one the schema knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub target: Target,
    /// Set when the field is not a CloudTrail member the schema knows: it is looked up among
    /// the members ingest kept aside (`trawl_unmapped`), where a real trail rarely has it.
    pub unknown: bool,
}

/// Where `name` is kept. Keys match ignoring case, as the lake's columns do.
pub fn resolve(name: &str) -> Result<Resolved, String> {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("field `{name}` has an empty part"));
    }
    let mut fields: &[Field] = FIELDS;
    let mut column: Vec<String> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let Some(f) = fields.iter().find(|f| f.key.eq_ignore_ascii_case(seg)) else {
            if i == 0 {
                return Ok(Resolved {
                    target: Target::Json {
                        column: COL_UNMAPPED.to_string(),
                        path: name.to_string(),
                    },
                    unknown: true,
                });
            }
            return Err(format!(
                "field `{name}`: `{}` has no member `{seg}` in CloudTrail's record",
                segments[..i].join(".")
            ));
        };
        column.push(f.key.to_ascii_lowercase());
        let col = column.join("_");
        let rest = &segments[i + 1..];
        match f.kind {
            Kind::Object(children) => {
                if rest.is_empty() {
                    return Err(format!(
                        "field `{name}` is an object: name one of its members ({})",
                        children
                            .iter()
                            .map(|c| format!("{name}.{}", c.key))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                fields = children;
            }
            Kind::Json if !rest.is_empty() => {
                return Ok(known(Target::Json {
                    column: col,
                    path: rest.join("."),
                }));
            }
            Kind::StrMap if rest.len() == 1 => {
                return Ok(known(Target::MapKey {
                    column: col,
                    key: rest[0].to_string(),
                }));
            }
            Kind::Resources if rest.len() == 1 => {
                let member = trawl_schema::RESOURCE_KEYS
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(rest[0]))
                    .ok_or_else(|| {
                        format!(
                            "field `{name}`: a resource has {}",
                            trawl_schema::RESOURCE_KEYS.join(", ")
                        )
                    })?;
                return Ok(known(Target::Resource(member.to_ascii_lowercase())));
            }
            Kind::Resources | Kind::StrMap => {
                return Err(format!(
                    "field `{name}`: name one member of `{}` (for example `{}.{}`)",
                    segments[..=i].join("."),
                    segments[..=i].join("."),
                    if matches!(f.kind, Kind::Resources) {
                        "ARN"
                    } else {
                        "KEY"
                    }
                ));
            }
            _ if rest.is_empty() => return Ok(known(Target::Column(col))),
            _ => {
                return Err(format!(
                    "field `{name}`: `{}` is a single value, with no member `{}`",
                    segments[..=i].join("."),
                    rest.join(".")
                ));
            }
        }
    }
    unreachable!("the loop returns at the last segment")
}

fn known(target: Target) -> Resolved {
    Resolved {
        target,
        unknown: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        resolve(name).unwrap().target
    }

    #[test]
    fn cloudtrail_names_map_to_the_lake() {
        assert_eq!(target("eventSource"), Target::Column("eventsource".into()));
        assert_eq!(
            target("userIdentity.sessionContext.sessionIssuer.type"),
            Target::Column("useridentity_sessioncontext_sessionissuer_type".into())
        );
        assert_eq!(
            target("requestParameters.containerDefinitions.command"),
            Target::Json {
                column: "requestparameters".into(),
                path: "containerDefinitions.command".into()
            }
        );
        assert_eq!(
            target("requestParameters"),
            Target::Column("requestparameters".into())
        );
        assert_eq!(target("resources.ARN"), Target::Resource("arn".into()));
        assert_eq!(
            target("userIdentity.sessionContext.webIdFederationData.attributes.sub"),
            Target::MapKey {
                column: "useridentity_sessioncontext_webidfederationdata_attributes".into(),
                key: "sub".into()
            }
        );
        // Case as CloudTrail's oddities write it.
        assert_eq!(target("EventName"), Target::Column("eventname".into()));
    }

    #[test]
    fn unknown_and_wrong_names() {
        let status = resolve("status").unwrap();
        assert!(status.unknown);
        assert_eq!(status.target.column(), COL_UNMAPPED);
        assert!(
            resolve("userIdentity")
                .unwrap_err()
                .contains("is an object")
        );
        assert!(
            resolve("userIdentity.nope")
                .unwrap_err()
                .contains("no member `nope`")
        );
        assert!(resolve("eventName.x").unwrap_err().contains("single value"));
        assert!(resolve("resources").unwrap_err().contains("resources.ARN"));
    }
}
