//! The `where` (metadata) and `where_document` (document text) filter languages.
//!
//! Filters arrive as JSON and are parsed once into a checked AST; the storage engine turns the
//! AST into SQL. Missing, `null` and `{}` filters all mean "no filter" (the 0.4.x client sends
//! `{}`), so the parse functions return `Option`.
//!
//! Why this file is long (~880 lines): the two languages share their parser, limits and
//! error wording, and about a third of it is tests of exact error messages.
//!
//! Numeric operands follow the one number rule of [`crate::metadata`]: an `i64` is an integer,
//! any other number (2^63, 2^64, `1e20`, `-0`) the nearest float, negative zero `0.0`.
//!
//! # Size limits
//!
//! One filter (a `where`, or a `where_document`, each counted on its own) is refused, before
//! anything is allocated for the part that is too large, when it exceeds one of these limits;
//! the error names the limit ("... exceeds the limit of N ..."). Each is far above what a
//! filter written by hand or generated for a real query needs, and low enough that the storage
//! engine can run the filter in bounded memory and time:
//!
//! | limit | value | why |
//! | --- | --- | --- |
//! | [`MAX_IN_VALUES`] values in one `$in` / `$nin` | 100,000 | the engine passes a list as one JSON parameter, whatever its length; 100,000 ids or tags covers bulk look-ups (Chroma 1.5.9 takes 10,000 and fails at 20,000: a 500 "too many SQL variables") |
//! | [`MAX_CLAUSES`] clauses in one filter (comparisons, `$in`, `$contains`, `$regex`, `$and`, `$or`) | 1,000 | `SQLite`'s planner costs grow with the square of the clauses in one statement (the fuzzer found it: a `$or` of 2,400 equalities took 14 s to plan, 4,800 took 35 s, on any collection); 1,000 plan in about a second. Chroma 1.5.9 takes 900 clauses in one `$or`, fails at 999 (a 500 "Expression tree is too large") and its server process dies at 10,000 |
//! | [`MAX_DEPTH`] levels of nested `$and` / `$or` | 64 | checked before each level is parsed, so no input can exhaust the stack; the JSON parser's own limit (128 levels of JSON, about 62 of `$and`) is what Chroma 1.5.9 allows too |
//! | [`MAX_NEEDLE_BYTES`] bytes in one `$contains` / `$not_contains` operand or `$regex` / `$not_regex` pattern | 65,536 | a phrase or a paragraph; Chroma 1.5.9 takes 49,998 bytes and fails from 49,999 (a 500 "LIKE or GLOB pattern too complex") |
//! | [`MAX_REGEXES`] regular expressions in one filter | 16 | each is compiled (up to the next limit: tens of milliseconds for the largest) and run over every candidate document |
//! | [`MAX_REGEX_PROGRAM_BYTES`] bytes of one compiled regular expression | 10 MiB | the `regex` crate's `size_limit` at its default, which is what Chroma 1.5.9 accepts too: `\w{100}` (4.8 MiB: Unicode classes are large) and `\w{200}` fit, `\w{1000}` (48 MiB) does not (1.5.9: a 500 "constraint failed"); see [`compile_regex`] |
//! | [`MAX_REGEX_CACHE_BYTES`] bytes of one regular expression's lazy DFA cache | 2 MiB | the `regex` crate's `dfa_size_limit` (its default): past it the search slows down instead of growing |
//! | [`MAX_FILTER_BYTES`] bytes of keys and operands in one filter | 16 MiB | strings count their UTF-8 length, every other operand 8 bytes: the memory the parsed filter and its SQL parameters hold |

use crate::error::{Error, Result};
use serde_json::Value;

/// Most values in one `$in` / `$nin` list.
pub const MAX_IN_VALUES: usize = 100_000;
/// Most clauses in one filter: comparisons, `$in`/`$nin`, `$contains`, document operators,
/// `$and` and `$or` all count one.
pub const MAX_CLAUSES: usize = 1_000;
/// Most levels of `$and` / `$or` nested in one another.
pub const MAX_DEPTH: usize = 64;
/// Longest `$contains` / `$not_contains` operand or `$regex` / `$not_regex` pattern, in bytes.
pub const MAX_NEEDLE_BYTES: usize = 64 * 1024;
/// Most `$regex` / `$not_regex` clauses in one filter.
pub const MAX_REGEXES: usize = 16;
/// Largest compiled regular expression (`regex::RegexBuilder::size_limit`), in bytes.
pub const MAX_REGEX_PROGRAM_BYTES: usize = 10 * 1024 * 1024;
/// Largest lazy DFA cache of one regular expression (`regex::RegexBuilder::dfa_size_limit`).
pub const MAX_REGEX_CACHE_BYTES: usize = 2 * 1024 * 1024;
/// Most bytes of keys and operands in one filter (strings by their UTF-8 length, any other
/// operand 8 bytes).
pub const MAX_FILTER_BYTES: usize = 16 * 1024 * 1024;

/// What one filter has used of the limits so far.
struct Budget {
    /// `"where"` or `"where document"`, for messages.
    what: &'static str,
    clauses: usize,
    bytes: usize,
    regexes: usize,
}

impl Budget {
    fn new(what: &'static str) -> Self {
        Budget { what, clauses: 0, bytes: 0, regexes: 0 }
    }

    /// Counts `n` more clauses.
    fn clauses(&mut self, n: usize) -> Result<()> {
        self.clauses = self.clauses.saturating_add(n);
        if self.clauses > MAX_CLAUSES {
            return Err(Error::invalid(format!(
                "The {} filter exceeds the limit of {MAX_CLAUSES} clauses in one filter",
                self.what
            )));
        }
        Ok(())
    }

    /// Counts `n` more bytes of keys and operands.
    fn bytes(&mut self, n: usize) -> Result<()> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > MAX_FILTER_BYTES {
            return Err(Error::invalid(format!(
                "The {} filter exceeds the limit of {MAX_FILTER_BYTES} bytes of keys and operands in one filter",
                self.what
            )));
        }
        Ok(())
    }

    /// Counts one more regular expression.
    fn regex(&mut self) -> Result<()> {
        self.regexes += 1;
        if self.regexes > MAX_REGEXES {
            return Err(Error::invalid(format!(
                "The {} filter exceeds the limit of {MAX_REGEXES} regular expressions in one filter",
                self.what
            )));
        }
        Ok(())
    }

    /// Checks the nesting before a `$and` / `$or` at `depth` (the number of enclosing ones) is
    /// parsed, and the number of its items before any is.
    fn logical(&mut self, op: &str, depth: usize, items: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(Error::invalid(format!(
                "The {} filter exceeds the limit of {MAX_DEPTH} levels of nested $and / $or",
                self.what
            )));
        }
        if items > MAX_CLAUSES {
            return Err(Error::invalid(format!(
                "{op} with {items} clauses exceeds the limit of {MAX_CLAUSES} clauses in one filter"
            )));
        }
        self.clauses(1)
    }

    /// Counts an operand's bytes.
    fn scalar(&mut self, s: &Scalar) -> Result<()> {
        self.bytes(match s {
            Scalar::Str(s) => s.len(),
            _ => 8,
        })
    }
}

/// Checks the length of a `$contains` / `$not_contains` operand or a regular expression.
fn needle(op: &str, s: &str) -> Result<()> {
    if s.len() > MAX_NEEDLE_BYTES {
        return Err(Error::invalid(format!(
            "The {op} operand of {} bytes exceeds the limit of {MAX_NEEDLE_BYTES} bytes",
            s.len()
        )));
    }
    Ok(())
}

/// Compiles a `$regex` / `$not_regex` pattern within the filter limits: at most
/// [`MAX_NEEDLE_BYTES`] long, at most [`MAX_REGEX_PROGRAM_BYTES`] compiled, a lazy DFA cache of
/// at most [`MAX_REGEX_CACHE_BYTES`]. The parser checks every pattern with it, and the storage
/// engine should compile the patterns it runs with it too, so that what was accepted compiles the
/// same way. A syntax error is worded as Chroma 1.5.9 words it.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex> {
    needle("$regex", pattern)?;
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_PROGRAM_BYTES)
        .dfa_size_limit(MAX_REGEX_CACHE_BYTES)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => Error::invalid(format!(
                "The regular expression exceeds the limit of {MAX_REGEX_PROGRAM_BYTES} bytes once compiled: {}",
                shorten(pattern)
            )),
            // Chroma 1.5.9's wording, its spelling included.
            e => Error::invalid(format!("Regex syntax errror: {e}")),
        })
}

/// A pattern for a message: its first 100 characters.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// A scalar filter operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    fn from_json(v: &Value) -> Option<Scalar> {
        match v {
            Value::String(s) => Some(Scalar::Str(s.clone())),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => crate::metadata::number(n).map(|x| x.map_or_else(Scalar::Float, Scalar::Int)),
            _ => None,
        }
    }
    fn same_type(&self, other: &Scalar) -> bool {
        matches!(
            (self, other),
            (Scalar::Str(_), Scalar::Str(_))
                | (Scalar::Bool(_), Scalar::Bool(_))
                | (Scalar::Int(_) | Scalar::Float(_), Scalar::Int(_) | Scalar::Float(_))
        )
    }
    /// Integers and floats compare with each other.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Scalar::Int(_) | Scalar::Float(_))
    }
    /// The operand as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.clone()),
            Scalar::Int(i) => Value::from(*i),
            Scalar::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Comparison operators of `where`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `$eq`
    Eq,
    /// `$ne`
    Ne,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
}

impl Cmp {
    /// The operator as written in a filter (`"$eq"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "$eq",
            Cmp::Ne => "$ne",
            Cmp::Gt => "$gt",
            Cmp::Gte => "$gte",
            Cmp::Lt => "$lt",
            Cmp::Lte => "$lte",
        }
    }
}

/// A parsed metadata filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Where {
    /// `$and`: every clause matches.
    And(Vec<Where>),
    /// `$or`: some clause matches.
    Or(Vec<Where>),
    /// `{"key": {"$op": value}}`; a bare value means `$eq`.
    Compare {
        /// The metadata key.
        key: String,
        /// The comparison.
        op: Cmp,
        /// The operand.
        value: Scalar,
    },
    /// `$in` (negate = false) or `$nin` (negate = true).
    In {
        /// The metadata key.
        key: String,
        /// The operands.
        values: Vec<Scalar>,
        /// `$nin` when true.
        negate: bool,
    },
    /// 1.x: a document filter written as a `where` clause on the key `#document`
    /// (`{"#document": {"$contains": "x"}}`), also inside `$and` / `$or` beside metadata keys.
    Document(WhereDocument),
    /// 1.x array membership: `$contains` / `$not_contains` on an array-valued key.
    Contains {
        /// The metadata key (an array-valued one).
        key: String,
        /// The element looked for.
        value: Scalar,
        /// `$not_contains` when true.
        negate: bool,
    },
}

impl Where {
    /// Every metadata key the filter reads.
    pub fn keys(&self) -> Vec<&str> {
        fn walk<'a>(w: &'a Where, out: &mut Vec<&'a str>) {
            match w {
                Where::And(v) | Where::Or(v) => v.iter().for_each(|x| walk(x, out)),
                Where::Compare { key, .. } | Where::In { key, .. } | Where::Contains { key, .. } => out.push(key),
                Where::Document(_) => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// A parsed document filter.
#[derive(Debug, Clone, PartialEq)]
pub enum WhereDocument {
    /// `$and`: every clause matches.
    And(Vec<WhereDocument>),
    /// `$or`: some clause matches.
    Or(Vec<WhereDocument>),
    /// `$contains`: the document holds this substring.
    Contains(String),
    /// `$not_contains`.
    NotContains(String),
    /// `$regex`: the document matches this regular expression.
    Regex(String),
    /// `$not_regex`.
    NotRegex(String),
}

/// Behaviour knobs where Chroma releases disagree: filter semantics, and which metadata keys a
/// write may carry. The engine implements both sides; the server picks the one each client
/// line's own server had. Default: 1.x.
// Independent knobs, each named after the behaviour it switches: not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// `$ne`/`$nin` also match records that lack the key (1.x: yes, 0.4.x: no).
    pub ne_matches_missing: bool,
    /// `$not_contains` also matches records without a document (1.x: yes, 0.4.x: no).
    pub not_contains_matches_missing_document: bool,
    /// `$contains` ignores case (0.4.x over HTTP did, by accident; 1.x does not).
    pub contains_case_insensitive: bool,
    /// `$contains` / `$not_contains` read `_` and `%` in the term as "any one character"
    /// (0.4.x and 0.5.x matched documents with SQL `LIKE`, and their own test suites model
    /// those characters so); 1.x matches the term literally.
    pub contains_wildcards: bool,
    /// `$contains` terms shorter than 3 characters match nothing (0.4.x trigram index quirk).
    pub contains_needs_trigram: bool,
    /// `get` without ids returns records ordered by id (0.4.x) instead of insertion order.
    pub get_ordered_by_id: bool,
    /// Record metadata keys starting with `#` or `$`, and the empty key, are ordinary keys
    /// (0.x servers stored them, and read `$`-keys other than `$and`/`$or` in a `where` as
    /// metadata keys); 1.x refuses them. Keys starting with `chroma:` are refused either way.
    pub legacy_metadata_keys: bool,
}

impl Dialect {
    /// Chroma 1.x semantics (the default).
    pub const V1: Dialect = Dialect {
        ne_matches_missing: true,
        not_contains_matches_missing_document: true,
        contains_case_insensitive: false,
        contains_wildcards: false,
        contains_needs_trigram: false,
        get_ordered_by_id: false,
        legacy_metadata_keys: false,
    };
    /// Chroma 0.4.x semantics, as its own HTTP test suite observes them.
    pub const V04: Dialect = Dialect {
        ne_matches_missing: false,
        not_contains_matches_missing_document: false,
        contains_case_insensitive: false,
        contains_wildcards: true,
        contains_needs_trigram: false,
        get_ordered_by_id: true,
        legacy_metadata_keys: true,
    };
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect::V1
    }
}

fn is_empty_filter(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        _ => false,
    }
}

/// Parses a `where` filter with the 1.x rules. `None`, `null` and `{}` mean no filter.
pub fn parse_where(v: Option<&Value>) -> Result<Option<Where>> {
    parse_where_in(v, Dialect::V1)
}

/// Parses a `where` filter as a server of `dialect` did: with
/// [`Dialect::legacy_metadata_keys`], a `$`-key other than `$and` / `$or` is a metadata key
/// (0.x servers stored such keys and filtered on them).
pub fn parse_where_in(v: Option<&Value>, dialect: Dialect) -> Result<Option<Where>> {
    if is_empty_filter(v) {
        return Ok(None);
    }
    let mut budget = Budget::new("where");
    let legacy = dialect.legacy_metadata_keys;
    v.map(|v| parse_where_expr(v, &mut budget, 0, legacy)).transpose()
}

/// One `where` expression, inside `depth` levels of `$and` / `$or`; `legacy`: `$`-keys are
/// metadata keys.
fn parse_where_expr(v: &Value, budget: &mut Budget, depth: usize, legacy: bool) -> Result<Where> {
    let Value::Object(map) = v else {
        return Err(Error::invalid(format!("Expected where to be a dict, got {v}")));
    };
    if map.len() != 1 {
        return Err(Error::invalid(format!("Expected where to have exactly one operator, got {v}")));
    }
    let Some((key, value)) = map.iter().next() else {
        return Err(Error::invalid(format!("Expected where to have exactly one operator, got {v}")));
    };
    match key.as_str() {
        "$and" | "$or" => {
            let Value::Array(items) = value else {
                return Err(Error::invalid(format!(
                    "Expected where value for $and or $or to be a list of where expressions, got {value}"
                )));
            };
            if items.is_empty() {
                return Err(Error::invalid(format!(
                    "Expected where value for $and or $or to be a list with at least one where expression, got {value}"
                )));
            }
            budget.logical(key, depth, items.len())?;
            let parts =
                items.iter().map(|v| parse_where_expr(v, budget, depth + 1, legacy)).collect::<Result<Vec<_>>>()?;
            Ok(if key == "$and" { Where::And(parts) } else { Where::Or(parts) })
        }
        k if k.starts_with('$') && !legacy => Err(Error::invalid(format!(
            "Expected where operator to be one of $and, $or at the top level, or a metadata key, got {k}"
        ))),
        _ => {
            budget.bytes(key.len())?;
            parse_field(key, value, budget)
        }
    }
}

/// The `where` key that Chroma 1.x reads as the record's document.
pub const DOCUMENT_KEY: &str = "#document";

/// `{"#document": ...}` as Chroma 1.5.9 reads it: `$contains`, `$not_contains`, `$regex` and
/// `$not_regex` with a string are document filters; equality and set operators with a string
/// are refused with 1.5.9's error (documents have no inverted index); anything else is an
/// ordinary metadata clause on the key `#document` (which 1.5.9 answers the same way).
fn parse_document_field(value: &Value, budget: &mut Budget) -> Option<Result<Where>> {
    let refused = || {
        Error::invalid(format!(
            "Cannot filter using metadata key '{DOCUMENT_KEY}' with type 'Str' because indexing is disabled"
        ))
    };
    let (op, operand) = match value {
        Value::String(_) => return Some(Err(refused())),
        Value::Object(ops) if ops.len() == 1 => ops.iter().next()?,
        _ => return None,
    };
    match (op.as_str(), operand) {
        ("$contains" | "$not_contains" | "$regex" | "$not_regex", Value::String(s)) => {
            Some(doc_operator(op, s, budget).map(Where::Document))
        }
        ("$contains" | "$not_contains", _) => Some(Err(Error::invalid(format!(
            "Expected operand value to be a str for operator {op} on {DOCUMENT_KEY}, got {operand}"
        )))),
        ("$eq" | "$ne", Value::String(_)) => Some(Err(refused())),
        ("$in" | "$nin", Value::Array(items)) if items.first().is_some_and(Value::is_string) => Some(Err(refused())),
        _ => None,
    }
}

fn parse_field(key: &str, value: &Value, budget: &mut Budget) -> Result<Where> {
    if key == DOCUMENT_KEY {
        if let Some(parsed) = parse_document_field(value, budget) {
            return parsed;
        }
    }
    budget.clauses(1)?;
    if let Some(s) = Scalar::from_json(value) {
        budget.scalar(&s)?;
        return Ok(Where::Compare { key: key.to_string(), op: Cmp::Eq, value: s });
    }
    let Value::Object(ops) = value else {
        return Err(Error::invalid(format!(
            "Expected where value to be a str, int, float, or operator expression, got {value}"
        )));
    };
    if ops.len() != 1 {
        return Err(Error::invalid(format!("Expected operator expression to have exactly one operator, got {value}")));
    }
    let Some((op, operand)) = ops.iter().next() else {
        return Err(Error::invalid(format!("Expected operator expression to have exactly one operator, got {value}")));
    };
    let cmp = match op.as_str() {
        "$eq" => Some(Cmp::Eq),
        "$ne" => Some(Cmp::Ne),
        "$gt" => Some(Cmp::Gt),
        "$gte" => Some(Cmp::Gte),
        "$lt" => Some(Cmp::Lt),
        "$lte" => Some(Cmp::Lte),
        _ => None,
    };
    if let Some(cmp) = cmp {
        let Some(s) = Scalar::from_json(operand) else {
            return Err(Error::invalid(format!(
                "Expected where operand value to be a str, int, float, or list of those type, got {operand}"
            )));
        };
        if matches!(cmp, Cmp::Gt | Cmp::Gte | Cmp::Lt | Cmp::Lte) && !s.is_numeric() {
            return Err(Error::invalid(format!(
                "Expected operand value to be an int or a float for operator {op}, got {operand}"
            )));
        }
        budget.scalar(&s)?;
        return Ok(Where::Compare { key: key.to_string(), op: cmp, value: s });
    }
    match op.as_str() {
        "$in" | "$nin" => {
            let Value::Array(items) = operand else {
                return Err(Error::invalid(format!("Expected operand value to be an list for operator {op}, got {operand}")));
            };
            if items.len() > MAX_IN_VALUES {
                return Err(Error::invalid(format!(
                    "The {op} list of {} values exceeds the limit of {MAX_IN_VALUES} values",
                    items.len()
                )));
            }
            let values: Option<Vec<Scalar>> = items.iter().map(Scalar::from_json).collect();
            let bad = || {
                Error::invalid(format!(
                    "Expected where operand value to be a non-empty list, and all values to be of the same type got {operand}"
                ))
            };
            let values = values.ok_or_else(bad)?;
            let Some(first) = values.first() else { return Err(bad()) };
            if !values.iter().all(|v| v.same_type(first)) {
                return Err(bad());
            }
            values.iter().try_for_each(|v| budget.scalar(v))?;
            Ok(Where::In { key: key.to_string(), values, negate: op == "$nin" })
        }
        "$contains" | "$not_contains" => {
            let Some(s) = Scalar::from_json(operand) else {
                return Err(Error::invalid(format!(
                    "Expected where operand value for operator {op} to be a str, int, float or bool, got {operand}"
                )));
            };
            if let Scalar::Str(text) = &s {
                needle(op, text)?;
            }
            budget.scalar(&s)?;
            Ok(Where::Contains { key: key.to_string(), value: s, negate: op == "$not_contains" })
        }
        _ => Err(Error::invalid(format!(
            "Expected where operator to be one of $gt, $gte, $lt, $lte, $ne, $eq, $in, $nin, $contains, $not_contains, got {op}"
        ))),
    }
}

/// Parses a `where_document` filter. `None`, `null` and `{}` mean no filter.
pub fn parse_where_document(v: Option<&Value>) -> Result<Option<WhereDocument>> {
    if is_empty_filter(v) {
        return Ok(None);
    }
    let mut budget = Budget::new("where document");
    v.map(|v| parse_doc_expr(v, &mut budget, 0)).transpose()
}

/// One `where_document` expression, inside `depth` levels of `$and` / `$or`.
fn parse_doc_expr(v: &Value, budget: &mut Budget, depth: usize) -> Result<WhereDocument> {
    let Value::Object(map) = v else {
        return Err(Error::invalid(format!("Expected where document to be a dict, got {v}")));
    };
    if map.len() != 1 {
        return Err(Error::invalid(format!("Expected where document to have exactly one operator, got {v}")));
    }
    let Some((op, operand)) = map.iter().next() else {
        return Err(Error::invalid(format!("Expected where document to have exactly one operator, got {v}")));
    };
    match op.as_str() {
        "$and" | "$or" => {
            let Value::Array(items) = operand else {
                return Err(Error::invalid(format!(
                    "Expected document value for $and or $or to be a list of where document expressions, got {operand}"
                )));
            };
            if items.is_empty() {
                return Err(Error::invalid(format!(
                    "Expected document value for $and or $or to be a list with at least one where document expression, got {operand}"
                )));
            }
            budget.logical(op, depth, items.len())?;
            let parts = items.iter().map(|v| parse_doc_expr(v, budget, depth + 1)).collect::<Result<Vec<_>>>()?;
            Ok(if op == "$and" { WhereDocument::And(parts) } else { WhereDocument::Or(parts) })
        }
        "$contains" | "$not_contains" | "$regex" | "$not_regex" => {
            let Value::String(s) = operand else {
                return Err(Error::invalid(format!(
                    "Expected where document operand value for operator {op} to be a str, got {operand}"
                )));
            };
            doc_operator(op, s, budget)
        }
        _ => Err(Error::invalid(format!(
            "Expected where document operator to be one of $contains, $not_contains, $regex, $not_regex, $and, $or, got {op}"
        ))),
    }
}

/// One document operator (`$contains`, `$not_contains`, `$regex`, `$not_regex`) with its string.
fn doc_operator(op: &str, s: &str, budget: &mut Budget) -> Result<WhereDocument> {
    budget.clauses(1)?;
    needle(op, s)?;
    budget.bytes(s.len())?;
    if op.ends_with("regex") {
        budget.regex()?;
        compile_regex(s)?;
    }
    Ok(match op {
        "$contains" => WhereDocument::Contains(s.to_string()),
        "$not_contains" => WhereDocument::NotContains(s.to_string()),
        "$regex" => WhereDocument::Regex(s.to_string()),
        _ => WhereDocument::NotRegex(s.to_string()),
    })
}

impl Where {
    /// The filter as JSON, in the form the parser reads.
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match self {
            Where::And(p) => json!({"$and": p.iter().map(Where::to_json).collect::<Vec<_>>()}),
            Where::Or(p) => json!({"$or": p.iter().map(Where::to_json).collect::<Vec<_>>()}),
            Where::Compare { key, op, value } => json!({ key.clone(): { op.as_str(): value.to_json() } }),
            Where::In { key, values, negate } => {
                json!({ key.clone(): { if *negate { "$nin" } else { "$in" }: values.iter().map(Scalar::to_json).collect::<Vec<_>>() } })
            }
            Where::Contains { key, value, negate } => {
                json!({ key.clone(): { if *negate { "$not_contains" } else { "$contains" }: value.to_json() } })
            }
            Where::Document(d) => json!({ DOCUMENT_KEY: d.to_json() }),
        }
    }
}

impl WhereDocument {
    /// The filter as JSON, in the form the parser reads.
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match self {
            WhereDocument::And(p) => json!({"$and": p.iter().map(WhereDocument::to_json).collect::<Vec<_>>()}),
            WhereDocument::Or(p) => json!({"$or": p.iter().map(WhereDocument::to_json).collect::<Vec<_>>()}),
            WhereDocument::Contains(s) => json!({"$contains": s}),
            WhereDocument::NotContains(s) => json!({"$not_contains": s}),
            WhereDocument::Regex(s) => json!({"$regex": s}),
            WhereDocument::NotRegex(s) => json!({"$not_regex": s}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_filters_are_none() {
        assert_eq!(parse_where(None).unwrap(), None);
        assert_eq!(parse_where(Some(&Value::Null)).unwrap(), None);
        assert_eq!(parse_where(Some(&json!({}))).unwrap(), None);
        assert_eq!(parse_where_document(Some(&json!({}))).unwrap(), None);
    }

    #[test]
    fn document_key_is_a_document_filter() {
        let parse = |v: Value| parse_where(Some(&v));
        let w = parse(json!({"#document": {"$not_contains": "apple"}})).unwrap().unwrap();
        assert_eq!(w, Where::Document(WhereDocument::NotContains("apple".into())));
        assert_eq!(parse(w.to_json()).unwrap().unwrap(), w);
        let w = parse(json!({"$and": [{"#document": {"$regex": "^g"}}, {"k": {"$gt": 1}}]})).unwrap().unwrap();
        let Where::And(parts) = &w else { panic!("{w:?}") };
        assert_eq!(parts[0], Where::Document(WhereDocument::Regex("^g".into())));
        assert!(parse(json!({"#document": {"$regex": "("}})).is_err(), "the regex is checked");
        for refused in [
            json!({"#document": "red apple"}),
            json!({"#document": {"$eq": "red apple"}}),
            json!({"#document": {"$ne": "red apple"}}),
            json!({"#document": {"$in": ["red apple"]}}),
            json!({"#document": {"$nin": ["red apple"]}}),
        ] {
            let e = parse(refused.clone()).unwrap_err();
            assert_eq!(
                e.message, "Cannot filter using metadata key '#document' with type 'Str' because indexing is disabled",
                "{refused}"
            );
        }
        assert!(parse(json!({"#document": {"$contains": 1}})).is_err());
        // Not a string: an ordinary metadata clause, as 1.5.9 answers it (matches nothing).
        let w = parse(json!({"#document": {"$eq": 1}})).unwrap().unwrap();
        assert!(matches!(w, Where::Compare { .. }), "{w:?}");
    }

    #[test]
    fn parses_every_operator() {
        let w = parse_where(Some(&json!({"$and": [{"a": 1}, {"b": {"$gt": 2.5}}, {"c": {"$in": ["x", "y"]}},
            {"d": {"$nin": [1, 2.5]}}, {"e": {"$ne": true}}, {"f": {"$contains": "t"}}]})))
        .unwrap()
        .unwrap();
        let Where::And(parts) = &w else { panic!("{w:?}") };
        assert_eq!(parts.len(), 6);
        assert_eq!(parse_where(Some(&w.to_json())).unwrap().unwrap(), w);
        let d = parse_where_document(Some(&json!({"$or": [{"$contains": "a"}, {"$regex": "w.r"}]}))).unwrap().unwrap();
        assert_eq!(parse_where_document(Some(&d.to_json())).unwrap().unwrap(), d);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse_where(Some(&json!({"a": 1, "b": 2}))).unwrap_err();
        assert!(e.message.contains("exactly one operator"), "{e}");
        let e = parse_where(Some(&json!({"a": {"$gt": "x"}}))).unwrap_err();
        assert!(e.message.contains("int or a float for operator $gt"), "{e}");
        let e = parse_where(Some(&json!({"a": {"$in": []}}))).unwrap_err();
        assert!(e.message.contains("non-empty list"), "{e}");
        let e = parse_where(Some(&json!({"a": {"$in": [1, "x"]}}))).unwrap_err();
        assert!(e.message.contains("same type"), "{e}");
        let e = parse_where(Some(&json!({"a": {"$foo": 1}}))).unwrap_err();
        assert!(e.message.contains("$foo"), "{e}");
        assert!(parse_where(Some(&json!({"a": [1]}))).is_err());
        assert!(parse_where(Some(&json!({"$and": {"a": 1}}))).is_err());
        assert!(parse_where(Some(&json!("x"))).is_err());
        assert!(parse_where_document(Some(&json!({"$contains": 3}))).is_err());
        assert!(parse_where_document(Some(&json!({"$regex": "("}))).is_err());
        assert!(parse_where_document(Some(&json!({"$foo": "x"}))).is_err());
    }

    fn parse_text(text: &str) -> Result<Option<Where>> {
        parse_where(Some(&serde_json::from_str(text).unwrap()))
    }

    #[test]
    fn operands_beyond_i64_are_the_nearest_float() {
        let operand = |text: &str| match parse_text(&format!(r#"{{"k": {{"$eq": {text}}}}}"#)).unwrap().unwrap() {
            Where::Compare { value, .. } => value,
            w => panic!("{w:?}"),
        };
        assert_eq!(operand("9223372036854775807"), Scalar::Int(i64::MAX));
        assert_eq!(operand("9223372036854775808"), Scalar::Float(9.223_372_036_854_776e18));
        assert_eq!(operand("18446744073709551616"), Scalar::Float(1.844_674_407_370_955_2e19));
        assert_eq!(operand("100000000000000000000"), Scalar::Float(1e20));
        let Scalar::Float(z) = operand("-0") else { panic!() };
        assert!(z == 0.0 && z.is_sign_positive());
        // The same rule in every operand position, and as metadata would store the value.
        let w = parse_text(
            r#"{"$and": [{"k": 9223372036854775808}, {"k": {"$in": [1, 18446744073709551615]}},
            {"k": {"$contains": 18446744073709551616}}, {"k": {"$gt": -9223372036854775809}}]}"#,
        )
        .unwrap()
        .unwrap();
        let big = Scalar::Float(9.223_372_036_854_776e18);
        let Where::And(p) = &w else { panic!() };
        assert_eq!(p[0], Where::Compare { key: "k".into(), op: Cmp::Eq, value: big });
        assert_eq!(
            p[1],
            Where::In {
                key: "k".into(),
                values: vec![Scalar::Int(1), Scalar::Float(1.844_674_407_370_955_2e19)],
                negate: false
            }
        );
        assert_eq!(
            p[2],
            Where::Contains { key: "k".into(), value: Scalar::Float(1.844_674_407_370_955_2e19), negate: false }
        );
        assert_eq!(
            p[3],
            Where::Compare { key: "k".into(), op: Cmp::Gt, value: Scalar::Float(-9.223_372_036_854_776e18) }
        );
        let stored =
            crate::metadata::metadata_from_json(&serde_json::from_str(r#"{"k": 9223372036854775808}"#).unwrap())
                .unwrap();
        assert_eq!(stored["k"], crate::MetadataValue::Float(9.223_372_036_854_776e18));
    }

    /// `depth` levels of `op`, each `[inner, sibling]`, built without recursion.
    fn nested(depth: usize, op: &str, leaf: Value, sibling: &Value) -> Value {
        let mut w = leaf;
        for _ in 0..depth {
            // Not `json!`, which would serialize (a recursive copy of) `w` each time.
            w = Value::Object([(op.to_string(), Value::Array(vec![w, sibling.clone()]))].into_iter().collect());
        }
        w
    }

    #[test]
    fn nesting_is_bounded_before_recursing() {
        let at = |d: usize| nested(d, "$and", json!({"k": 1}), &json!({"k": 2}));
        parse_where(Some(&at(MAX_DEPTH))).unwrap().unwrap();
        let e = parse_where(Some(&at(MAX_DEPTH + 1))).unwrap_err();
        assert_eq!(e.message, "The where filter exceeds the limit of 64 levels of nested $and / $or");
        let doc = |d: usize| nested(d, "$or", json!({"$contains": "a"}), &json!({"$contains": "b"}));
        parse_where_document(Some(&doc(MAX_DEPTH))).unwrap().unwrap();
        let e = parse_where_document(Some(&doc(MAX_DEPTH + 1))).unwrap_err();
        assert_eq!(e.message, "The where document filter exceeds the limit of 64 levels of nested $and / $or");
        // Far deeper than any stack would take: refused at level 65, without recursing further.
        // (The value is leaked: dropping it would recurse 100,000 levels in serde_json.)
        let deep = Box::leak(Box::new(at(100_000)));
        assert!(parse_where(Some(deep)).unwrap_err().message.contains("limit of 64 levels"));
    }

    #[test]
    fn widths_and_clause_counts_are_bounded() {
        let or = |n: usize| json!({"$or": (0..n).map(|i| json!({"k": i})).collect::<Vec<_>>()});
        // `$or` itself is one clause.
        parse_where(Some(&or(MAX_CLAUSES - 1))).unwrap().unwrap();
        let e = parse_where(Some(&or(MAX_CLAUSES))).unwrap_err();
        assert_eq!(e.message, "The where filter exceeds the limit of 1000 clauses in one filter");
        let e = parse_where(Some(&or(MAX_CLAUSES + 1))).unwrap_err();
        assert_eq!(e.message, "$or with 1001 clauses exceeds the limit of 1000 clauses in one filter");
        // Spread over several levels, the total counts.
        let half = json!({"$and": [or(600), or(600)]});
        assert!(parse_where(Some(&half)).unwrap_err().message.contains("limit of 1000 clauses"));
        let docs = json!({"$and": (0..=MAX_CLAUSES).map(|_| json!({"$contains": "x"})).collect::<Vec<_>>()});
        assert_eq!(
            parse_where_document(Some(&docs)).unwrap_err().message,
            "$and with 1001 clauses exceeds the limit of 1000 clauses in one filter"
        );
    }

    #[test]
    fn in_lists_are_bounded() {
        let list = |n: usize| json!({"k": {"$nin": (0..n).collect::<Vec<_>>()}});
        let Where::In { values, .. } = parse_where(Some(&list(MAX_IN_VALUES))).unwrap().unwrap() else { panic!() };
        assert_eq!(values.len(), 100_000);
        let e = parse_where(Some(&list(MAX_IN_VALUES + 1))).unwrap_err();
        assert_eq!(e.message, "The $nin list of 100001 values exceeds the limit of 100000 values");
        // Many lists: the total size counts.
        let strs = |n: usize| json!({"k": {"$in": vec!["v".repeat(1000); n]}});
        let many = json!({"$or": (0..20).map(|_| strs(1000)).collect::<Vec<_>>()});
        assert_eq!(
            parse_where(Some(&many)).unwrap_err().message,
            "The where filter exceeds the limit of 16777216 bytes of keys and operands in one filter"
        );
    }

    #[test]
    fn needles_are_bounded() {
        let ok = "a".repeat(MAX_NEEDLE_BYTES);
        let long = "a".repeat(MAX_NEEDLE_BYTES + 1);
        for op in ["$contains", "$not_contains"] {
            parse_where_document(Some(&json!({ op: ok }))).unwrap().unwrap();
            assert_eq!(
                parse_where_document(Some(&json!({ op: long }))).unwrap_err().message,
                format!("The {op} operand of 65537 bytes exceeds the limit of 65536 bytes")
            );
            assert_eq!(
                parse_where(Some(&json!({"#document": { op: long }}))).unwrap_err().message,
                format!("The {op} operand of 65537 bytes exceeds the limit of 65536 bytes")
            );
            // On a metadata array too.
            assert!(parse_where(Some(&json!({"tags": { op: long }}))).unwrap_err().message.contains("limit of 65536"));
        }
        parse_where_document(Some(&json!({"$regex": ok}))).unwrap().unwrap();
        assert_eq!(
            parse_where_document(Some(&json!({"$not_regex": long}))).unwrap_err().message,
            "The $not_regex operand of 65537 bytes exceeds the limit of 65536 bytes"
        );
    }

    #[test]
    fn regexes_are_bounded() {
        // Syntax errors in Chroma 1.5.9's words.
        assert_eq!(
            parse_where_document(Some(&json!({"$regex": "("}))).unwrap_err().message,
            "Regex syntax errror: regex parse error:\n    (\n    ^\nerror: unclosed group"
        );
        // Real patterns compile; ones whose program would be huge are refused, not built.
        for ok in [
            r"\w{100}",
            r"\w{200}",
            r"\p{L}{100}",
            r"(?s).{10000}",
            r"(?i)hello\s+world",
            r"^\d{3}-\d{4}$",
            r"a{1000}",
            r".{1000}",
            r"\b\w+@\w+\.com\b",
        ] {
            compile_regex(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for huge in [r"\w{1000}", r"(\w{100}){100}", r"(a{1000}){1000}", r"((((a{100}){100}){100}){100})"] {
            let e = parse_where_document(Some(&json!({"$regex": huge}))).unwrap_err();
            assert!(
                e.message.starts_with("The regular expression exceeds the limit of 10485760 bytes once compiled: "),
                "{huge}: {e}"
            );
        }
        // At most MAX_REGEXES per filter.
        let n = |n: usize| json!({"$or": (0..n).map(|i| json!({"$regex": format!("a{i}")})).collect::<Vec<_>>()});
        parse_where_document(Some(&n(MAX_REGEXES))).unwrap().unwrap();
        assert_eq!(
            parse_where_document(Some(&n(MAX_REGEXES + 1))).unwrap_err().message,
            "The where document filter exceeds the limit of 16 regular expressions in one filter"
        );
        let w = json!({"$or": (0..=MAX_REGEXES).map(|_| json!({"#document": {"$regex": "x"}})).collect::<Vec<_>>()});
        assert!(parse_where(Some(&w)).unwrap_err().message.contains("limit of 16 regular expressions"));
    }
}
