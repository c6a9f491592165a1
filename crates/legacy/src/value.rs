//! Raw metadata values exactly as legacy Chroma stored them, and a parser for the JSON dialect
//! that Python's `json.dumps` writes (bare `NaN`/`Infinity`/`-Infinity`, integers of any size,
//! `\uXXXX` escapes including lone surrogates).

use std::collections::BTreeMap;
use std::fmt;

/// One metadata value as found on disk. Unlike `serde_json::Value` it can hold NaN/±Inf,
/// integers beyond 64 bits and strings that contained lone UTF-16 surrogates.
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyValue {
    /// JSON `null` (or a missing value).
    Null,
    /// A bool.
    Bool(bool),
    /// An int that fits in i64.
    Int(i64),
    /// An integer that does not fit in i64, as its decimal text (e.g. `"-1208925819614629174706176"`).
    BigInt(String),
    /// Any float, including NaN and ±Inf.
    Float(f64),
    /// A string.
    Str(String),
    /// A string that held lone surrogates (not valid Unicode): lossy text with U+FFFD, plus the
    /// raw UTF-16 code units.
    BrokenStr {
        /// The text with U+FFFD for each lone surrogate.
        lossy: String,
        /// The raw UTF-16 code units.
        utf16: Vec<u16>,
    },
    /// A list.
    List(Vec<LegacyValue>),
    /// A dict.
    Map(LegacyMetadata),
}

/// A metadata map (keys sorted; Python dicts keep insertion order, Chroma never relies on it).
pub type LegacyMetadata = BTreeMap<String, LegacyValue>;

impl LegacyValue {
    /// The value as `serde_json::Value` when it is representable there (no NaN/Inf, no big ints,
    /// no broken strings); `None` otherwise.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            LegacyValue::Null => J::Null,
            LegacyValue::Bool(b) => J::Bool(*b),
            LegacyValue::Int(i) => J::from(*i),
            LegacyValue::Float(f) => J::Number(serde_json::Number::from_f64(*f)?),
            LegacyValue::Str(s) => J::String(s.clone()),
            LegacyValue::BigInt(_) | LegacyValue::BrokenStr { .. } => return None,
            LegacyValue::List(l) => J::Array(l.iter().map(LegacyValue::to_json).collect::<Option<_>>()?),
            LegacyValue::Map(m) => J::Object(
                m.iter().map(|(k, v)| Some((k.clone(), v.to_json()?))).collect::<Option<serde_json::Map<_, _>>>()?,
            ),
        })
    }

    /// Converts from `serde_json::Value` (ints that fit i64 become `Int`, u64 beyond i64 `BigInt`).
    pub fn from_json(v: &serde_json::Value) -> LegacyValue {
        use serde_json::Value as J;
        match v {
            J::Null => LegacyValue::Null,
            J::Bool(b) => LegacyValue::Bool(*b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    LegacyValue::Int(i)
                } else if let Some(u) = n.as_u64() {
                    LegacyValue::BigInt(u.to_string())
                } else {
                    LegacyValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => LegacyValue::Str(s.clone()),
            J::Array(a) => LegacyValue::List(a.iter().map(LegacyValue::from_json).collect()),
            J::Object(o) => LegacyValue::Map(o.iter().map(|(k, v)| (k.clone(), LegacyValue::from_json(v))).collect()),
        }
    }

    /// Short type name used in quirk reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            LegacyValue::Null => "null",
            LegacyValue::Bool(_) => "bool",
            LegacyValue::Int(_) => "int",
            LegacyValue::BigInt(_) => "int beyond 64 bits",
            LegacyValue::Float(f) if f.is_nan() => "NaN",
            LegacyValue::Float(f) if f.is_infinite() => "infinity",
            LegacyValue::Float(_) => "float",
            LegacyValue::Str(_) => "str",
            LegacyValue::BrokenStr { .. } => "str with lone surrogates",
            LegacyValue::List(_) => "list",
            LegacyValue::Map(_) => "dict",
        }
    }
}

impl fmt::Display for LegacyValue {
    /// Python-json-like rendering (used in reports).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyValue::Null => write!(f, "null"),
            LegacyValue::Bool(b) => write!(f, "{b}"),
            LegacyValue::Int(i) => write!(f, "{i}"),
            LegacyValue::BigInt(s) => write!(f, "{s}"),
            LegacyValue::Float(x) if x.is_nan() => write!(f, "NaN"),
            LegacyValue::Float(x) if x.is_infinite() => {
                write!(f, "{}", if *x > 0.0 { "Infinity" } else { "-Infinity" })
            }
            LegacyValue::Float(x) => write!(f, "{x:?}"),
            LegacyValue::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            LegacyValue::BrokenStr { lossy, .. } => {
                write!(f, "{}", serde_json::Value::String(lossy.clone()))
            }
            LegacyValue::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            LegacyValue::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}: {v}", serde_json::Value::String(k.clone()))?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// Error from [`parse_python_json`]: byte offset and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    /// Byte offset of the error.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::error::Error for JsonError {}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

/// Parses one JSON document as written by Python's `json.dumps` (superset of strict JSON:
/// `NaN`, `Infinity`, `-Infinity`, unbounded ints, lone surrogate escapes). Duplicate keys:
/// the last one wins, as with Python's `json.loads`.
pub fn parse_python_json(text: &str) -> Result<LegacyValue, JsonError> {
    let mut p = Parser { s: text.as_bytes(), i: 0, depth: 0 };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 512;

impl Parser<'_> {
    fn err(&self, reason: &str) -> JsonError {
        JsonError { offset: self.i, reason: reason.to_string() }
    }
    fn ws(&mut self) {
        while let Some(c) = self.s.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<LegacyValue, JsonError> {
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end of JSON")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b't') if self.eat("true") => Ok(LegacyValue::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(LegacyValue::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(LegacyValue::Null),
            Some(b'N') if self.eat("NaN") => Ok(LegacyValue::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(LegacyValue::Float(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(LegacyValue::Float(f64::NEG_INFINITY)),
            Some(c) if *c == b'-' || c.is_ascii_digit() => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }
    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("JSON nested too deeply"));
        }
        Ok(())
    }
    fn object(&mut self) -> Result<LegacyValue, JsonError> {
        self.enter()?;
        self.i += 1;
        let mut m = LegacyMetadata::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(LegacyValue::Map(m));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = match self.string()? {
                LegacyValue::Str(s) => s,
                LegacyValue::BrokenStr { lossy, .. } => lossy,
                _ => return Err(self.err("bad key")),
            };
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            m.insert(key, v);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(LegacyValue::Map(m));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
    fn array(&mut self) -> Result<LegacyValue, JsonError> {
        self.enter()?;
        self.i += 1;
        let mut l = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(LegacyValue::List(l));
        }
        loop {
            self.ws();
            l.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(LegacyValue::List(l));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
    fn hex4(&mut self) -> Result<u16, JsonError> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| self.err("short \\u escape"))?;
        let t = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u16::from_str_radix(t, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }
    /// The rest of a `\\uXXXX` escape: a character, or `None` when it was a lone surrogate
    /// (then pushed to `units`, which start as `out` in UTF-16).
    fn unicode_escape(&mut self, out: &str, units: &mut Option<Vec<u16>>) -> Result<Option<char>, JsonError> {
        let a = self.hex4()?;
        if (0xD800..0xDC00).contains(&a) && self.s.get(self.i) == Some(&b'\\') && self.s.get(self.i + 1) == Some(&b'u')
        {
            let save = self.i;
            self.i += 2;
            let b = self.hex4()?;
            if (0xDC00..0xE000).contains(&b) {
                let cp = 0x10000 + ((u32::from(a) - 0xD800) << 10) + (u32::from(b) - 0xDC00);
                return Ok(char::from_u32(cp));
            }
            self.i = save;
            units.get_or_insert_with(|| out.encode_utf16().collect()).push(a);
            Ok(None)
        } else if (0xD800..0xE000).contains(&a) {
            units.get_or_insert_with(|| out.encode_utf16().collect()).push(a);
            Ok(None)
        } else {
            Ok(char::from_u32(u32::from(a)))
        }
    }
    fn string(&mut self) -> Result<LegacyValue, JsonError> {
        self.i += 1;
        // Collect as UTF-16 only if a lone surrogate shows up; normally as a String.
        let mut out = String::new();
        let mut units: Option<Vec<u16>> = None;
        let start_run = |p: &Parser, from: usize, to: usize| -> Result<String, JsonError> {
            std::str::from_utf8(&p.s[from..to])
                .map(std::string::ToString::to_string)
                .map_err(|_| p.err("invalid UTF-8 in string"))
        };
        let mut run = self.i;
        loop {
            let c = *self.s.get(self.i).ok_or_else(|| self.err("unterminated string"))?;
            match c {
                b'"' => {
                    let tail = start_run(self, run, self.i)?;
                    self.i += 1;
                    return Ok(match units {
                        None => {
                            out.push_str(&tail);
                            LegacyValue::Str(out)
                        }
                        Some(mut u) => {
                            u.extend(tail.encode_utf16());
                            LegacyValue::BrokenStr { lossy: String::from_utf16_lossy(&u), utf16: u }
                        }
                    });
                }
                b'\\' => {
                    let chunk = start_run(self, run, self.i)?;
                    match units.as_mut() {
                        None => out.push_str(&chunk),
                        Some(u) => u.extend(chunk.encode_utf16()),
                    }
                    self.i += 1;
                    let e = *self.s.get(self.i).ok_or_else(|| self.err("unterminated escape"))?;
                    self.i += 1;
                    let ch: Option<char> = match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => self.unicode_escape(&out, &mut units)?,
                        _ => return Err(self.err("unknown escape")),
                    };
                    if let Some(ch) = ch {
                        match units.as_mut() {
                            None => out.push(ch),
                            Some(u) => {
                                let mut buf = [0u16; 2];
                                u.extend_from_slice(ch.encode_utf16(&mut buf));
                            }
                        }
                    }
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }
    fn number(&mut self) -> Result<LegacyValue, JsonError> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits_start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        if self.i == digits_start {
            return Err(self.err("expected digits"));
        }
        let mut is_float = false;
        if self.s.get(self.i) == Some(&b'.') {
            is_float = true;
            self.i += 1;
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            is_float = true;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad number"))?;
        if is_float {
            text.parse::<f64>().map(LegacyValue::Float).map_err(|_| self.err("bad float"))
        } else {
            Ok(match text.parse::<i64>() {
                Ok(i) => LegacyValue::Int(i),
                Err(_) => LegacyValue::BigInt(text.to_string()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_dialect() {
        let v = parse_python_json(
            r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1180591620717411303424, "e": -5, "f": 1e-300, "g": "\ud83c\udf89\u00e9", "h": "\ud800x", "i": [true, null, {}]}"#,
        )
        .unwrap();
        let LegacyValue::Map(m) = v else { panic!() };
        assert!(matches!(m["a"], LegacyValue::Float(f) if f.is_nan()));
        assert_eq!(m["b"], LegacyValue::Float(f64::INFINITY));
        assert_eq!(m["c"], LegacyValue::Float(f64::NEG_INFINITY));
        assert_eq!(m["d"], LegacyValue::BigInt("1180591620717411303424".into()));
        assert_eq!(m["e"], LegacyValue::Int(-5));
        assert_eq!(m["g"], LegacyValue::Str("🎉é".into()));
        assert!(matches!(&m["h"], LegacyValue::BrokenStr { utf16, .. } if utf16 == &vec![0xD800, u16::from(b'x')]));
        assert!(parse_python_json("{\"a\": 1,").is_err());
        assert!(parse_python_json("[1] x").is_err());
        assert_eq!(parse_python_json("null").unwrap(), LegacyValue::Null);
    }
}
