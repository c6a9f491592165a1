//! The questions chroma-migrate asked, for a run on a terminal without `--from`: source kind,
//! its path or host, destination kind and its path or host (+ headers). Plain stdin/stderr.

use std::io::{BufRead, Write};

use crate::{MigrateArgs, MigrateError};

fn read_line(prompt: &str, default: &str) -> Result<String, MigrateError> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt} [{default}]: ");
    let _ = err.flush();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| MigrateError::Io { context: "reading stdin".into(), source })?;
    if n == 0 {
        return Err(MigrateError::Usage("no answer (end of input)".into()));
    }
    let t = line.trim();
    Ok(if t.is_empty() { default.to_string() } else { t.to_string() })
}

fn choose(title: &str, options: &[&str]) -> Result<usize, MigrateError> {
    eprintln!("{title}");
    for (i, o) in options.iter().enumerate() {
        eprintln!("  {}) {o}", i + 1);
    }
    loop {
        let a = read_line("choose a number", "1")?;
        match a.parse::<usize>() {
            Ok(n) if (1..=options.len()).contains(&n) => return Ok(n - 1),
            _ => eprintln!("please answer 1-{}", options.len()),
        }
    }
}

pub fn ask(args: &mut MigrateArgs) -> Result<(), MigrateError> {
    eprintln!(
        "chroma-rs migrate: copy your Chroma data into chroma-rs (Ctrl-C to stop; nothing is written before the end)."
    );
    let src = choose(
        "Where is your data now?",
        &[
            "Chroma 0.3.x DuckDB (duckdb+parquet folder)",
            "Chroma 0.3.x ClickHouse",
            "Chroma >= 0.4 folder (chroma.sqlite3)",
            "A Chroma server (HTTP)",
        ],
    )?;
    args.from = Some(match src {
        0 => read_line("Path of the 0.3.x persist directory", "./chroma")?,
        1 => {
            let host = read_line("ClickHouse host", "localhost")?;
            let port = read_line("ClickHouse HTTP port", "8123")?;
            format!("clickhouse://{host}:{port}")
        }
        2 => read_line("Path of the Chroma folder", "./chroma")?,
        _ => {
            let host = read_line("Server host", "localhost")?;
            let port = read_line("Server port", "8000")?;
            format!("http://{host}:{port}")
        }
    });
    if args.to.is_none() {
        let dst = choose(
            "Where should it go?",
            &["Files I can use on my local machine (a chroma-rs folder)", "A Chroma server that I can access via HTTP"],
        )?;
        args.to = Some(if dst == 0 {
            read_line("Path of the new chroma-rs folder", "./chroma_migrated")?
        } else {
            let host = read_line("Server host", "localhost")?;
            let port = read_line("Server port", "8000")?;
            let headers = read_line("Headers as JSON", "{}")?;
            let v: serde_json::Value = serde_json::from_str(&headers)
                .map_err(|_| MigrateError::Usage("Invalid JSON format for headers".into()))?;
            let Some(map) = v.as_object() else {
                return Err(MigrateError::Usage("Invalid JSON format for headers".into()));
            };
            for (k, v) in map {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                args.headers.push(format!("{k}:{v}"));
            }
            format!("http://{host}:{port}")
        });
    }
    Ok(())
}

/// Asks "proceed?" on a terminal. Returns true for yes.
pub fn confirm(question: &str) -> Result<bool, MigrateError> {
    let a = read_line(&format!("{question} (y/N)"), "N")?;
    Ok(matches!(a.to_ascii_lowercase().as_str(), "y" | "yes"))
}
