//! Forensic questions over the lake (docs/investigate.md): what a principal, an access key,
//! an IP, a role session or a resource did, in order ([`Timeline`]), each event with its main
//! request parameters in short ([`brief`]); and one row per principal, key, IP or account
//! ([`Summary`]), so that a rare or new one stands out.

pub mod brief;
pub mod lineage;
pub mod summary;
pub mod timeline;

pub use brief::brief;
pub use lineage::{Chain, Link, chain, session_keys};
pub use summary::{By, Distinct, Row, SortBy, Summary};
pub use timeline::{Entry, Subject, Timeline, entries};
