//! `geoip_country(ip)`, `geoip_country_code(ip)`, `geoip_city(ip)`, `geoip_lat(ip)`,
//! `geoip_lon(ip)`, `geoip_asn(ip)` and `geoip_as_org(ip)` over MaxMind-format databases
//! ([`trawl_geo`]). Service names (`ec2.amazonaws.com`), `AWS Internal` and private addresses
//! are classified, not looked up: `geoip_country` names what they are, the other functions
//! give NULL. Without a database, calling one is an error that says how to get one.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use trawl_geo::{GeoDb, Place};

use crate::athena::utf8_arg;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Country,
    CountryCode,
    City,
    Lat,
    Lon,
    Asn,
    AsOrg,
}

const FIELDS: [(Field, &str); 7] = [
    (Field::Country, "geoip_country"),
    (Field::CountryCode, "geoip_country_code"),
    (Field::City, "geoip_city"),
    (Field::Lat, "geoip_lat"),
    (Field::Lon, "geoip_lon"),
    (Field::Asn, "geoip_asn"),
    (Field::AsOrg, "geoip_as_org"),
];

/// The functions and what they return, for docs/functions.md.
pub const GEO_FUNCTIONS: &[(&str, &str)] = &[
    (
        "geoip_country(ip)",
        "country name; for service names, AWS Internal and private addresses, what they are",
    ),
    ("geoip_country_code(ip)", "ISO 3166 country code"),
    ("geoip_city(ip)", "city name (City databases)"),
    ("geoip_lat(ip)", "latitude (City databases)"),
    ("geoip_lon(ip)", "longitude (City databases)"),
    ("geoip_asn(ip)", "autonomous system number (ASN databases)"),
    (
        "geoip_as_org(ip)",
        "autonomous system organization (ASN databases)",
    ),
];

#[derive(Debug)]
struct GeoFn {
    field: Field,
    name: &'static str,
    db: Option<Arc<GeoDb>>,
    signature: Signature,
}

impl PartialEq for GeoFn {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
            && match (&self.db, &other.db) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}
impl Eq for GeoFn {}
impl std::hash::Hash for GeoFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.field.hash(state);
    }
}

impl ScalarUDFImpl for GeoFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.field {
            Field::Lat | Field::Lon => DataType::Float64,
            Field::Asn => DataType::Int64,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(db) = &self.db else {
            return Err(DataFusionError::Execution(format!(
                "{}: {}",
                self.name,
                trawl_geo::HOW_TO_GET
            )));
        };
        let input = utf8_arg(&args.args[0], args.number_rows)?;
        let ips = input.as_string::<i32>();
        let places: Vec<Option<Arc<Place>>> =
            ips.iter().map(|ip| ip.map(|ip| db.lookup(ip))).collect();
        let out: ArrayRef = match self.field {
            Field::Lat | Field::Lon => Arc::new(
                places
                    .iter()
                    .map(|p| {
                        p.as_ref().and_then(|p| {
                            if self.field == Field::Lat {
                                p.latitude
                            } else {
                                p.longitude
                            }
                        })
                    })
                    .collect::<Float64Array>(),
            ),
            Field::Asn => Arc::new(
                places
                    .iter()
                    .map(|p| p.as_ref().and_then(|p| p.asn.map(i64::from)))
                    .collect::<Int64Array>(),
            ),
            field => Arc::new(
                places
                    .iter()
                    .map(|p| {
                        p.as_ref().and_then(|p| match field {
                            Field::Country => Some(p.country_label()),
                            Field::CountryCode => p.country_code.clone(),
                            Field::City => p.city.clone(),
                            _ => p.as_org.clone(),
                        })
                    })
                    .collect::<StringArray>(),
            ),
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Registers the geoip functions with `ctx`, answering from `db` (or explaining how to get
/// one when it is `None`).
pub(crate) fn register(ctx: &SessionContext, db: Option<Arc<GeoDb>>) {
    for (field, name) in FIELDS {
        ctx.register_udf(ScalarUDF::new_from_impl(GeoFn {
            field,
            name,
            db: db.clone(),
            signature: Signature::string(1, Volatility::Immutable),
        }));
    }
}
