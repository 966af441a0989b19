//! Offline IP geolocation for `sourceIPAddress`, from MaxMind-format databases: GeoLite2 /
//! GeoIP2 City, Country and ASN, and DB-IP Lite's files in the same format.
//!
//! CloudTrail's `sourceIPAddress` is not always an address: AWS services calling on a user's
//! behalf appear by name (`ec2.amazonaws.com`), some calls as `AWS Internal`. Those, and
//! private or reserved addresses, are classified and never looked up. Lookups are cached.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use maxminddb::{Reader, geoip2};
use serde::Serialize;

/// Where to get a database, for messages shown instead of a geolocation.
pub const HOW_TO_GET: &str = "no GeoIP database: pass --geoip FILE.mmdb (or set TRAWL_GEOIP). \
Free ones: MaxMind GeoLite2 City (a free account, then `geoipupdate`), or DB-IP's IP to City \
Lite (https://db-ip.com/db/download/ip-to-city-lite, CC BY 4.0)";

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error(
        "{path}: cannot open as a MaxMind database: {message}; pass a .mmdb file (GeoLite2/GeoIP2 City, Country or ASN, or DB-IP Lite)"
    )]
    Open { path: PathBuf, message: String },
    #[error("{path}: database type {kind:?} is not City, Country or ASN")]
    Kind { path: PathBuf, kind: String },
    #[error("{path}: no .mmdb file in this directory")]
    Empty { path: PathBuf },
}

/// What a `sourceIPAddress` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpClass {
    /// A public address: looked up.
    Public,
    /// Private, loopback, link-local, shared (CGNAT) or otherwise reserved.
    Private,
    /// An AWS service acting for the caller (`*.amazonaws.com`).
    AwsService,
    /// `AWS Internal`.
    AwsInternal,
    /// Neither an address nor a known name.
    Other,
}

impl IpClass {
    /// What to show in place of a country.
    pub fn label(self) -> &'static str {
        match self {
            IpClass::Public => "Unknown",
            IpClass::Private => "(private or reserved address)",
            IpClass::AwsService => "(AWS service)",
            IpClass::AwsInternal => "(AWS internal)",
            IpClass::Other => "(not an IP address)",
        }
    }
}

/// Sorts a `sourceIPAddress` value.
pub fn classify(source: &str) -> (IpClass, Option<IpAddr>) {
    let s = source.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return (
            if is_public(&ip) {
                IpClass::Public
            } else {
                IpClass::Private
            },
            Some(ip),
        );
    }
    let lower = s.to_ascii_lowercase();
    let class = if lower == "aws internal" {
        IpClass::AwsInternal
    } else if lower.ends_with(".amazonaws.com") || lower.ends_with(".amazonaws.com.cn") {
        IpClass::AwsService
    } else {
        IpClass::Other
    };
    (class, None)
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64.0.0/10, shared address space
                || (o[0] == 198 && (o[1] & 0xFE) == 18) // 198.18.0.0/15, benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)) // documentation
        }
    }
}

/// Where an address is, as far as the databases know.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Place {
    pub class: IpClass,
    pub country_code: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
}

impl Place {
    fn of(class: IpClass) -> Place {
        Place {
            class,
            country_code: None,
            country: None,
            city: None,
            latitude: None,
            longitude: None,
            asn: None,
            as_org: None,
        }
    }

    /// The country's name, or what the address is when it has none.
    pub fn country_label(&self) -> String {
        self.country
            .clone()
            .unwrap_or_else(|| self.class.label().to_string())
    }
}

/// The opened databases. Cheap to share (`Arc`), safe to use from many threads.
pub struct GeoDb {
    city: Option<Reader<Vec<u8>>>,
    country: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    files: Vec<(PathBuf, String)>,
    cache: RwLock<HashMap<String, Arc<Place>>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("files", &self.files).finish()
    }
}

/// Lookups kept; beyond this the cache starts over (CloudTrail has few distinct addresses).
const CACHE_ENTRIES: usize = 1 << 20;

impl GeoDb {
    /// Opens `.mmdb` files, or every `.mmdb` in a directory. Each is used for what its
    /// metadata says it is (City, Country or ASN; a City database answers countries too).
    pub fn open(paths: &[PathBuf]) -> Result<GeoDb, GeoError> {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| GeoError::Open {
                        path: p.clone(),
                        message: e.to_string(),
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "mmdb"))
                    .collect();
                if found.is_empty() {
                    return Err(GeoError::Empty { path: p.clone() });
                }
                found.sort();
                files.extend(found);
            } else {
                files.push(p.clone());
            }
        }
        let mut db = GeoDb {
            city: None,
            country: None,
            asn: None,
            files: Vec::new(),
            cache: RwLock::new(HashMap::new()),
        };
        for path in files {
            let reader = Reader::open_readfile(&path).map_err(|e| GeoError::Open {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let kind = reader.metadata().database_type.clone();
            let slot = if kind.contains("City") {
                &mut db.city
            } else if kind.contains("Country") {
                &mut db.country
            } else if kind.contains("ASN") {
                &mut db.asn
            } else {
                return Err(GeoError::Kind { path, kind });
            };
            *slot = Some(reader);
            db.files.push((path, kind));
        }
        Ok(db)
    }

    /// Opens what `TRAWL_GEOIP` names (paths separated by `:`), if it is set.
    pub fn from_env() -> Option<Result<GeoDb, GeoError>> {
        let v = std::env::var_os("TRAWL_GEOIP")?;
        let paths: Vec<PathBuf> = std::env::split_paths(&v).collect();
        Some(GeoDb::open(&paths))
    }

    /// The databases in use and their types.
    pub fn files(&self) -> &[(PathBuf, String)] {
        &self.files
    }

    /// Whether countries (and cities with a City database) can be told.
    pub fn has_location(&self) -> bool {
        self.city.is_some() || self.country.is_some()
    }

    /// Where `source` (a `sourceIPAddress` value) is. Cached.
    pub fn lookup(&self, source: &str) -> Arc<Place> {
        if let Some(p) = self.cache.read().expect("geo cache").get(source) {
            return p.clone();
        }
        let place = Arc::new(self.lookup_uncached(source));
        let mut cache = self.cache.write().expect("geo cache");
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(source.to_string(), place.clone());
        place
    }

    fn lookup_uncached(&self, source: &str) -> Place {
        let (class, ip) = classify(source);
        let mut place = Place::of(class);
        let Some(ip) = ip.filter(|_| class == IpClass::Public) else {
            return place;
        };
        if let Some(city) = self
            .city
            .as_ref()
            .and_then(|r| r.lookup(ip).ok())
            .and_then(|r| r.decode::<geoip2::City>().ok().flatten())
        {
            place.country_code = city.country.iso_code.map(str::to_string);
            place.country = city.country.names.english.map(str::to_string);
            place.city = city.city.names.english.map(str::to_string);
            place.latitude = city.location.latitude;
            place.longitude = city.location.longitude;
        } else if let Some(country) = self
            .country
            .as_ref()
            .and_then(|r| r.lookup(ip).ok())
            .and_then(|r| r.decode::<geoip2::Country>().ok().flatten())
        {
            place.country_code = country.country.iso_code.map(str::to_string);
            place.country = country.country.names.english.map(str::to_string);
        }
        if let Some(asn) = self
            .asn
            .as_ref()
            .and_then(|r| r.lookup(ip).ok())
            .and_then(|r| r.decode::<geoip2::Asn>().ok().flatten())
        {
            place.asn = asn.autonomous_system_number;
            place.as_org = asn.autonomous_system_organization.map(str::to_string);
        }
        place
    }
}

/// Small databases in MaxMind's format, built on the spot, for tests and demos (the real
/// ones are licensed and cannot be shipped).
#[cfg(feature = "testing")]
pub mod testing {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde::Serialize;

    /// One network of a test City database.
    #[derive(Debug, Clone)]
    pub struct TestPlace {
        pub network: &'static str,
        pub country_code: &'static str,
        pub country: &'static str,
        pub city: &'static str,
        pub latitude: f64,
        pub longitude: f64,
    }

    #[derive(Serialize)]
    struct Names {
        names: BTreeMap<&'static str, &'static str>,
    }
    #[derive(Serialize)]
    struct Country {
        iso_code: &'static str,
        names: BTreeMap<&'static str, &'static str>,
    }
    #[derive(Serialize)]
    struct Location {
        latitude: f64,
        longitude: f64,
    }
    #[derive(Serialize)]
    struct City {
        city: Names,
        country: Country,
        location: Location,
    }
    #[derive(Serialize)]
    struct Asn {
        autonomous_system_number: u32,
        autonomous_system_organization: &'static str,
    }

    /// Writes a City database (type `GeoLite2-City`) with these networks.
    pub fn write_city_db(
        path: &Path,
        places: &[TestPlace],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut w = mmdb_writer::Writer::new("GeoLite2-City");
        for p in places {
            w.insert(
                p.network.parse::<ipnet::IpNet>()?,
                &City {
                    city: Names {
                        names: BTreeMap::from([("en", p.city)]),
                    },
                    country: Country {
                        iso_code: p.country_code,
                        names: BTreeMap::from([("en", p.country)]),
                    },
                    location: Location {
                        latitude: p.latitude,
                        longitude: p.longitude,
                    },
                },
            )?;
        }
        std::fs::write(path, w.to_bytes()?)?;
        Ok(())
    }

    /// Writes an ASN database (type `GeoLite2-ASN`): (network, number, organization).
    pub fn write_asn_db(
        path: &Path,
        nets: &[(&'static str, u32, &'static str)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut w = mmdb_writer::Writer::new("GeoLite2-ASN");
        for (net, n, org) in nets {
            w.insert(
                net.parse::<ipnet::IpNet>()?,
                &Asn {
                    autonomous_system_number: *n,
                    autonomous_system_organization: org,
                },
            )?;
        }
        std::fs::write(path, w.to_bytes()?)?;
        Ok(())
    }

    /// The public networks the generated trails draw addresses from, each with a place.
    pub fn sample_places() -> Vec<TestPlace> {
        vec![
            TestPlace {
                network: "89.160.20.0/24",
                country_code: "SE",
                country: "Sweden",
                city: "Linköping",
                latitude: 58.4167,
                longitude: 15.6167,
            },
            TestPlace {
                network: "175.16.199.0/24",
                country_code: "CN",
                country: "China",
                city: "Changchun",
                latitude: 43.88,
                longitude: 125.3228,
            },
            TestPlace {
                network: "67.43.156.0/24",
                country_code: "BT",
                country: "Bhutan",
                city: "Thimphu",
                latitude: 27.4833,
                longitude: 89.6,
            },
            TestPlace {
                network: "216.160.83.0/24",
                country_code: "US",
                country: "United States",
                city: "Milton",
                latitude: 47.2513,
                longitude: -122.3149,
            },
            TestPlace {
                network: "202.196.224.0/24",
                country_code: "PH",
                country: "Philippines",
                city: "Manila",
                latitude: 14.6042,
                longitude: 120.9822,
            },
            TestPlace {
                network: "81.2.69.0/24",
                country_code: "GB",
                country: "United Kingdom",
                city: "London",
                latitude: 51.5142,
                longitude: -0.0931,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_classified() {
        for (s, want) in [
            ("203.0.113.10", IpClass::Private), // documentation range
            ("8.8.8.8", IpClass::Public),
            ("10.1.2.3", IpClass::Private),
            ("172.20.0.1", IpClass::Private),
            ("100.64.1.1", IpClass::Private),
            ("127.0.0.1", IpClass::Private),
            ("2001:db8::1", IpClass::Private),
            ("fd00::1", IpClass::Private),
            ("2a00:1450:4001::1", IpClass::Public),
            ("::ffff:8.8.4.4", IpClass::Public),
            ("ec2.amazonaws.com", IpClass::AwsService),
            ("AWS Internal", IpClass::AwsInternal),
            ("cloudtrail.amazonaws.com.cn", IpClass::AwsService),
            ("example.org", IpClass::Other),
            ("", IpClass::Other),
        ] {
            assert_eq!(classify(s).0, want, "{s}");
        }
    }

    #[test]
    fn lookups_read_city_and_asn_databases() {
        let dir = tempfile::tempdir().unwrap();
        let city = dir.path().join("city.mmdb");
        let asn = dir.path().join("asn.mmdb");
        testing::write_city_db(&city, &testing::sample_places()).unwrap();
        testing::write_asn_db(&asn, &[("89.160.0.0/16", 29518, "Bredband2 AB")]).unwrap();
        // A directory is scanned for .mmdb files; types come from the metadata.
        let db = GeoDb::open(&[dir.path().to_path_buf()]).unwrap();
        assert!(db.has_location());
        let p = db.lookup("89.160.20.112");
        assert_eq!(p.class, IpClass::Public);
        assert_eq!(p.country_code.as_deref(), Some("SE"));
        assert_eq!(p.city.as_deref(), Some("Linköping"));
        assert_eq!(p.latitude, Some(58.4167));
        assert_eq!(
            (p.asn, p.as_org.as_deref()),
            (Some(29518), Some("Bredband2 AB"))
        );
        // Not in the database: public but unknown.
        let p = db.lookup("8.8.8.8");
        assert_eq!((p.class, p.country.as_deref()), (IpClass::Public, None));
        assert_eq!(p.country_label(), "Unknown");
        // Classified, not looked up.
        assert_eq!(
            db.lookup("ec2.amazonaws.com").country_label(),
            "(AWS service)"
        );
        assert_eq!(
            db.lookup("10.0.0.1").country_label(),
            "(private or reserved address)"
        );
        // Cached: the same allocation comes back.
        assert!(Arc::ptr_eq(
            &db.lookup("89.160.20.112"),
            &db.lookup("89.160.20.112")
        ));
        // Errors name the file.
        let bad = dir.path().join("bad.mmdb");
        std::fs::write(&bad, b"not a database").unwrap();
        let err = GeoDb::open(std::slice::from_ref(&bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&bad.display().to_string()), "{err}");
    }
}
