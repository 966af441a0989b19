//! Sigma detections over the lake (`trawl detect`, docs/investigate.md).
//!
//! Rules are read by `rsigma-parser`, the maintained Rust parser of the Sigma format, and
//! lowered to SQL over the lake's flat table ([`compile`]), so that a rule's tests on
//! `eventsource` and `eventname` sit in the scan's predicate next to the time window: days
//! outside the window are never listed, and the scan decodes the other columns only for the
//! rows that passed. What SQL cannot say is evaluated in Rust by one function
//! ([`matcher`]). Correlation rules run over their base rules' events a group at a time
//! ([`run`]).

pub mod compile;
pub mod digest;
pub mod field;
pub mod matcher;
pub mod rules;
pub mod run;

pub use digest::{Digest, RuleDigest, digest};
pub use rules::{Correlation, LoadError, Problem, Rule, RuleInfo, RuleSet, load};
pub use run::{Hit, RuleRun, RunError, run};
