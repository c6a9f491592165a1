//! The `where` (metadata) and `where_document` (document text) filter languages.
//!
//! Filters arrive as JSON and are parsed once into a checked AST; the storage engine turns the
//! AST into SQL. Missing, `null` and `{}` filters all mean "no filter" (the 0.4.x client sends
//! `{}`), so the parse functions return `Option`.

use crate::error::{Error, Result};
use serde_json::Value;

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
            Value::Number(n) => {
                n.as_i64().map(Scalar::Int).or_else(|| n.as_f64().filter(|f| f.is_finite()).map(Scalar::Float))
            }
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

/// Behaviour knobs where Chroma releases disagree. The engine implements both sides; the
/// server picks the one each client line's own test suite expects. Default: 1.x.
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
    /// `$contains` terms shorter than 3 characters match nothing (0.4.x trigram index quirk).
    pub contains_needs_trigram: bool,
    /// `get` without ids returns records ordered by id (0.4.x) instead of insertion order.
    pub get_ordered_by_id: bool,
}

impl Dialect {
    /// Chroma 1.x semantics (the default).
    pub const V1: Dialect = Dialect {
        ne_matches_missing: true,
        not_contains_matches_missing_document: true,
        contains_case_insensitive: false,
        contains_needs_trigram: false,
        get_ordered_by_id: false,
    };
    /// Chroma 0.4.x semantics, as its own HTTP test suite observes them.
    pub const V04: Dialect = Dialect {
        ne_matches_missing: false,
        not_contains_matches_missing_document: false,
        contains_case_insensitive: false,
        contains_needs_trigram: false,
        get_ordered_by_id: true,
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

/// Parses a `where` filter. `None`, `null` and `{}` mean no filter.
pub fn parse_where(v: Option<&Value>) -> Result<Option<Where>> {
    if is_empty_filter(v) {
        return Ok(None);
    }
    v.map(parse_where_expr).transpose()
}

fn parse_where_expr(v: &Value) -> Result<Where> {
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
            let parts = items.iter().map(parse_where_expr).collect::<Result<Vec<_>>>()?;
            Ok(if key == "$and" { Where::And(parts) } else { Where::Or(parts) })
        }
        k if k.starts_with('$') => Err(Error::invalid(format!(
            "Expected where operator to be one of $and, $or at the top level, or a metadata key, got {k}"
        ))),
        _ => parse_field(key, value),
    }
}

/// The `where` key that Chroma 1.x reads as the record's document.
pub const DOCUMENT_KEY: &str = "#document";

/// `{"#document": ...}` as Chroma 1.5.9 reads it: `$contains`, `$not_contains`, `$regex` and
/// `$not_regex` with a string are document filters; equality and set operators with a string
/// are refused with 1.5.9's error (documents have no inverted index); anything else is an
/// ordinary metadata clause on the key `#document` (which 1.5.9 answers the same way).
fn parse_document_field(value: &Value) -> Option<Result<Where>> {
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
        ("$contains" | "$not_contains" | "$regex" | "$not_regex", Value::String(_)) => {
            let single = Value::Object([(op.clone(), operand.clone())].into_iter().collect());
            Some(parse_doc_expr(&single).map(Where::Document))
        }
        ("$contains" | "$not_contains", _) => Some(Err(Error::invalid(format!(
            "Expected operand value to be a str for operator {op} on {DOCUMENT_KEY}, got {operand}"
        )))),
        ("$eq" | "$ne", Value::String(_)) => Some(Err(refused())),
        ("$in" | "$nin", Value::Array(items)) if items.first().is_some_and(Value::is_string) => Some(Err(refused())),
        _ => None,
    }
}

fn parse_field(key: &str, value: &Value) -> Result<Where> {
    if key == DOCUMENT_KEY {
        if let Some(parsed) = parse_document_field(value) {
            return parsed;
        }
    }
    if let Some(s) = Scalar::from_json(value) {
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
        return Ok(Where::Compare { key: key.to_string(), op: cmp, value: s });
    }
    match op.as_str() {
        "$in" | "$nin" => {
            let Value::Array(items) = operand else {
                return Err(Error::invalid(format!("Expected operand value to be an list for operator {op}, got {operand}")));
            };
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
            Ok(Where::In { key: key.to_string(), values, negate: op == "$nin" })
        }
        "$contains" | "$not_contains" => {
            let Some(s) = Scalar::from_json(operand) else {
                return Err(Error::invalid(format!(
                    "Expected where operand value for operator {op} to be a str, int, float or bool, got {operand}"
                )));
            };
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
    v.map(parse_doc_expr).transpose()
}

fn parse_doc_expr(v: &Value) -> Result<WhereDocument> {
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
            let parts = items.iter().map(parse_doc_expr).collect::<Result<Vec<_>>>()?;
            Ok(if op == "$and" { WhereDocument::And(parts) } else { WhereDocument::Or(parts) })
        }
        "$contains" | "$not_contains" | "$regex" | "$not_regex" => {
            let Value::String(s) = operand else {
                return Err(Error::invalid(format!(
                    "Expected where document operand value for operator {op} to be a str, got {operand}"
                )));
            };
            if op.ends_with("regex") {
                regex::Regex::new(s)
                    .map_err(|e| Error::invalid(format!("Invalid regular expression in where document {op}: {e}")))?;
            }
            Ok(match op.as_str() {
                "$contains" => WhereDocument::Contains(s.clone()),
                "$not_contains" => WhereDocument::NotContains(s.clone()),
                "$regex" => WhereDocument::Regex(s.clone()),
                _ => WhereDocument::NotRegex(s.clone()),
            })
        }
        _ => Err(Error::invalid(format!(
            "Expected where document operator to be one of $contains, $not_contains, $regex, $not_regex, $and, $or, got {op}"
        ))),
    }
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
}
