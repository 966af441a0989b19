//! The record encoder: walks a simd-json tape and fills the lake's Arrow builders directly,
//! without building a DOM. Free-form members are re-serialised from the tape in their
//! original key order.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, MapBuilder, RecordBatch, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field as ArrowField};
use serde_json::{Map, Value};
use simd_json::StaticNode;
use simd_json::value::tape::Node;
use smallvec::SmallVec;

use crate::BIG_NUMBER_MARKER;
use trawl_schema::{
    FIELDS, Field, Kind, LEAVES, RESOURCE_KEYS, TimeWindow, ingest_schema, parse_event_time,
};

/// Number of tape nodes a value occupies, itself included.
pub(crate) fn node_len(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Writes the value at `idx` as compact JSON (original key order); returns the next index.
pub(crate) fn write_json(tape: &[Node<'_>], idx: usize, out: &mut String) -> usize {
    match tape[idx] {
        Node::String(s) => {
            match s.strip_prefix(BIG_NUMBER_MARKER) {
                Some(literal) => out.push_str(literal),
                None => write_escaped(s, out),
            }
            idx + 1
        }
        Node::Static(s) => {
            write_static(s, out);
            idx + 1
        }
        Node::Object { len, .. } => {
            out.push('{');
            let mut i = idx + 1;
            for n in 0..len {
                if n > 0 {
                    out.push(',');
                }
                if let Node::String(k) = tape[i] {
                    write_escaped(k, out);
                }
                out.push(':');
                i = write_json(tape, i + 1, out);
            }
            out.push('}');
            i
        }
        Node::Array { len, .. } => {
            out.push('[');
            let mut i = idx + 1;
            for n in 0..len {
                if n > 0 {
                    out.push(',');
                }
                i = write_json(tape, i, out);
            }
            out.push(']');
            i
        }
    }
}

fn write_static(s: StaticNode, out: &mut String) {
    use std::fmt::Write;
    match s {
        StaticNode::Null => out.push_str("null"),
        StaticNode::Bool(true) => out.push_str("true"),
        StaticNode::Bool(false) => out.push_str("false"),
        StaticNode::I64(v) => write!(out, "{v}").expect("write to String"),
        StaticNode::U64(v) => write!(out, "{v}").expect("write to String"),
        StaticNode::F64(v) => match serde_json::Number::from_f64(v) {
            Some(n) => write!(out, "{n}").expect("write to String"),
            None => out.push_str("null"),
        },
    }
}

/// JSON string escaping as serde_json writes it.
pub(crate) fn write_escaped(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write;
            write!(out, "\\u{b:04x}").expect("write to String");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The value at `idx` as a `serde_json::Value` (for the rare members kept in
/// `trawl_unmapped` / `trawl_fixups`).
pub(crate) fn to_value(tape: &[Node<'_>], idx: usize) -> Value {
    match tape[idx] {
        Node::String(s) => match s.strip_prefix(BIG_NUMBER_MARKER) {
            // As serde_json reads such a literal: the nearest f64.
            Some(literal) => {
                serde_json::from_str(literal).unwrap_or_else(|_| Value::String(literal.to_string()))
            }
            None => Value::String(s.to_string()),
        },
        Node::Static(StaticNode::Null) => Value::Null,
        Node::Static(StaticNode::Bool(b)) => Value::Bool(b),
        Node::Static(StaticNode::I64(v)) => Value::from(v),
        Node::Static(StaticNode::U64(v)) => Value::from(v),
        Node::Static(StaticNode::F64(v)) => {
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
        Node::Object { len, .. } => {
            let mut m = Map::with_capacity(len);
            let mut i = idx + 1;
            for _ in 0..len {
                let key = match tape[i] {
                    Node::String(k) => k.to_string(),
                    _ => String::new(),
                };
                m.insert(key, to_value(tape, i + 1));
                i += 1 + node_len(&tape[i + 1]);
            }
            Value::Object(m)
        }
        Node::Array { len, .. } => {
            let mut v = Vec::with_capacity(len);
            let mut i = idx + 1;
            for _ in 0..len {
                v.push(to_value(tape, i));
                i += node_len(&tape[i]);
            }
            Value::Array(v)
        }
    }
}

fn json_text(tape: &[Node<'_>], idx: usize) -> String {
    let mut s = String::new();
    write_json(tape, idx, &mut s);
    s
}

/// The schema tree with each leaf's column index resolved.
struct Spec {
    fields: Vec<SpecField>,
}

struct SpecField {
    key: &'static str,
    kind: SpecKind,
}

enum SpecKind {
    Leaf(usize, Kind),
    Object(Spec),
}

impl Spec {
    fn build(fields: &'static [Field], next_leaf: &mut usize) -> Spec {
        Spec {
            fields: fields
                .iter()
                .map(|f| SpecField {
                    key: f.key,
                    kind: match f.kind {
                        Kind::Object(children) => {
                            SpecKind::Object(Spec::build(children, next_leaf))
                        }
                        kind => {
                            *next_leaf += 1;
                            SpecKind::Leaf(*next_leaf - 1, kind)
                        }
                    },
                })
                .collect(),
        }
    }
}

type Resource<'t> = [Option<Cow<'t, str>>; 3];
type MapEntry<'t> = (Cow<'t, str>, Option<Cow<'t, str>>);

/// What one record staged before it is appended: column values in walk order.
struct RecordState<'t> {
    staged: SmallVec<[Option<Cow<'t, str>>; 64]>,
    staged_count: usize,
    ts: Option<i64>,
    map_entries: Option<Vec<MapEntry<'t>>>,
    resources: Option<Vec<Resource<'t>>>,
    fixups: Map<String, Value>,
}

impl<'t> RecordState<'t> {
    fn stage(&mut self, leaf: usize, v: Cow<'t, str>) {
        self.staged[leaf] = Some(v);
        self.staged_count += 1;
    }

    fn fix(&mut self, path: &[&str], key: Option<&str>, value: Option<Value>) {
        let entry = self
            .fixups
            .entry(path.join("."))
            .or_insert_with(|| Value::Object(Map::new()));
        let obj = entry.as_object_mut().expect("fixup entries are objects");
        if let Some(k) = key {
            obj.insert("k".into(), Value::String(k.to_string()));
        }
        if let Some(v) = value {
            obj.insert("v".into(), v);
        }
    }

    fn marks(&self) -> (usize, usize) {
        (self.staged_count, self.fixups.len())
    }
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// Outside `--since`/`--until` (or no parseable time while a window is set).
    OutsideWindow,
}

/// Fills the lake's columns from records on simd-json tapes.
pub struct RecordEncoder {
    spec: Spec,
    leaf_kinds: Vec<Kind>,
    text: Vec<StringBuilder>,
    ts: TimestampMicrosecondBuilder,
    map: MapBuilder<StringBuilder, StringBuilder>,
    resources: ListBuilder<StructBuilder>,
    unmapped: StringBuilder,
    fixups: StringBuilder,
    source: StringBuilder,
    hash: Int64Builder,
    window: TimeWindow,
    rows: usize,
    event_category_leaf: usize,
    insights: usize,
}

impl std::fmt::Debug for RecordEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordEncoder")
            .field("rows", &self.rows)
            .field("insights", &self.insights)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl RecordEncoder {
    pub fn new(window: TimeWindow) -> Self {
        let mut n = 0;
        let spec = Spec::build(FIELDS, &mut n);
        assert_eq!(n, LEAVES.len(), "spec and LEAVES agree");
        let resource_fields: Vec<ArrowField> = RESOURCE_KEYS
            .iter()
            .map(|k| ArrowField::new(k.to_ascii_lowercase(), DataType::Utf8, true))
            .collect();
        Self {
            spec,
            leaf_kinds: LEAVES.iter().map(|l| l.kind).collect(),
            text: (0..n).map(|_| StringBuilder::new()).collect(),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            map: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            resources: ListBuilder::new(StructBuilder::from_fields(resource_fields, 0)),
            unmapped: StringBuilder::new(),
            fixups: StringBuilder::new(),
            source: StringBuilder::new(),
            hash: Int64Builder::new(),
            window,
            rows: 0,
            event_category_leaf: LEAVES
                .iter()
                .position(|l| l.column == "eventcategory")
                .expect("eventcategory leaf"),
            insights: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Insight events appended so far.
    pub fn insights(&self) -> usize {
        self.insights
    }

    /// Appends the record (an object) at `tape[idx]`, read from `source`.
    pub fn append<'t>(&mut self, tape: &[Node<'t>], idx: usize, source: &str) -> Appended {
        debug_assert!(matches!(tape[idx], Node::Object { .. }));
        let mut st = RecordState {
            staged: smallvec::smallvec![None; self.leaf_kinds.len()],
            staged_count: 0,
            ts: None,
            map_entries: None,
            resources: None,
            fixups: Map::new(),
        };
        let mut path = Vec::with_capacity(6);
        let unmapped = walk_object(tape, idx, &self.spec, &mut path, &mut st);
        if !self.window.is_open() && !st.ts.is_some_and(|t| self.window.contains(t)) {
            return Appended::OutsideWindow;
        }
        if st.staged[self.event_category_leaf].as_deref() == Some("Insight") {
            self.insights += 1;
        }
        for (leaf, kind) in self.leaf_kinds.iter().enumerate() {
            match kind {
                Kind::StrMap => match st.map_entries.take() {
                    Some(entries) => {
                        for (k, v) in entries {
                            self.map.keys().append_value(k);
                            self.map.values().append_option(v);
                        }
                        self.map
                            .append(true)
                            .expect("keys and values appended in pairs");
                    }
                    None => self.map.append(false).expect("null map"),
                },
                Kind::Resources => match st.resources.take() {
                    Some(items) => {
                        for item in items {
                            let sb = self.resources.values();
                            for (j, v) in item.into_iter().enumerate() {
                                sb.field_builder::<StringBuilder>(j)
                                    .expect("utf8 field")
                                    .append_option(v);
                            }
                            sb.append(true);
                        }
                        self.resources.append(true);
                    }
                    None => self.resources.append(false),
                },
                _ => self.text[leaf].append_option(st.staged[leaf].take()),
            }
        }
        self.ts.append_option(st.ts);
        if unmapped.is_empty() {
            self.unmapped.append_null();
        } else {
            self.unmapped
                .append_value(Value::Object(unmapped).to_string());
        }
        if st.fixups.is_empty() {
            self.fixups.append_null();
        } else {
            self.fixups
                .append_value(Value::Object(st.fixups).to_string());
        }
        self.source.append_value(source);
        self.hash.append_value(hash_value(tape, idx) as i64);
        self.rows += 1;
        Appended::Stored
    }

    /// The rows appended since the last call, as a batch of [`ingest_schema`].
    pub fn finish(&mut self) -> RecordBatch {
        let schema = ingest_schema();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for (leaf, kind) in self.leaf_kinds.iter().enumerate() {
            match kind {
                Kind::StrMap => cols.push(Arc::new(self.map.finish())),
                Kind::Resources => cols.push(Arc::new(self.resources.finish())),
                Kind::Time => {
                    cols.push(Arc::new(self.text[leaf].finish()));
                    cols.push(Arc::new(self.ts.finish()));
                }
                _ => cols.push(Arc::new(self.text[leaf].finish())),
            }
        }
        cols.push(Arc::new(self.unmapped.finish()));
        cols.push(Arc::new(self.fixups.finish()));
        cols.push(Arc::new(self.source.finish()));
        cols.push(Arc::new(self.hash.finish()));
        self.rows = 0;
        RecordBatch::try_new(schema, cols).expect("encoder builds the lake schema")
    }
}

/// Content hash of a record: its JSON value, where an object is the set of its members
/// (key order does not matter: JSON objects are unordered, and a record rebuilt from the lake
/// hashes as the original did, so a lost dedup index can be rebuilt), arrays keep their order.
fn hash_value(tape: &[Node<'_>], idx: usize) -> u64 {
    // Recursive over at most the parser's 1,024 levels: frames stay small (no hasher state).
    use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};
    let pair = |tag: u8, a: u64, b: u64| {
        let mut bytes = [tag; 17];
        bytes[1..9].copy_from_slice(&a.to_le_bytes());
        bytes[9..].copy_from_slice(&b.to_le_bytes());
        xxh3_64(&bytes)
    };
    match tape[idx] {
        Node::String(s) => xxh3_64_with_seed(s.as_bytes(), 1),
        Node::Object { len, .. } => {
            // Members combine by a commutative sum of their (key, value) hashes.
            let (mut sum, mut i) = (0u64, idx + 1);
            for _ in 0..len {
                let Node::String(key) = tape[i] else {
                    unreachable!("object keys are strings")
                };
                let value = hash_value(tape, i + 1);
                sum = sum.wrapping_add(xxh3_64_with_seed(key.as_bytes(), value));
                i += 1 + node_len(&tape[i + 1]);
            }
            pair(2, len as u64, sum)
        }
        Node::Array { len, .. } => {
            let (mut acc, mut i) = (pair(3, len as u64, 0), idx + 1);
            for _ in 0..len {
                acc = pair(3, acc, hash_value(tape, i));
                i += node_len(&tape[i]);
            }
            acc
        }
        Node::Static(s) => match s {
            StaticNode::Null => pair(4, 0, 0),
            StaticNode::Bool(b) => pair(5, u64::from(b), 0),
            StaticNode::I64(v) => pair(6, v as u64, 0),
            StaticNode::U64(v) => pair(7, v, 0),
            StaticNode::F64(v) => pair(8, v.to_bits(), 0),
        },
    }
}

/// Walks a known object; returns the members it does not know (original keys), with
/// unknown members of known children nested under the child's canonical key.
fn walk_object<'t>(
    tape: &[Node<'t>],
    start: usize,
    spec: &Spec,
    path: &mut Vec<&'static str>,
    st: &mut RecordState<'t>,
) -> Map<String, Value> {
    let Node::Object { len, .. } = tape[start] else {
        unreachable!("walk_object on an object")
    };
    let mut entries: SmallVec<[(&'t str, usize); 32]> = SmallVec::with_capacity(len);
    let mut i = start + 1;
    for _ in 0..len {
        let key = match tape[i] {
            Node::String(k) => k,
            _ => unreachable!("object keys are strings"),
        };
        entries.push((key, i + 1));
        i += 1 + node_len(&tape[i + 1]);
    }
    // Exact key first (the last of duplicates wins, as in JSON value semantics); then a
    // case-insensitive match for fields no exact key claimed.
    let n = spec.fields.len();
    let mut claim: SmallVec<[Option<usize>; 40]> = smallvec::smallvec![None; n];
    let mut matched: SmallVec<[bool; 32]> = smallvec::smallvec![false; entries.len()];
    // CloudTrail writes members in a stable order close to the schema's: look where the
    // previous key matched first, then wrap around.
    let mut hint = 0;
    for (ei, (k, _)) in entries.iter().enumerate() {
        if let Some(fi) = (0..n)
            .map(|j| (hint + j) % n)
            .find(|&fi| spec.fields[fi].key == *k)
        {
            if let Some(prev) = claim[fi] {
                matched[prev] = true; // superseded duplicate: JSON keeps the last one
            }
            claim[fi] = Some(ei);
            matched[ei] = true;
            hint = fi + 1;
        }
    }
    for (ei, (k, _)) in entries.iter().enumerate() {
        if matched[ei] {
            continue;
        }
        if let Some(fi) = (0..spec.fields.len())
            .find(|&fi| claim[fi].is_none() && spec.fields[fi].key.eq_ignore_ascii_case(k))
        {
            claim[fi] = Some(ei);
            matched[ei] = true;
        }
    }
    let mut unmapped = Map::new();
    for (ei, (k, v)) in entries.iter().enumerate() {
        if !matched[ei] {
            unmapped.insert((*k).to_string(), to_value(tape, *v));
        }
    }
    for (fi, field) in spec.fields.iter().enumerate() {
        let Some(ei) = claim[fi] else { continue };
        let (key, v) = entries[ei];
        path.push(field.key);
        if key != field.key {
            st.fix(path, Some(key), None);
        }
        match &field.kind {
            SpecKind::Object(child) => match tape[v] {
                Node::Object { .. } => {
                    let before = st.marks();
                    let sub = walk_object(tape, v, child, path, st);
                    if !sub.is_empty() {
                        unmapped.insert(field.key.to_string(), Value::Object(sub));
                    } else if st.marks() == before {
                        // Present but holds nothing the columns can show: keep it as `{}`.
                        st.fix(path, None, Some(Value::Object(Map::new())));
                    }
                }
                _ => st.fix(path, None, Some(to_value(tape, v))),
            },
            SpecKind::Leaf(leaf, kind) => encode_leaf(tape, v, *leaf, *kind, path, st),
        }
        path.pop();
    }
    unmapped
}

fn encode_leaf<'t>(
    tape: &[Node<'t>],
    v: usize,
    leaf: usize,
    kind: Kind,
    path: &[&str],
    st: &mut RecordState<'t>,
) {
    let node = tape[v];
    if let Node::String(s) = node
        && let Some(literal) = s.strip_prefix(BIG_NUMBER_MARKER)
    {
        // A number beyond 64 bits: its exact literal is the value's text.
        st.stage(leaf, Cow::Owned(literal.to_string()));
        if !matches!(kind, Kind::Json) {
            st.fix(path, None, Some(to_value(tape, v)));
        }
        return;
    }
    if matches!(node, Node::Static(StaticNode::Null)) {
        st.fix(path, None, Some(Value::Null));
        return;
    }
    match kind {
        Kind::Str => match node {
            Node::String(s) => st.stage(leaf, Cow::Borrowed(s)),
            _ => {
                st.stage(leaf, Cow::Owned(json_text(tape, v)));
                st.fix(path, None, Some(to_value(tape, v)));
            }
        },
        Kind::Bool => match node {
            Node::Static(StaticNode::Bool(b)) => {
                st.stage(leaf, Cow::Borrowed(if b { "true" } else { "false" }))
            }
            Node::String(s) => {
                st.stage(leaf, Cow::Borrowed(s));
                st.fix(path, None, Some(Value::String(s.to_string())));
            }
            _ => {
                st.stage(leaf, Cow::Owned(json_text(tape, v)));
                st.fix(path, None, Some(to_value(tape, v)));
            }
        },
        Kind::Json => match node {
            Node::String(s) => {
                st.stage(leaf, Cow::Borrowed(s));
                st.fix(path, None, Some(Value::String(s.to_string())));
            }
            _ => st.stage(leaf, Cow::Owned(json_text(tape, v))),
        },
        Kind::Time => match node {
            Node::String(s) => match parse_event_time(s) {
                Some(t) => {
                    st.ts = Some(t.micros);
                    // The usual case, `YYYY-MM-DDTHH:MM:SSZ`, parsed fine: it is already canonical.
                    let b = s.as_bytes();
                    if b.len() == 20 && b[10] == b'T' && b[19] == b'Z' {
                        st.stage(leaf, Cow::Borrowed(s));
                        return;
                    }
                    let canonical = t.canonical();
                    if canonical == s {
                        st.stage(leaf, Cow::Borrowed(s));
                    } else {
                        st.stage(leaf, Cow::Owned(canonical));
                        st.fix(path, None, Some(Value::String(s.to_string())));
                    }
                }
                // Junk is kept verbatim: the row lands in the unknown-date partition.
                None => st.stage(leaf, Cow::Borrowed(s)),
            },
            _ => {
                st.stage(leaf, Cow::Owned(json_text(tape, v)));
                st.fix(path, None, Some(to_value(tape, v)));
            }
        },
        Kind::StrMap => match node {
            Node::Object { len, .. } => {
                let mut entries = Vec::with_capacity(len);
                let mut regular = true;
                let mut i = v + 1;
                for _ in 0..len {
                    let Node::String(k) = tape[i] else {
                        unreachable!("object keys are strings")
                    };
                    let value = match tape[i + 1] {
                        Node::String(s) if !s.starts_with(BIG_NUMBER_MARKER) => {
                            Some(Cow::Borrowed(s))
                        }
                        Node::Static(StaticNode::Null) => {
                            regular = false;
                            None
                        }
                        _ => {
                            regular = false;
                            Some(Cow::Owned(json_text(tape, i + 1)))
                        }
                    };
                    entries.push((Cow::Borrowed(k), value));
                    i += 1 + node_len(&tape[i + 1]);
                }
                st.map_entries = Some(entries);
                st.staged_count += 1;
                if !regular {
                    st.fix(path, None, Some(to_value(tape, v)));
                }
            }
            _ => st.fix(path, None, Some(to_value(tape, v))),
        },
        Kind::Resources => match node {
            Node::Array { len, .. } => {
                let mut items = Vec::with_capacity(len);
                let mut regular = true;
                let mut i = v + 1;
                for _ in 0..len {
                    let mut item: Resource<'t> = [None, None, None];
                    if let Node::Object { len: klen, .. } = tape[i] {
                        let mut j = i + 1;
                        for _ in 0..klen {
                            let Node::String(k) = tape[j] else {
                                unreachable!("object keys are strings")
                            };
                            let slot = RESOURCE_KEYS.iter().position(|rk| *rk == k).or_else(|| {
                                regular = false;
                                RESOURCE_KEYS
                                    .iter()
                                    .position(|rk| rk.eq_ignore_ascii_case(k))
                            });
                            match (slot, tape[j + 1]) {
                                (Some(s), Node::String(val)) if item[s].is_none() => {
                                    item[s] = Some(Cow::Borrowed(val))
                                }
                                (Some(s), _)
                                    if item[s].is_none()
                                        && !matches!(
                                            tape[j + 1],
                                            Node::Static(StaticNode::Null)
                                        ) =>
                                {
                                    regular = false;
                                    item[s] = Some(Cow::Owned(json_text(tape, j + 1)));
                                }
                                _ => regular = false,
                            }
                            j += 1 + node_len(&tape[j + 1]);
                        }
                    } else {
                        regular = false;
                    }
                    items.push(item);
                    i += node_len(&tape[i]);
                }
                st.resources = Some(items);
                st.staged_count += 1;
                if !regular {
                    st.fix(path, None, Some(to_value(tape, v)));
                }
            }
            _ => st.fix(path, None, Some(to_value(tape, v))),
        },
        Kind::Object(_) => unreachable!("objects are walked, not encoded"),
    }
}
