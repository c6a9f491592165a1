//! Chroma 0.3.x `ClickHouse` backend, read over `ClickHouse`'s HTTP interface (default port 8123)
//! with `FORMAT JSONEachRow`; each collection's rows are streamed line by line from one
//! response. Tables (database `default`): `collections(uuid, name, metadata)` and
//! `embeddings(collection_uuid, uuid, embedding, document, id, metadata)`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::checks::{metadata_text_03, name_quirks_03, space_03, RecordChecks};
use crate::{
    parse_python_json, LegacyCollection, LegacyEmbedding, LegacyError, LegacyRecord, LegacySource, LegacyValue,
    RecordBatches, Result, SourceKind, DEFAULT_DATABASE, DEFAULT_TENANT,
};

/// Where the `ClickHouse` server is. 0.3.x connected without user/password to database `default`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseConfig {
    /// Host name or address.
    pub host: String,
    /// HTTP port (8123 by default).
    pub port: u16,
    /// User (none: the server's `default` user).
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database holding the `collections` and `embeddings` tables (`default`).
    pub database: String,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl ClickHouseConfig {
    /// `host:port`, no credentials, database `default`, 10 minutes timeout.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ClickHouseConfig {
            host: host.into(),
            port,
            user: None,
            password: None,
            database: "default".into(),
            timeout: Duration::from_secs(600),
        }
    }
    /// Sets (or clears) user and password.
    #[must_use]
    pub fn with_credentials(mut self, user: Option<String>, password: Option<String>) -> Self {
        self.user = user;
        self.password = password;
        self
    }
    fn base_url(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("http://{host}:{}/", self.port)
    }
}

/// RFC 3986 unreserved characters (`A-Za-z0-9-_.~`) stay as they are; every other byte of a
/// URL query value is `%XX`-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn pct(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Reader of a 0.3.x `ClickHouse` database.
pub struct ClickHouse03Source {
    cfg: ClickHouseConfig,
    agent: ureq::Agent,
    warnings: Vec<String>,
}

/// Connects (runs `SELECT 1` and checks both tables exist).
pub fn open_clickhouse03(cfg: ClickHouseConfig) -> Result<ClickHouse03Source> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(cfg.timeout)).http_status_as_error(false).build().into();
    let mut src = ClickHouse03Source { cfg, agent, warnings: Vec::new() };
    let one = src.query_text("SELECT 1")?;
    if one.trim() != "1" {
        return Err(LegacyError::Http {
            context: format!("{} SELECT 1", src.cfg.base_url()),
            message: format!("unexpected answer {one:?} - is this a ClickHouse HTTP port?"),
        });
    }
    let tables = src.query_text(&format!(
        "SELECT name FROM system.tables WHERE database = '{}' FORMAT TabSeparated",
        src.cfg.database.replace('\\', "\\\\").replace('\'', "\\'")
    ))?;
    let names: HashSet<&str> = tables.lines().collect();
    for t in ["collections", "embeddings"] {
        if !names.contains(t) {
            return Err(LegacyError::Unreadable(format!(
                "ClickHouse {} database {:?}: no table {t} - not a chroma 0.3.x store",
                src.cfg.base_url(),
                src.cfg.database
            )));
        }
    }
    // unfinished ALTER ... UPDATE/DELETE mutations mean reads can still see old rows
    if let Ok(m) = src.query_text(&format!(
        "SELECT count() FROM system.mutations WHERE database = '{}' AND is_done = 0 FORMAT TabSeparated",
        src.cfg.database.replace('\\', "\\\\").replace('\'', "\\'")
    )) {
        if m.trim() != "0" && !m.trim().is_empty() {
            src.warnings.push(format!(
                "ClickHouse has {} unfinished mutation(s) (chroma 0.3.x updates/deletes): rows read \
                 now may not reflect them yet",
                m.trim()
            ));
        }
    }
    Ok(src)
}

impl ClickHouse03Source {
    fn post(&self, sql: &str) -> Result<ureq::http::Response<ureq::Body>> {
        let mut url = format!("{}?database={}", self.cfg.base_url(), pct(&self.cfg.database));
        if let Some(u) = &self.cfg.user {
            url = format!("{url}&user={}", pct(u));
        }
        if let Some(p) = &self.cfg.password {
            url = format!("{url}&password={}", pct(p));
        }
        let ctx = || format!("ClickHouse {} query {:?}", self.cfg.base_url(), short(sql));
        let mut resp = self
            .agent
            .post(&url)
            .send(sql.as_bytes())
            .map_err(|e| LegacyError::Transport { context: ctx(), source: Box::new(e) })?;
        if resp.status().as_u16() != 200 {
            let body =
                resp.body_mut().with_config().limit(1 << 20).lossy_utf8(true).read_to_string().unwrap_or_default();
            return Err(LegacyError::Http {
                context: ctx(),
                message: format!("HTTP {}: {}", resp.status(), body.trim()),
            });
        }
        Ok(resp)
    }

    fn query_text(&self, sql: &str) -> Result<String> {
        let resp = self.post(sql)?;
        let mut s = String::new();
        resp.into_body()
            .into_reader()
            .take(64 << 20)
            .read_to_string(&mut s)
            .map_err(|source| LegacyError::Io { context: format!("reading answer to {:?}", short(sql)), source })?;
        Ok(s)
    }

    fn query_lines(&self, sql: &str) -> Result<Vec<LegacyValue>> {
        let text = self.query_text(sql)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                parse_python_json(l).map_err(|source| LegacyError::Json {
                    context: format!("ClickHouse answer line {:?}", short(l)),
                    source,
                    after: String::new(),
                })
            })
            .collect()
    }
}

fn short(s: &str) -> String {
    let t: String = s.chars().take(120).collect();
    if t.len() < s.len() {
        format!("{t}…")
    } else {
        t
    }
}

fn field<'a>(row: &'a LegacyValue, k: &str) -> Option<&'a LegacyValue> {
    match row {
        LegacyValue::Map(m) => m.get(k),
        _ => None,
    }
}

fn text(row: &LegacyValue, k: &str) -> Option<String> {
    match field(row, k) {
        Some(LegacyValue::Str(s)) => Some(s.clone()),
        Some(LegacyValue::BrokenStr { lossy, .. }) => Some(lossy.clone()),
        _ => None,
    }
}

fn check_uuid(u: &str) -> Result<()> {
    if u.len() == 36 && u.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Ok(())
    } else {
        Err(LegacyError::Format(format!("collection id {u:?} is not a uuid")))
    }
}

impl LegacySource for ClickHouse03Source {
    fn kind(&self) -> SourceKind {
        SourceKind::ClickHouse03
    }

    fn tenants_and_databases(&self) -> Result<Vec<(String, String)>> {
        Ok(vec![(DEFAULT_TENANT.to_string(), DEFAULT_DATABASE.to_string())])
    }

    fn collections(&mut self) -> Result<Vec<LegacyCollection>> {
        let rows = self.query_lines(
            "SELECT toString(uuid) AS uuid, name, metadata FROM collections ORDER BY name FORMAT JSONEachRow",
        )?;
        let counts = self.query_lines(
            "SELECT toString(collection_uuid) AS c, toString(count()) AS n FROM embeddings GROUP BY collection_uuid FORMAT JSONEachRow",
        )?;
        let mut count: HashMap<String, u64> = HashMap::new();
        for r in &counts {
            if let (Some(c), Some(n)) = (text(r, "c"), text(r, "n")) {
                count.insert(c, n.parse().unwrap_or(0));
            }
        }
        let mut out = Vec::new();
        let mut names = HashSet::new();
        for r in rows {
            let mut quirks = Vec::new();
            let id =
                text(&r, "uuid").ok_or_else(|| LegacyError::Format(format!("collection row without uuid: {r}")))?;
            let name = text(&r, "name").unwrap_or_default();
            name_quirks_03(&name, &mut names, &mut quirks);
            let metadata = metadata_text_03(text(&r, "metadata").as_deref(), true, &mut quirks);
            let space = space_03(metadata.as_ref());
            out.push(LegacyCollection {
                record_count_hint: Some(count.get(&id).copied().unwrap_or(0)),
                id,
                name,
                metadata,
                tenant: DEFAULT_TENANT.into(),
                database: DEFAULT_DATABASE.into(),
                dimension: None,
                space,
                configuration_json: None,
                schema_json: None,
                quirks,
            });
        }
        Ok(out)
    }

    fn records(&mut self, collection: &LegacyCollection, batch: usize) -> Result<RecordBatches<'_>> {
        check_uuid(&collection.id)?;
        let sql = format!(
            "SELECT toString(uuid) AS uuid, embedding, document, id, metadata FROM embeddings \
             WHERE collection_uuid = toUUID('{}') FORMAT JSONEachRow",
            collection.id
        );
        let resp = self.post(&sql)?;
        let reader = BufReader::with_capacity(1 << 16, resp.into_body().into_reader());
        Ok(records_from_rows(Box::new(reader), collection.dimension, batch))
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// The records of a `ClickHouse` `JSONEachRow` answer to the embeddings query (one JSON object
/// per line: `uuid`, `embedding`, `document`, `id`, `metadata`), in batches of `batch`, checked
/// against `dimension`. [`LegacySource::records`] reads the server's answer through this; the
/// fuzz harness feeds it arbitrary bytes.
pub fn records_from_rows(reader: Box<dyn BufRead>, dimension: Option<usize>, batch: usize) -> RecordBatches<'static> {
    Box::new(ChRecordIter { reader, batch: batch.max(1), row: 0, checks: RecordChecks::new(dimension), done: false })
}

struct ChRecordIter {
    reader: Box<dyn BufRead>,
    batch: usize,
    row: u64,
    checks: RecordChecks,
    done: bool,
}

impl ChRecordIter {
    fn record(&mut self, line: &str) -> Result<LegacyRecord> {
        let row = parse_python_json(line).map_err(|source| LegacyError::Json {
            context: format!("ClickHouse row {}", self.row),
            source,
            after: format!(": {}", short(line)),
        })?;
        let mut quirks = Vec::new();
        let uuid = text(&row, "uuid").unwrap_or_default();
        let origin = format!("ClickHouse embeddings row {} uuid {uuid}", self.row);
        let id = self.checks.id(text(&row, "id"), || origin.clone(), &mut quirks);
        let embedding = match field(&row, "embedding") {
            Some(LegacyValue::List(l)) => {
                let mut v = Vec::with_capacity(l.len());
                for x in l {
                    v.push(match x {
                        LegacyValue::Float(f) => *f,
                        LegacyValue::Int(i) => *i as f64,
                        LegacyValue::Null => f64::NAN,
                        LegacyValue::Str(s) => s.parse::<f64>().unwrap_or(f64::NAN),
                        other => {
                            return Err(LegacyError::Format(format!(
                                "{origin}: embedding element {other} is not a number"
                            )))
                        }
                    });
                }
                Some(LegacyEmbedding::F64(v))
            }
            _ => None,
        };
        self.checks.embedding(embedding.as_ref(), Some("embedding is missing"), &mut quirks);
        let document = text(&row, "document");
        RecordChecks::document(document.as_deref(), &mut quirks);
        let metadata = metadata_text_03(text(&row, "metadata").as_deref(), false, &mut quirks);
        Ok(LegacyRecord { id, embedding, document, uri: None, metadata, origin, quirks })
    }
}

impl Iterator for ChRecordIter {
    type Item = Result<Vec<LegacyRecord>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while out.len() < self.batch {
            buf.clear();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(LegacyError::Io { context: "reading ClickHouse rows".into(), source: e }));
                }
            }
            let line = match std::str::from_utf8(&buf) {
                Ok(l) => l.trim_end_matches(['\n', '\r']).to_string(),
                Err(e) => {
                    self.done = true;
                    return Some(Err(LegacyError::Format(format!(
                        "ClickHouse row {}: not valid UTF-8: {e}",
                        self.row
                    ))));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            match self.record(&line) {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            self.row += 1;
        }
        if out.is_empty() {
            None
        } else {
            Some(Ok(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quirk;

    #[test]
    fn rows_are_checked_like_every_reader_does() {
        let rows = concat!(
            r#"{"uuid":"u1","embedding":[1,2.5],"document":"d","id":"a","metadata":"{\"k\": true}"}"#,
            "\n",
            r#"{"uuid":"u2","embedding":[1],"document":null,"id":"a","metadata":null}"#,
            "\n",
            r#"{"uuid":"u3","embedding":null,"document":"x\u0000y","id":null,"metadata":"[1]"}"#,
            "\n",
        );
        let mut it = ChRecordIter {
            reader: Box::new(std::io::Cursor::new(rows.as_bytes().to_vec())),
            batch: 10,
            row: 0,
            checks: RecordChecks::new(None),
            done: false,
        };
        let b = it.next().expect("a batch").expect("rows");
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].quirks, [Quirk::BoolValue { key: "k".into() }]);
        assert_eq!(b[0].embedding, Some(LegacyEmbedding::F64(vec![1.0, 2.5])));
        let first = "ClickHouse embeddings row 0 uuid u1".to_string();
        assert_eq!(
            b[1].quirks,
            [Quirk::DuplicateId { first_origin: first }, Quirk::DimensionMismatch { expected: 2, found: 1 }]
        );
        assert_eq!(
            b[2].quirks,
            [
                Quirk::NullId,
                Quirk::MissingEmbedding { detail: "embedding is missing".into() },
                Quirk::NulByte { field: "document".into() },
                Quirk::MetadataNotAnObject { raw: "[1]".into() },
            ]
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(super::pct("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(super::pct("p w/&=?é"), "p%20w%2F%26%3D%3F%C3%A9");
    }
}
