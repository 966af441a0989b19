//! Forensic questions over the lake (docs/investigate.md). So far the timeline: what a
//! principal, an access key, an IP, a role session or a resource did, in order
//! ([`Timeline`]), each event with its main request parameters in short ([`brief`]).

pub mod brief;
pub mod timeline;

pub use brief::brief;
pub use timeline::{Entry, Subject, Timeline, entries};
