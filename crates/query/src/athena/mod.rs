//! Athena (Trino) compatibility: functions DataFusion lacks or names differently, and the
//! identifier rules of Athena.

mod agg;
mod arrays;
mod ast;
mod binary;
mod casts;
pub(crate) mod ddl;
mod decimal;
mod distinct;
mod idents;
mod ip;
mod json;
mod lambdas;
mod maps;
mod regex;
mod rewrite;
mod strings;
mod time;
mod trino_list;
mod url;
mod utc_parts;
mod zones;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use datafusion::prelude::SessionContext;

pub(crate) use ast::{Refused, rewrite_statement};
pub use idents::fold_quoted_identifiers;
pub(crate) use idents::{
    angle_bracket_types, mark_lambdas, parenthesize_values, trim_without_characters,
};
pub use trino_list::TRINO_FUNCTIONS;

/// The Trino functions trawl adds to DataFusion's, with what they do (for the reference in
/// `docs/functions.md`; a test checks each is registered).
pub const ADDED: &[(&str, &str)] = &[
    (
        "json_extract_scalar(json, path)",
        "scalar at a JSONPath as varchar; NULL for objects, arrays, missing paths, invalid JSON",
    ),
    (
        "json_extract(json, path)",
        "JSON text of the value at a JSONPath",
    ),
    (
        "json_array_length(json)",
        "length of a JSON array, else NULL",
    ),
    (
        "json_size(json, path)",
        "size of the array or object at a JSONPath, 0 for scalars",
    ),
    ("json_format(json)", "compact JSON text"),
    (
        "json_parse(text)",
        "validates and compacts JSON text; an error for invalid JSON",
    ),
    (
        "from_iso8601_timestamp(text)",
        "timestamp (UTC) from ISO 8601; NULL if unparseable. Predicates on from_iso8601_timestamp(eventtime) prune",
    ),
    ("from_iso8601_date(text)", "date from ISO 8601"),
    (
        "date_parse(text, format)",
        "timestamp from text with a MySQL-style format (%Y-%m-%d %H:%i:%s, %T ...)",
    ),
    (
        "date_format(timestamp, format)",
        "text from a timestamp with a MySQL-style format",
    ),
    (
        "parse_datetime(text, pattern)",
        "timestamp (UTC) from text with a Joda pattern (yyyy-MM-dd HH:mm:ss, 'T', SSS, Z ...)",
    ),
    (
        "format_datetime(timestamp, pattern)",
        "text from a timestamp with a Joda pattern",
    ),
    (
        "regexp_extract_all(text, pattern[, group])",
        "every match (or its group) as an array",
    ),
    (
        "slice(array, start, length)",
        "length elements from the 1-based start (negative: from the end)",
    ),
    (
        "year/quarter/month/week/week_of_year/day/day_of_month/day_of_year/doy/hour/minute/second/millisecond(t)",
        "date parts as bigint",
    ),
    (
        "day_of_week(t), dow(t)",
        "ISO day of week, Monday = 1 .. Sunday = 7",
    ),
    ("if(cond, a[, b])", "CASE WHEN cond THEN a ELSE b END"),
    (
        "date_add(unit, n, t)",
        "t plus n units (millisecond .. year; months clamp to the month's end)",
    ),
    ("date_diff(unit, a, b)", "whole units from a to b"),
    (
        "split(text, delimiter[, limit])",
        "array of the parts, empty ones kept; at most limit parts, the last holding the rest",
    ),
    (
        "concat(a, b, ...)",
        "the strings joined (NULL if any is NULL, as in Trino); arrays concatenated",
    ),
    (
        "split_part(text, delimiter, index)",
        "the index-th field (1-based); NULL past the last; an empty delimiter splits into characters",
    ),
    (
        "substr(text, start[, length]) / substring",
        "1-based; a negative start counts from the end; '' for a start of 0 or outside the text",
    ),
    (
        "strpos(text, sub[, instance])",
        "1-based position of the instance-th match (negative: from the end), 0 if none",
    ),
    (
        "lpad(text, size, pad) / rpad",
        "padded (or cut) to size characters; an error for an empty pad or a negative size",
    ),
    (
        "trim(text[, chars]) / ltrim / rtrim",
        "without chars, Unicode whitespace (tabs, newlines, U+2028 ...), not only spaces",
    ),
    (
        "hamming_distance(a, b)",
        "positions at which the characters differ",
    ),
    ("codepoint(c)", "the code point of a one-character string"),
    (
        "round(x[, d])",
        "half away from zero; a decimal keeps its scale (round(1.245, 2) is 1.250)",
    ),
    (
        "at_timezone(t, zone)",
        "the same instant in zone; what t AT TIME ZONE zone becomes (a timestamp without zone is UTC)",
    ),
    ("with_timezone(t, zone)", "the wall clock of t read in zone"),
    (
        "to_iso8601(t)",
        "ISO 8601 text (2024-03-01T13:04:05.000Z, +09:00 for other zones; dates as 2024-03-01)",
    ),
    ("current_timezone()", "UTC, the session zone"),
    (
        "to_char(t, format) / to_date(text, format) / to_timestamp(text, format)",
        "Teradata formats: yyyy yy mm dd hh hh24 mi ss and punctuation; other letters are an error",
    ),
    (
        "avg(x)",
        "a decimal's average keeps its type, rounded half away from zero",
    ),
    (
        "greatest(a, b, ...) / least",
        "NULL when any argument is NULL",
    ),
    ("repeat(x, n)", "an array of n copies of x"),
    (
        "reverse(text or array)",
        "the characters, or the elements, in reverse order",
    ),
    ("array_position(a, x)", "1-based position of x, 0 if absent"),
    ("array_remove(a, x)", "a without any element equal to x"),
    ("array_sort(a)", "ascending, NULLs last"),
    ("array_max(a) / array_min", "NULL when an element is NULL"),
    (
        "arrays_overlap(a, b)",
        "whether an element is shared; NULL when none is but a NULL is present",
    ),
    (
        "contains(array, x)",
        "whether x is an element; NULL when it is not and the array holds a NULL, or x is NULL",
    ),
    (
        "floor(x) / ceil / ceiling / truncate / sign",
        "an integer's type kept; a decimal gives a decimal of scale 0",
    ),
    (
        "date_trunc(unit, t)",
        "t truncated in its zone; a DATE stays a DATE",
    ),
    (
        "md5(varbinary) / to_hex / from_hex / to_utf8",
        "Trino's varbinary functions (md5 gives bytes; to_hex is upper case)",
    ),
    (
        "from_unixtime(seconds[, zone]) / to_unixtime",
        "seconds with a fraction (to the millisecond) to a timestamp, and back to a double",
    ),
    (
        "url_extract_host(url) / url_extract_parameter / url_extract_protocol / url_extract_path / url_extract_query / url_extract_fragment / url_extract_port",
        "parts of a URL, NULL when absent or when the text is not a URL",
    ),
    (
        "url_encode(text) / url_decode",
        "query-parameter escaping (space as +, other bytes as %XX) and back",
    ),
    (
        "regexp_split(text, pattern)",
        "the parts between matches, trailing empty ones kept",
    ),
    (
        "regexp_position(text, pattern[, start[, occurrence]])",
        "1-based position of the occurrence-th match from start, -1 without one",
    ),
    (
        "json_array_get(json, index) / json_array_contains",
        "element of a JSON array (0-based, negative from the end), or whether it holds a value",
    ),
    (
        "split_to_map(text, entry_delimiter, key_value_delimiter)",
        "the entries as a map; an entry without one key-value delimiter or a repeated key is an error",
    ),
    (
        "sequence(start, stop[, step])",
        "integers, dates or timestamps from start to stop; without a step, 1 (a day) or -1 when start > stop",
    ),
    (
        "from_utf8(varbinary[, replace])",
        "the text; invalid UTF-8 becomes U+FFFD, or replace (one character, a code point, or '')",
    ),
    (
        "checksum(x)",
        "Trino's order-insensitive checksum (8 bytes) of varchar, integer, double, decimal, date or timestamp values",
    ),
    (
        "try(x)",
        "NULL where x fails by a cast, a division by zero or json_parse of text that is not JSON",
    ),
    ("sha1(varbinary)", "SHA-1 digest"),
    ("crc32(varbinary)", "CRC-32 as bigint"),
    ("xxhash64(varbinary)", "xxHash64 (seed 0) as 8 bytes"),
    ("to_base64(varbinary) / to_base64url", "base64 text, padded"),
    (
        "from_base64(text) / from_base64url",
        "the bytes base64 text spells (padding optional)",
    ),
    (
        "histogram(x)",
        "map of each value to its count (NULLs skipped)",
    ),
    ("map_agg(k, v)", "map of each key to a value of it"),
    ("multimap_agg(k, v)", "map of each key to all its values"),
    (
        "approx_most_frequent(buckets, x, capacity)",
        "map of the buckets most frequent values to their counts (exact counts)",
    ),
    (
        "reduce(array, initial, (s, x) -> ..., s -> ...)",
        "folds the array into a state from initial, then finishes it; NULL for a NULL array",
    ),
    (
        "zip_with(a, b, (x, y) -> ...)",
        "the lambda over the pairs of elements, the shorter array padded with NULLs",
    ),
    (
        "transform_values(map, (k, v) -> ...) / transform_keys",
        "the map with its values (or keys) replaced by the lambda's results",
    ),
    (
        "map_filter(map, (k, v) -> ...)",
        "the entries for which the lambda is true",
    ),
    (
        "map_from_entries(array(row(k, v)))",
        "the map of the rows' keys to their values",
    ),
    (
        "array_join(array, separator)",
        "the elements joined as text (array_to_string)",
    ),
    (
        "element_at(array, i) / element_at(map, key)",
        "1-based element (negative from the end), or a map's value; NULL when absent",
    ),
    (
        "replace(text, search[, replacement])",
        "without a replacement, removes every occurrence",
    ),
    (
        "regexp_extract(text, pattern[, group])",
        "first match or its group; NULL without a match",
    ),
    (
        "regexp_replace(text, pattern[, replacement])",
        "replaces every match ($1 for groups); removes matches without a replacement",
    ),
    (
        "count_if(bool)",
        "number of rows where the argument is true",
    ),
    ("arbitrary(x)", "any value of the group (first_value)"),
    (
        "approx_percentile(x, p)",
        "approximate percentile (approx_percentile_cont)",
    ),
    (
        "filter(array, x -> predicate)",
        "the elements for which the lambda is true (array_filter)",
    ),
    (
        "transform(array, x -> expression)",
        "the lambda applied to each element (array_transform)",
    ),
    (
        "any_match(array, x -> predicate)",
        "whether some element matches; NULL when the answer depends on a NULL. all_match(a, x -> p) and none_match(a, x -> p) are rewritten to NOT any_match(a, x -> NOT p) and NOT any_match(a, x -> p)",
    ),
    (
        "ipaddress(text), try_ipaddress(text)",
        "what CAST(x AS IPADDRESS), TRY_CAST(x AS IPADDRESS) and IPADDRESS '...' become: an address (16 bytes, IPv4-mapped) that compares as an address",
    ),
    (
        "ipaddress_text(ip)",
        "what CAST(ip AS VARCHAR) becomes: the address as Trino prints it",
    ),
    (
        "cidr_contains(cidr, ip)",
        "what contains('10.0.0.0/8', ip) becomes: whether the address is in the network, IPv4 or IPv6",
    ),
];

/// Registers every Athena function with `ctx`.
pub(crate) fn register(ctx: &mut SessionContext) {
    let scalars = json::functions()
        .into_iter()
        .chain(json::array_functions())
        .chain(time::functions())
        .chain(time::date_functions())
        .chain(time::arith_functions())
        .chain(regex::functions())
        .chain(regex::more_functions())
        .chain(url::functions())
        .chain(rewrite::functions())
        .chain(strings::functions())
        .chain(decimal::functions())
        .chain(decimal::integral_functions())
        .chain(zones::functions())
        .chain(zones::teradata_functions())
        .chain(casts::functions())
        .chain(binary::functions())
        .chain(arrays::functions())
        .chain(maps::scalar_functions())
        .chain(ip::functions());
    // `__trawl_has_null` and `__trawl_utc_part` are called by rewrites, never by name in
    // SQL: registered so that a plan sent to a cluster's nodes finds them there.
    for f in scalars.chain([arrays::has_null()]) {
        ctx.register_udf(ScalarUDF::new_from_shared_impl(f));
    }
    ctx.register_udf(utc_parts::utc_part());
    // Trino's names for DataFusion functions with the same semantics.
    let state = ctx.state();
    for (df, trino) in [("levenshtein", "levenshtein_distance"), ("isnan", "is_nan")] {
        if let Some(f) = state.scalar_functions().get(df) {
            ctx.register_udf((**f).clone().with_aliases([trino]));
        }
    }
    for (df, trino) in [("var_samp", "variance"), ("bool_and", "every")] {
        if let Some(f) = state.aggregate_functions().get(df) {
            ctx.register_udaf((**f).clone().with_aliases([trino]));
        }
    }
    agg::register(ctx);
    // Registered for a cluster's nodes: the rule below calls it.
    ctx.register_udaf(distinct::udaf());
    ctx.add_optimizer_rule(Arc::new(distinct::CountDistinctText));
    maps::register(ctx);
    lambdas::register(ctx);
    let decimals = decimal::DecimalPlanner::new();
    for f in decimals.functions() {
        ctx.register_udf((*f).clone());
    }
    datafusion::execution::FunctionRegistry::register_expr_planner(ctx, Arc::new(decimals))
        .expect("a session accepts expression planners");
    // Trino's names for DataFusion's lambda functions.
    use datafusion::functions_nested::{array_filter, array_transform};
    for (f, alias) in [
        (array_filter::array_filter_higher_order_function(), "filter"),
        (
            array_transform::array_transform_higher_order_function(),
            "transform",
        ),
    ] {
        ctx.register_higher_order_function(Arc::new((*f).clone().with_aliases([alias])));
    }
}

/// Tokens of `sql` with their byte ranges in `sql` (sqlparser reports line and character
/// column; rewriting by byte range keeps the rest of the text exactly as written).
pub(crate) fn tokens_with_ranges(
    sql: &str,
    dialect: &dyn datafusion::sql::sqlparser::dialect::Dialect,
) -> Option<
    Vec<(
        datafusion::sql::sqlparser::tokenizer::Token,
        std::ops::Range<usize>,
    )>,
> {
    let tokens = datafusion::sql::sqlparser::tokenizer::Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .ok()?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            sql.char_indices()
                .filter(|(_, c)| *c == '\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // Token starts only move forward: one cursor walks the text once (a walk from the line
    // start per token was quadratic on a long one-line statement, e.g. a big IN list).
    let (mut line, mut column, mut byte) = (1u64, 1u64, 0usize);
    let mut starts = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let (l, c) = (t.span.start.line, t.span.start.column);
        if l != line {
            byte = *line_starts.get(usize::try_from(l).ok()?.checked_sub(1)?)?;
            (line, column) = (l, 1);
        }
        if c < column {
            return None;
        }
        let mut chars = sql[byte..].char_indices();
        let skip = usize::try_from(c - column).ok()?;
        byte += match skip.checked_sub(1) {
            None => 0,
            Some(n) => chars
                .nth(n)
                .map_or(sql.len() - byte, |(i, ch)| i + ch.len_utf8()),
        };
        column = c;
        starts.push(byte);
    }
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        // The token ends where the next one starts (spans' end columns vary by token kind).
        let end = starts.get(i + 1).copied().unwrap_or(sql.len());
        out.push((t.token.clone(), starts[i]..end));
    }
    Some(out)
}

/// The argument as a Utf8 array of `rows` rows (scalars are broadcast).
pub(crate) fn utf8_arg(arg: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    let array = arg.to_array(rows)?;
    Ok(match array.data_type() {
        DataType::Utf8 => array,
        _ => cast(&array, &DataType::Utf8)?,
    })
}

/// Maps each string of `input` (NULL stays NULL) through `f`.
pub(crate) fn map_strings(
    input: &ArrayRef,
    mut f: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<ArrayRef> {
    let strings = input.as_string::<i32>();
    let out: StringArray = (0..strings.len())
        .map(|i| {
            if strings.is_null(i) {
                Ok(None)
            } else {
                f(strings.value(i))
            }
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

/// The constant arguments of a call (`None` for those that are arrays), as
/// `ReturnFieldArgs::scalar_arguments` has them.
pub(crate) fn scalar_args(args: &[ColumnarValue]) -> Vec<Option<datafusion::common::ScalarValue>> {
    args.iter()
        .map(|a| match a {
            ColumnarValue::Scalar(s) => Some(s.clone()),
            ColumnarValue::Array(_) => None,
        })
        .collect()
}

/// The value of a constant string argument (a JSONPath, a format), if it is one.
pub(crate) fn constant_str(arg: &ColumnarValue) -> Option<Option<String>> {
    match arg {
        ColumnarValue::Scalar(s) => Some(
            s.try_as_str()
                .map(|o| o.map(str::to_string))
                .unwrap_or(None),
        ),
        ColumnarValue::Array(_) => None,
    }
}
