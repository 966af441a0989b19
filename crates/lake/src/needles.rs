//! Needle filters: for each data file, a binary fuse filter of the values of its lookup
//! columns ([`trawl_schema::BLOOM_COLUMNS`]: `eventid`, `sourceipaddress`,
//! `useridentity_accesskeyid`, `useridentity_arn`), kept in `_trawl/needles/<name>.needles`
//! (`<name>` as its dedup index's). A query that looks one value up (`eventid = '…'`) asks each
//! file's filter first and opens only the files that may hold it: the Parquet bloom filters
//! answer the same question, but only after the file's footer is read, and opening every
//! footer is most of a lookup's time on a lake of thousands of files.
//!
//! A filter never says a value is absent when it is present (no false negatives); it says
//! present for about one absent value in 256. A file without a filter, or whose filter is
//! unreadable or was made for other bytes (the data file's xxh3 is in its header), is read.
//! The file is derived: `trawl verify --rebuild-ledger` or a rewrite may leave a file without
//! one, which costs speed, never rows.
//!
//! Format: `TRWLNDL1`, the data file's xxh3 (16 hex digits), the filter's descriptor, its
//! fingerprints, then the xxh3-64 (little-endian) of everything before it.

use std::collections::HashSet;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use xorf::{BinaryFuse8, BinaryFuse8Ref, DmaSerializable, Filter, FilterRef};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use trawl_schema::BLOOM_COLUMNS;

const MAGIC: &[u8; 8] = b"TRWLNDL1";
const XXH3_HEX: usize = 16;
const HEADER: usize = MAGIC.len() + XXH3_HEX + BinaryFuse8::DESCRIPTOR_LEN;

/// The key of `value` of lookup column `column` (its place in [`BLOOM_COLUMNS`]). An eventID's
/// key is its dedup hash ([`crate::writer::id_hash`]), which the dedup index already holds.
pub fn key(column: usize, value: &str) -> u64 {
    match column {
        0 => crate::writer::id_hash(value),
        c => xxh3_64_with_seed(value.as_bytes(), c as u64),
    }
}

/// The lookup column named `name` (a flat column of the lake), if it is one.
pub fn column(name: &str) -> Option<usize> {
    BLOOM_COLUMNS
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
}

/// The path of the needle filter of the data file whose dedup index is `index` (both
/// relative to the lake root): `_trawl/needles/<the index's name>.needles`.
pub fn path_of(index: &str) -> String {
    let name = index.rsplit('/').next().unwrap_or(index);
    format!(
        "_trawl/needles/{}.needles",
        name.strip_suffix(".idx").unwrap_or(name)
    )
}

/// Writes a filter at `path` (a temporary name, then a rename; not fsynced: a filter cut
/// short by a crash fails its checksum and is not used).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), crate::LakeError> {
    use crate::error::IoContext;
    let dir = path.parent().expect("filters live in _trawl/needles");
    std::fs::create_dir_all(dir).at(dir)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)
}

/// The keys of a file's lookup values other than its eventIDs (those come from its dedup
/// index), gathered as its rows are written.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    others: HashSet<u64, rustc_hash::FxBuildHasher>,
    /// A lookup column was missing or not text: the keys are not all there, so no filter
    /// (a filter that missed a value would hide its file from a query).
    incomplete: bool,
}

impl Keys {
    /// Notes the lookup values of rows `order` of `batches` (in the ingest schema).
    pub(crate) fn record(&mut self, batches: &[RecordBatch], order: &[(usize, usize)]) {
        if self.incomplete {
            return;
        }
        for (c, name) in BLOOM_COLUMNS.iter().enumerate().skip(1) {
            // The lake's text columns are `Utf8` (trawl_schema); a column missing or of
            // another type means the file gets no filter.
            let texts: Option<Vec<_>> = batches
                .iter()
                .map(|b| b.column_by_name(name)?.as_string_opt::<i32>())
                .collect();
            let Some(texts) = texts else {
                self.incomplete = true;
                return;
            };
            for &(b, r) in order {
                if texts[b].is_valid(r) {
                    self.others.insert(key(c, texts[b].value(r)));
                }
            }
        }
    }

    /// The filter of the file whose bytes hash to `xxh3` (hex) and whose dedup index is
    /// `index`, encoded; `None` when it holds no value at all.
    pub(crate) fn encode(self, xxh3: &str, index: &[(u64, u64)]) -> Option<Vec<u8>> {
        if self.incomplete {
            return None;
        }
        let mut keys: Vec<u64> = index.iter().map(|p| p.0).chain(self.others).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() || xxh3.len() != XXH3_HEX {
            return None;
        }
        let filter = BinaryFuse8::try_from(&keys).ok()?;
        let mut out = Vec::with_capacity(HEADER + filter.fingerprints.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(xxh3.as_bytes());
        let mut descriptor = [0u8; BinaryFuse8::DESCRIPTOR_LEN];
        filter.dma_copy_descriptor_to(&mut descriptor);
        out.extend_from_slice(&descriptor);
        out.extend_from_slice(filter.dma_fingerprints());
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Some(out)
    }
}

/// A file's needle filter, as read.
#[derive(Debug, Clone)]
pub struct Needles {
    bytes: Vec<u8>,
}

impl Needles {
    /// The filter in `bytes` if they are one, intact, made for the data file whose xxh3 is
    /// `xxh3`; `None` otherwise (the file is then read, as if it had none).
    pub fn parse(bytes: Vec<u8>, xxh3: &str) -> Option<Needles> {
        let body = bytes.len().checked_sub(8)?;
        if body < HEADER
            || &bytes[..MAGIC.len()] != MAGIC
            || &bytes[MAGIC.len()..MAGIC.len() + XXH3_HEX] != xxh3.as_bytes()
        {
            return None;
        }
        let sum = u64::from_le_bytes(bytes[body..].try_into().ok()?);
        (xxh3_64(&bytes[..body]) == sum).then_some(Needles { bytes })
    }

    /// Reads the filter at `path` for the data file whose xxh3 is `xxh3`: `None` when there
    /// is none or it cannot be used.
    pub fn read(path: &Path, xxh3: &str) -> Option<Needles> {
        Self::parse(std::fs::read(path).ok()?, xxh3)
    }

    /// Whether the file may hold `value` in lookup column `column` (`false` is certain).
    pub fn may_hold(&self, column: usize, value: &str) -> bool {
        let body = self.bytes.len() - 8;
        let filter = BinaryFuse8Ref::from_dma(
            &self.bytes[MAGIC.len() + XXH3_HEX..HEADER],
            &self.bytes[HEADER..body],
        );
        filter.contains(&key(column, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_holds_what_it_was_made_of_and_little_else() {
        let ids: Vec<(u64, u64)> = (0..5000).map(|i| (key(0, &format!("id-{i}")), i)).collect();
        let mut keys = Keys::default();
        keys.others.insert(key(1, "203.0.113.9"));
        keys.others.insert(key(3, "arn:aws:iam::1:user/a"));
        let bytes = keys.encode("0123456789abcdef", &ids).unwrap();
        let n = Needles::parse(bytes.clone(), "0123456789abcdef").unwrap();
        assert!((0..5000).all(|i| n.may_hold(0, &format!("id-{i}"))));
        assert!(n.may_hold(1, "203.0.113.9"));
        assert!(n.may_hold(3, "arn:aws:iam::1:user/a"));
        let false_hits = (0..10_000)
            .filter(|i| n.may_hold(0, &format!("other-{i}")))
            .count();
        assert!(false_hits < 100, "{false_hits} of 10,000 absent IDs");
        // The address is not an access key: columns do not share keys.
        assert!(!n.may_hold(2, "203.0.113.9") || !n.may_hold(2, "198.51.100.1"));

        // Made for other bytes, damaged, or cut short: not used.
        assert!(Needles::parse(bytes.clone(), "fedcba9876543210").is_none());
        let mut damaged = bytes.clone();
        damaged[HEADER + 3] ^= 1;
        assert!(Needles::parse(damaged, "0123456789abcdef").is_none());
        assert!(Needles::parse(bytes[..HEADER].to_vec(), "0123456789abcdef").is_none());
    }

    #[test]
    fn a_file_without_values_has_no_filter() {
        assert!(Keys::default().encode("0123456789abcdef", &[]).is_none());
    }

    #[test]
    fn the_filter_is_named_as_the_index() {
        assert_eq!(
            path_of("_trawl/index/00000000000000000007-0001.idx"),
            "_trawl/needles/00000000000000000007-0001.needles"
        );
    }
}
