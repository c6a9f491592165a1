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
}

impl Builder {
    fn p(&mut self, v: Value) -> String {
        self.params.push(v);
        "?".to_string()
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

    fn in_cond(&mut self, values: &[Scalar], negate: bool) -> String {
        let not = if negate { "NOT " } else { "" };
        let Some(first) = values.first() else { return "0".into() };
        match first {
            Scalar::Str(_) => {
                let ps: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Scalar::Str(s) => self.p(Value::Text(s.clone())),
                        _ => self.p(Value::Null),
                    })
                    .collect();
                format!("m.str_value {not}IN ({})", ps.join(","))
            }
            Scalar::Bool(_) => {
                let ps: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Scalar::Bool(b) => self.p(Value::Integer(i64::from(*b))),
                        _ => self.p(Value::Null),
                    })
                    .collect();
                format!("m.bool_value {not}IN ({})", ps.join(","))
            }
            Scalar::Int(_) | Scalar::Float(_) => {
                let nums: Vec<f64> = values
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Int(i) => Some(*i as f64),
                        Scalar::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect();
                let ints: Vec<String> = values
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Int(i) => Some(*i),
                        Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|i| self.p(Value::Integer(i)))
                    .collect();
                let floats: Vec<String> = nums.into_iter().map(|f| self.p(Value::Real(f))).collect();
                let int_list = if ints.is_empty() { "NULL".to_string() } else { ints.join(",") };
                if negate {
                    // With no integral operand every int value is "not in" the list
                    // (`NOT IN (NULL)` would be NULL and drop the ints).
                    let int_part = if ints.is_empty() {
                        "m.int_value IS NOT NULL".to_string()
                    } else {
                        format!("(m.int_value IS NOT NULL AND m.int_value NOT IN ({int_list}))")
                    };
                    format!(
                        "({int_part} OR (m.float_value IS NOT NULL AND m.float_value NOT IN ({})))",
                        floats.join(",")
                    )
                } else {
                    format!("(m.int_value IN ({int_list}) OR m.float_value IN ({}))", floats.join(","))
                }
            }
        }
    }

    /// `cond` builds the per-row condition after the key parameter is placed (parameters are
    /// positional, so they must be pushed in text order).
    fn key_rows(&mut self, key: &str, in_array: bool, cond: impl FnOnce(&mut Self) -> String) -> String {
        let c = self.p(Value::Integer(self.cid));
        let k = self.p(Value::Text(key.to_string()));
        let cond = cond(self);
        format!(
            "r.rid IN (SELECT m.rid FROM metadata_index m WHERE m.cid = {c} AND m.key = {k} AND m.in_array = {} AND {cond})",
            i32::from(in_array)
        )
    }

    fn where_expr(&mut self, w: &Where) -> String {
        match w {
            Where::And(parts) => {
                let s: Vec<String> = parts.iter().map(|p| self.where_expr(p)).collect();
                format!("({})", s.join(" AND "))
            }
            Where::Or(parts) => {
                let s: Vec<String> = parts.iter().map(|p| self.where_expr(p)).collect();
                format!("({})", s.join(" OR "))
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

    fn contains(&mut self, needle: &str) -> String {
        if self.dialect.contains_needs_trigram && needle.chars().count() < 3 {
            return "0".into();
        }
        if self.dialect.contains_case_insensitive {
            let p = self.p(Value::Text(needle.to_string()));
            return format!("(r.document IS NOT NULL AND instr(lower(r.document), lower({p})) > 0)");
        }
        if needle.chars().count() >= 3 {
            // Trigram FTS narrows the candidates; instr() makes the match exact.
            let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
            let q = self.p(Value::Text(phrase));
            let p = self.p(Value::Text(needle.to_string()));
            format!("(r.rid IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH {q}) AND instr(r.document, {p}) > 0)")
        } else {
            let p = self.p(Value::Text(needle.to_string()));
            format!("(r.document IS NOT NULL AND instr(r.document, {p}) > 0)")
        }
    }

    fn doc_expr(&mut self, d: &WhereDocument) -> String {
        let missing_ok = self.dialect.not_contains_matches_missing_document;
        match d {
            WhereDocument::And(parts) => {
                let s: Vec<String> = parts.iter().map(|p| self.doc_expr(p)).collect();
                format!("({})", s.join(" AND "))
            }
            WhereDocument::Or(parts) => {
                let s: Vec<String> = parts.iter().map(|p| self.doc_expr(p)).collect();
                format!("({})", s.join(" OR "))
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

/// SQL for "record `r` of collection `cid` matches both filters" (`1` when there are none).
pub fn compile(cid: i64, w: Option<&Where>, d: Option<&WhereDocument>, dialect: Dialect) -> SqlExpr {
    let mut b = Builder { params: Vec::new(), dialect, cid };
    let mut parts = Vec::new();
    if let Some(w) = w {
        parts.push(b.where_expr(w));
    }
    if let Some(d) = d {
        parts.push(b.doc_expr(d));
    }
    let sql = if parts.is_empty() { "1".to_string() } else { parts.join(" AND ") };
    SqlExpr { sql, params: b.params }
}
