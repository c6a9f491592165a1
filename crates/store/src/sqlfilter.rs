//! Turns parsed `where` / `where_document` filters into SQL over the `records` table (alias
//! `r`), so filtering runs on `SQLite`'s indexes: typed metadata rows in `metadata_index` (one
//! partial index per value type) and a trigram FTS5 table for `$contains`.

use chroma_types::filter::{Cmp, Scalar};
use chroma_types::{Dialect, Where, WhereDocument};
use rusqlite::types::Value;

/// A SQL boolean expression over `r` with its positional parameters.
pub struct SqlExpr {
    /// The expression, with `?` placeholders.
    pub sql: String,
    /// The placeholders' values, in text order.
    pub params: Vec<Value>,
}

struct Builder {
    params: Vec<Value>,
    dialect: Dialect,
    /// The collection: a constant in the metadata subqueries, so `SQLite` evaluates each of
    /// them once through the (cid, key, value) indexes instead of once per record.
    cid: i64,
    /// Whether the membership tests built now may drive the scan of `records`. In an `AND` only
    /// the first part may: given `rid IN (A) AND rid IN (B)`, `SQLite` (3.50) looks up every
    /// pair of the two lists, |A| x |B| probes (minutes for two 30% ranges of 100k records);
    /// with `+rid IN (B)` (the unary `+` keeps a term from driving an index) it reads A's
    /// records and tests each against B, linear in |A|.
    drive: bool,
}

impl Builder {
    fn p(&mut self, v: Value) -> String {
        self.params.push(v);
        "?".to_string()
    }

    /// `r.rid`, or `+r.rid` where a membership test must not drive the scan (see `drive`).
    fn rid(&self) -> &'static str {
        if self.drive {
            "r.rid"
        } else {
            "+r.rid"
        }
    }

    /// The parts of an `AND`, only the first allowed to drive the scan.
    fn conjunction(&mut self, count: usize, mut part: impl FnMut(&mut Self, usize) -> String) -> Vec<String> {
        let drive = self.drive;
        let parts = (0..count)
            .map(|i| {
                self.drive = drive && i == 0;
                part(self, i)
            })
            .collect();
        self.drive = drive;
        parts
    }

    /// Condition on one metadata row `m` comparing it to a scalar.
    fn value_cond(&mut self, op: Cmp, value: &Scalar) -> String {
        let o = match op {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        };
        match value {
            Scalar::Str(s) => format!("m.str_value {o} {}", self.p(Value::Text(s.clone()))),
            Scalar::Bool(b) => format!("m.bool_value {o} {}", self.p(Value::Integer(i64::from(*b)))),
            Scalar::Int(i) => {
                let a = self.p(Value::Integer(*i));
                let b = self.p(Value::Real(*i as f64));
                format!("(m.int_value {o} {a} OR m.float_value {o} {b})")
            }
            Scalar::Float(f) => {
                let a = self.p(Value::Real(*f));
                let b = self.p(Value::Real(*f));
                format!("(m.int_value {o} {a} OR m.float_value {o} {b})")
            }
        }
    }

    /// `$in` / `$nin` over one metadata row. The operands travel as one JSON array parameter read
    /// with `json_each`, so a list of any length is one SQL variable (`SQLite` allows 32,766).
    fn in_cond(&mut self, values: &[Scalar], negate: bool) -> String {
        let not = if negate { "NOT " } else { "" };
        let Some(first) = values.first() else { return "0".into() };
        match first {
            Scalar::Str(_) => {
                let list = json_list(values.iter().filter_map(|v| match v {
                    Scalar::Str(s) => Some(serde_json::Value::from(s.as_str())),
                    _ => None,
                }));
                format!("m.str_value {not}IN (SELECT value FROM json_each({}))", self.p(list))
            }
            Scalar::Bool(_) => {
                let list = json_list(values.iter().filter_map(|v| match v {
                    Scalar::Bool(b) => Some(serde_json::Value::from(i64::from(*b))),
                    _ => None,
                }));
                format!("m.bool_value {not}IN (SELECT value FROM json_each({}))", self.p(list))
            }
            Scalar::Int(_) | Scalar::Float(_) => self.numeric_in_cond(values, negate),
        }
    }

    /// Numbers match an int or a float row of equal value: integral operands are compared with
    /// `int_value` exactly, every operand with `float_value` as a float.
    fn numeric_in_cond(&mut self, values: &[Scalar], negate: bool) -> String {
        let ints = json_list(values.iter().filter_map(|v| match v {
            Scalar::Int(i) => Some(serde_json::Value::from(*i)),
            Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(serde_json::Value::from(*f as i64)),
            _ => None,
        }));
        let floats = json_list(values.iter().filter_map(|v| match v {
            Scalar::Int(i) => serde_json::Number::from_f64(*i as f64).map(serde_json::Value::Number),
            Scalar::Float(f) => serde_json::Number::from_f64(*f).map(serde_json::Value::Number),
            _ => None,
        }));
        // `json_each` yields JSON integers as SQL integers and JSON reals as SQL reals, so
        // `float_value` is compared with `CAST(value AS REAL)`.
        let ints = self.p(ints);
        let floats = self.p(floats);
        let int_set = format!("(SELECT value FROM json_each({ints}))");
        let float_set = format!("(SELECT CAST(value AS REAL) FROM json_each({floats}))");
        if negate {
            format!(
                "((m.int_value IS NOT NULL AND m.int_value NOT IN {int_set}) OR (m.float_value IS NOT NULL AND m.float_value NOT IN {float_set}))"
            )
        } else {
            format!("(m.int_value IN {int_set} OR m.float_value IN {float_set})")
        }
    }

    /// `cond` builds the per-row condition after the key parameter is placed (parameters are
    /// positional, so they must be pushed in text order).
    fn key_rows(&mut self, key: &str, in_array: bool, cond: impl FnOnce(&mut Self) -> String) -> String {
        let c = self.p(Value::Integer(self.cid));
        let k = self.p(Value::Text(key.to_string()));
        let cond = cond(self);
        format!(
            "{} IN (SELECT m.rid FROM metadata_index m WHERE m.cid = {c} AND m.key = {k} AND m.in_array = {} AND {cond})",
            self.rid(),
            i32::from(in_array)
        )
    }

    fn where_expr(&mut self, w: &Where) -> String {
        match w {
            Where::And(parts) => {
                let s = self.conjunction(parts.len(), |b, i| b.where_expr(&parts[i]));
                balanced(&s, "AND")
            }
            Where::Or(parts) => {
                let s: Vec<String> = parts.iter().map(|p| self.where_expr(p)).collect();
                balanced(&s, "OR")
            }
            Where::Compare { key, op: Cmp::Ne, value } => {
                if self.dialect.ne_matches_missing {
                    format!("NOT {}", self.key_rows(key, false, |b| b.value_cond(Cmp::Eq, value)))
                } else {
                    self.key_rows(key, false, |b| b.value_cond(Cmp::Ne, value))
                }
            }
            Where::Compare { key, op, value } => self.key_rows(key, false, |b| b.value_cond(*op, value)),
            Where::In { key, values, negate } => {
                if *negate && self.dialect.ne_matches_missing {
                    format!("NOT {}", self.key_rows(key, false, |b| b.in_cond(values, false)))
                } else {
                    self.key_rows(key, false, |b| b.in_cond(values, *negate))
                }
            }
            Where::Document(d) => self.doc_expr(d),
            Where::Contains { key, value, negate } => {
                let rows = self.key_rows(key, true, |b| b.value_cond(Cmp::Eq, value));
                if *negate {
                    format!("NOT {rows}")
                } else {
                    rows
                }
            }
        }
    }

    /// `$contains`: candidates from the trigram index when the needle has trigrams, then an exact
    /// substring test. Both steps cost at most linear time in the documents they read, whatever
    /// the needle: the index query is an `AND` of at most [`MAX_TRIGRAMS`] distinct trigrams (a
    /// phrase query of every trigram of a long, repetitive needle is quadratic in FTS5), and
    /// `chroma_contains` is a two-way substring search (`SQLite`'s `instr` is quadratic in the
    /// worst case).
    fn contains(&mut self, needle: &str) -> String {
        if self.dialect.contains_needs_trigram && needle.chars().count() < 3 {
            return "0".into();
        }
        if self.dialect.contains_wildcards && needle.contains(['_', '%']) {
            // Each `_` / `%` is any one character, the rest literal: a regular expression, run
            // by `chroma_regexp` on each document (no trigram candidates: a wildcard term may
            // have none).
            let pattern: String = needle
                .chars()
                .map(|c| if c == '_' || c == '%' { ".".to_string() } else { regex::escape(&c.to_string()) })
                .collect();
            let p = self.p(Value::Text(pattern));
            return format!("(r.document IS NOT NULL AND chroma_regexp({p}, r.document))");
        }
        let fold = self.dialect.contains_case_insensitive;
        // Parameters are positional: the index query's goes first, as in the text.
        let candidates = if fold { None } else { trigram_query(needle) }.map(|query| {
            format!(
                "{} IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH {}) AND ",
                self.rid(),
                self.p(Value::Text(query))
            )
        });
        let p = self.p(Value::Text(needle.to_string()));
        format!(
            "({}r.document IS NOT NULL AND chroma_contains(r.document, {p}, {}))",
            candidates.unwrap_or_default(),
            i32::from(fold)
        )
    }

    fn doc_expr(&mut self, d: &WhereDocument) -> String {
        let missing_ok = self.dialect.not_contains_matches_missing_document;
        match d {
            WhereDocument::And(parts) => {
                let s = self.conjunction(parts.len(), |b, i| b.doc_expr(&parts[i]));
                balanced(&s, "AND")
            }
            WhereDocument::Or(parts) => {
                let s: Vec<String> = parts.iter().map(|p| self.doc_expr(p)).collect();
                balanced(&s, "OR")
            }
            WhereDocument::Contains(s) => self.contains(s),
            WhereDocument::NotContains(s) => {
                let c = self.contains(s);
                if missing_ok {
                    format!("NOT {c}")
                } else {
                    format!("(r.document IS NOT NULL AND NOT {c})")
                }
            }
            WhereDocument::Regex(s) => {
                let p = self.p(Value::Text(s.clone()));
                format!("(r.document IS NOT NULL AND chroma_regexp({p}, r.document))")
            }
            WhereDocument::NotRegex(s) => {
                let p = self.p(Value::Text(s.clone()));
                if missing_ok {
                    format!("(r.document IS NULL OR NOT chroma_regexp({p}, r.document))")
                } else {
                    format!("(r.document IS NOT NULL AND NOT chroma_regexp({p}, r.document))")
                }
            }
        }
    }
}

/// Most distinct trigrams a `$contains` index query asks for: enough to narrow the candidates
/// as well as the whole needle would in practice, few enough to keep the query cheap.
const MAX_TRIGRAMS: usize = 16;

/// The FTS5 query for the candidates of `$contains needle`: an `AND` of distinct trigrams of the
/// needle (the first, the last and some spread between), each a quoted string. `None` when the
/// needle has no usable trigram (shorter than 3 characters, or a NUL in every trigram: FTS5
/// query strings end at a NUL).
fn trigram_query(needle: &str) -> Option<String> {
    let chars: Vec<char> = needle.chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    let mut distinct: Vec<&[char]> = Vec::new();
    for w in chars.windows(3) {
        if !w.contains(&'\0') && seen.insert(w) {
            distinct.push(w);
        }
    }
    if distinct.is_empty() {
        return None;
    }
    let picked: Vec<&[char]> = if distinct.len() <= MAX_TRIGRAMS {
        distinct
    } else {
        // Evenly spread, always including the first and the last.
        let last = distinct.len() - 1;
        (0..MAX_TRIGRAMS).map(|i| distinct[i * last / (MAX_TRIGRAMS - 1)]).collect()
    };
    let terms: Vec<String> =
        picked.iter().map(|t| format!("\"{}\"", t.iter().collect::<String>().replace('"', "\"\""))).collect();
    Some(terms.join(" AND "))
}

/// `parts` joined by `op` as a balanced tree of parenthesised groups, so that a long `$and` /
/// `$or` stays far below `SQLite`'s expression depth limit (1,000) instead of one level per item.
fn balanced(parts: &[String], op: &str) -> String {
    const FAN_OUT: usize = 8;
    if parts.len() <= FAN_OUT {
        return format!("({})", parts.join(&format!(" {op} ")));
    }
    let chunk = parts.len().div_ceil(FAN_OUT);
    let groups: Vec<String> = parts.chunks(chunk).map(|c| balanced(c, op)).collect();
    format!("({})", groups.join(&format!(" {op} ")))
}

/// A JSON array parameter (for `json_each`).
fn json_list(values: impl Iterator<Item = serde_json::Value>) -> Value {
    Value::Text(serde_json::Value::Array(values.collect()).to_string())
}

/// SQL for "record `r` of collection `cid` matches both filters" (`1` when there are none).
pub fn compile(cid: i64, w: Option<&Where>, d: Option<&WhereDocument>, dialect: Dialect) -> SqlExpr {
    let mut b = Builder { params: Vec::new(), dialect, cid, drive: true };
    let mut parts = Vec::new();
    if let Some(w) = w {
        parts.push(b.where_expr(w));
    }
    if let Some(d) = d {
        // The second part of an `AND` (see `Builder::drive`).
        b.drive = parts.is_empty();
        parts.push(b.doc_expr(d));
    }
    let sql = if parts.is_empty() { "1".to_string() } else { parts.join(" AND ") };
    SqlExpr { sql, params: b.params }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(key: &str, op: Cmp, v: i64) -> Where {
        Where::Compare { key: key.into(), op, value: Scalar::Int(v) }
    }

    /// The records a filter's plan reads, by `EXPLAIN QUERY PLAN` on the real schema: an `AND`
    /// of two ranges must drive from one list and test the other (`rid=?` once), never look up
    /// the pairs of both lists (`rid=? AND rowid=?`).
    #[test]
    fn and_drives_from_one_list_only() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("in-memory db");
        crate::schema::migrate(&mut conn, crate::schema::current_version()).expect("schema");
        let w = Where::And(vec![range("i", Cmp::Gte, 20), range("i", Cmp::Lt, 50), range("j", Cmp::Gt, 1)]);
        let f = compile(1, Some(&w), None, Dialect::default());
        assert_eq!(f.sql.matches("+r.rid IN").count(), 2, "{}", f.sql);
        // The statement of a `get` (engine/read.rs).
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT r.id, r.slot, r.document, r.uri, r.metadata FROM records r \
             WHERE r.cid = ? AND {} ORDER BY r.rid",
            f.sql
        );
        let mut params = vec![Value::Integer(1)];
        params.extend(f.params);
        let mut stmt = conn.prepare(&sql).expect("prepare");
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("plan rows");
        let scan = &plan[0];
        assert!(scan.contains("records"), "{plan:?}");
        assert!(!scan.contains("rowid=?"), "two lists drive the scan: {plan:?}");
    }
}
