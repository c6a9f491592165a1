//! The legacy readers: pickles, Python-style JSON, `ClickHouse` rows, 0.3.x parquet folders and
//! Chroma >= 0.4 `SQLite` folders.

// Every target has the signature `fn(&[u8]) -> Outcome`, even those that never fail on their own.
#![allow(clippy::unnecessary_wraps)]

use super::sig;
use crate::Outcome;
use chroma_legacy::checks::parse_metadata_text;
use chroma_legacy::pickle::{self, PickleValue};
use chroma_legacy::{open_chroma04, open_parquet03, parse_python_json, LegacySource};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy")
}

/// A scratch folder, on tmpfs when there is one (each input copies a fixture).
fn scratch() -> Result<tempfile::TempDir, String> {
    let shm = Path::new("/dev/shm");
    let b =
        tempfile::Builder::new().prefix("chroma-fuzz-").tempdir_in(if shm.is_dir() { shm } else { Path::new("/tmp") });
    b.or_else(|_| tempfile::tempdir()).map_err(|e| format!("scratch folder: {e}"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("mkdir {}: {e}", to.display()))?;
    let rd = std::fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "expected.json" || name == "FIXTURE.txt" {
            continue;
        }
        if p.is_dir() {
            copy_dir(&p, &to.join(&name))?;
        } else {
            std::fs::copy(&p, to.join(&name)).map_err(|e| format!("copying {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Reads everything a migration reads: tenants, collections, every record, the warnings.
/// Every quirk and value is printed, since printing is what the report does with them.
fn read_all(src: &mut dyn LegacySource) -> Result<String, String> {
    let mut n = 0usize;
    src.tenants_and_databases().map_err(|e| e.to_string())?;
    let colls = src.collections().map_err(|e| e.to_string())?;
    for c in &colls {
        let _ = c.quirks.iter().map(ToString::to_string).count();
        let batches = src.records(c, 7).map_err(|e| e.to_string())?;
        for b in batches {
            for r in b.map_err(|e| e.to_string())? {
                n += 1;
                let _ = r.quirks.iter().map(ToString::to_string).count();
                if let Some(m) = &r.metadata {
                    let _ = m.values().map(ToString::to_string).count();
                }
            }
        }
    }
    let _ = src.warnings();
    Ok(format!("{} collections, {} records", colls.len().min(4), n.min(4)))
}

/// Parses a pickle and walks it the way the 0.4+ reader does.
pub(crate) fn pickle(input: &[u8]) -> Outcome {
    match pickle::parse(input) {
        Ok(v) => {
            if let Some(d) = v.dict_get("id_to_label").and_then(PickleValue::as_dict) {
                for (k, v) in d {
                    let _ = (k.as_str(), v.as_i128(), k.as_uuid());
                }
            }
            let _ = v.dict_get("max_seq_id").and_then(PickleValue::as_i128);
            let _ = format!("{v:?}");
            Ok("ok".into())
        }
        Err(e) => Ok(sig("err", &e.0)),
    }
}

/// Parses Python-style JSON text, as value and as 0.3.x metadata.
pub(crate) fn python_json(input: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(input);
    let out = match parse_python_json(&text) {
        Ok(v) => {
            let _ = v.to_json();
            let _ = v.to_string();
            format!("ok:{}", v.type_name())
        }
        Err(e) => sig("err", &e.to_string()),
    };
    let mut quirks = Vec::new();
    let _ = parse_metadata_text(&text, false, &mut quirks);
    let _ = chroma_legacy::checks::metadata_text_03(Some(&text), true, &mut quirks);
    let _ = quirks.iter().map(ToString::to_string).count();
    Ok(out)
}

/// Reads the input as `ClickHouse`'s `JSONEachRow` answer to the embeddings query.
pub(crate) fn clickhouse_rows(input: &[u8]) -> Outcome {
    let dim = if input.len().is_multiple_of(2) { Some(3) } else { None };
    let reader = Box::new(std::io::Cursor::new(input.to_vec()));
    let mut n = 0usize;
    for b in chroma_legacy::clickhouse03::records_from_rows(reader, dim, 3) {
        match b {
            Ok(rs) => {
                for r in rs {
                    n += 1;
                    let _ = r.quirks.iter().map(ToString::to_string).count();
                }
            }
            Err(e) => return Ok(sig("err", &e.to_string())),
        }
    }
    Ok(format!("ok:{}", n.min(4)))
}

/// First byte: which file of the 0.3.x fixture `v0.3.29-main` the rest replaces (0: the
/// collections file, 1: the embeddings file, 2..: the files in `index/`, sorted by name).
pub(crate) fn parquet03(input: &[u8]) -> Outcome {
    let Some((&which, file)) = input.split_first() else { return Ok("empty".into()) };
    let tmp = scratch()?;
    let dir = tmp.path().join("db");
    copy_dir(&fixtures().join("v0.3.29-main"), &dir)?;
    let mut index: Vec<PathBuf> =
        std::fs::read_dir(dir.join("index")).map_err(|e| e.to_string())?.flatten().map(|e| e.path()).collect();
    index.sort();
    let target = match which {
        0 => dir.join(chroma_legacy::parquet03::COLLECTIONS_FILE),
        1 => dir.join(chroma_legacy::parquet03::EMBEDDINGS_FILE),
        k => index[(k as usize - 2) % index.len()].clone(),
    };
    std::fs::write(&target, file).map_err(|e| format!("writing {}: {e}", target.display()))?;
    // The scratch path is random: out of the signature.
    let here = dir.display().to_string();
    let mut src = match open_parquet03(&dir) {
        Ok(s) => s,
        Err(e) => return Ok(sig("open", &e.to_string().replace(&here, ""))),
    };
    Ok(read_all(&mut src).unwrap_or_else(|e| sig("read", &e.replace(&here, ""))))
}

/// A reader of the input's bytes, for the chroma04 edit program.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u64(&mut self) -> u64 {
        let mut a = [0u8; 8];
        let s = self.take(8);
        a[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(a)
    }
    fn value(&mut self) -> rusqlite::types::Value {
        use rusqlite::types::Value as V;
        match self.byte().unwrap_or(0) % 6 {
            0 => V::Null,
            1 => V::Integer(self.u64() as i64),
            2 => V::Real(f64::from_bits(self.u64())),
            3 => {
                let n = self.byte().unwrap_or(0) as usize % 40;
                V::Text(String::from_utf8_lossy(self.take(n)).into_owned())
            }
            4 => {
                let n = self.byte().unwrap_or(0) as usize % 64;
                V::Blob(self.take(n).to_vec())
            }
            _ => V::Integer(i64::from(self.byte().unwrap_or(0)) - 2),
        }
    }
}

/// The first column of every row of `sql`, as text.
fn strings(conn: &rusqlite::Connection, sql: &str) -> Result<Vec<String>, String> {
    let mut st = conn.prepare(sql).map_err(|e| e.to_string())?;
    let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(|e| e.to_string())?;
    let out: Result<Vec<String>, _> = rows.collect();
    out.map_err(|e| e.to_string())
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else if p.file_name().is_some_and(|n| n != "chroma.sqlite3") {
                out.push(p);
            }
        }
    }
}

/// Applies the input's edit program to a copy of a Chroma >= 0.4 fixture, then reads it all.
///
/// Byte 0 picks the fixture; then each op byte is: 0 set a column of a row to a value, 1
/// delete a row, 2 copy a row, 3 overwrite bytes of a segment file (hnsw files, pickles), 4
/// truncate one. Tables, columns, rows and files are picked by index (modulo their count).
fn edit_and_read(input: &[u8]) -> Result<String, String> {
    const FIXTURES: [&str; 4] = ["v0.4.24-main", "v0.5.23-main", "v1.5.9-main", "v1.5.9-purged"];
    let mut r = Bytes(input);
    let fx = FIXTURES[r.byte().unwrap_or(0) as usize % FIXTURES.len()];
    let tmp = scratch()?;
    let dir = tmp.path().join("db");
    copy_dir(&fixtures().join(fx), &dir)?;
    {
        let conn = rusqlite::Connection::open(dir.join("chroma.sqlite3")).map_err(|e| e.to_string())?;
        let mut tables = strings(
            &conn,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        tables.retain(|t: &String| !t.contains("fulltext"));
        let mut files = Vec::new();
        files_under(&dir, &mut files);
        files.sort();
        while let Some(op) = r.byte() {
            let t = &tables[r.byte().unwrap_or(0) as usize % tables.len()];
            let row = i64::from(r.byte().unwrap_or(0) % 16);
            let pick = format!("(SELECT rowid FROM \"{t}\" LIMIT 1 OFFSET {row})");
            match op % 5 {
                0 => {
                    let cols = strings(&conn, &format!("SELECT name FROM pragma_table_info('{t}')"))?;
                    let c = &cols[r.byte().unwrap_or(0) as usize % cols.len().max(1)];
                    let v = r.value();
                    let _ = conn.execute(&format!("UPDATE \"{t}\" SET \"{c}\" = ?1 WHERE rowid = {pick}"), [v]);
                }
                1 => {
                    let _ = conn.execute(&format!("DELETE FROM \"{t}\" WHERE rowid = {pick}"), []);
                }
                2 => {
                    let _ =
                        conn.execute(&format!("INSERT INTO \"{t}\" SELECT * FROM \"{t}\" WHERE rowid = {pick}"), []);
                }
                k if !files.is_empty() => {
                    let f = &files[row as usize * 7 % files.len()];
                    let len = std::fs::metadata(f).map_or(0, |m| m.len());
                    let at = r.u64() % (len + 1);
                    if k == 3 {
                        let n = r.byte().unwrap_or(0) as usize % 16 + 1;
                        let bytes = r.take(n).to_vec();
                        let mut all = std::fs::read(f).map_err(|e| e.to_string())?;
                        let at = at as usize;
                        let end = (at + bytes.len()).min(all.len());
                        all.splice(at..end, bytes);
                        std::fs::write(f, all).map_err(|e| e.to_string())?;
                    } else {
                        let fh = std::fs::OpenOptions::new().write(true).open(f).map_err(|e| e.to_string())?;
                        fh.set_len(at).map_err(|e| e.to_string())?;
                    }
                }
                _ => {}
            }
        }
    }
    let here = dir.display().to_string();
    let mut src = match open_chroma04(&dir) {
        Ok(s) => s,
        Err(e) => return Ok(sig("open", &e.to_string().replace(&here, ""))),
    };
    Ok(read_all(&mut src).unwrap_or_else(|e| sig("read", &e.replace(&here, ""))))
}

/// A Chroma >= 0.4 folder changed by the input's edit program, read in full.
pub(crate) fn chroma04(input: &[u8]) -> Outcome {
    edit_and_read(input).map_err(|e| format!("harness: {e}"))
}
