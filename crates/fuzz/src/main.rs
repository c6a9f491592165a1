//! `chroma-fuzz`: runs the fuzz targets of chroma-rs (see the `chroma_fuzz` crate docs).

use chroma_fuzz::engine::{self, CountingAlloc, Options};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

// Counts heap bytes in use, so the watchdog can stop an input whose memory explodes.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[derive(Parser)]
#[command(name = "chroma-fuzz", about = "Fuzz targets for every parser of untrusted bytes in chroma-rs")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists the targets.
    List,
    /// Fuzzes the targets named (all when none), one after the other.
    Run {
        /// Targets (default: all).
        targets: Vec<String>,
        /// Seconds per target.
        #[arg(long, env = "FUZZ_SECONDS", default_value_t = 20.0)]
        seconds: f64,
        /// Seed of the mutation stream (default: from the clock; printed).
        #[arg(long, env = "FUZZ_SEED")]
        seed: Option<u64>,
        /// One input taking longer than this many milliseconds is a failure.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Heap limit in MiB: beyond it the run stops and saves the input.
        #[arg(long, default_value_t = 2048)]
        memory_mib: usize,
        /// Where failing inputs are written (`<dir>/<target>/<hash>.bin`).
        #[arg(long)]
        failures: Option<PathBuf>,
    },
    /// Writes the seeds a target makes itself into its corpus folder (graph: files saved by
    /// the index).
    Seeds {
        /// The target.
        target: String,
    },
    /// Runs one input file through a target and says what happened.
    Replay {
        /// The target.
        target: String,
        /// The input file.
        file: PathBuf,
        /// One input taking longer than this many milliseconds is a failure.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn default_failures() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from);
    target.join("fuzz-failures")
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::List => {
            for t in chroma_fuzz::all_targets() {
                println!("{:16} {} ({} corpus files)", t.name, t.about, engine::load_corpus(t.name).len());
            }
            ExitCode::SUCCESS
        }
        Cmd::Seeds { target } => match chroma_fuzz::generated_seeds(&target) {
            None => {
                eprintln!("target {target:?} has no generated seeds");
                ExitCode::from(2)
            }
            Some(Err(e)) => {
                eprintln!("making seeds for {target}: {e}");
                ExitCode::FAILURE
            }
            Some(Ok(seeds)) => {
                let dir = engine::corpus_dir(&target);
                for (name, bytes) in seeds {
                    let p = dir.join(name);
                    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&p, bytes)) {
                        eprintln!("writing {}: {e}", p.display());
                        return ExitCode::FAILURE;
                    }
                    println!("wrote {}", p.display());
                }
                ExitCode::SUCCESS
            }
        },
        Cmd::Replay { target, file, timeout_ms } => {
            let Some(t) = chroma_fuzz::target(&target) else {
                eprintln!("no target {target:?} (chroma-fuzz list)");
                return ExitCode::from(2);
            };
            let input = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            match engine::run_one(&t, &input, Duration::from_millis(timeout_ms)) {
                Ok(sig) => {
                    println!("{target}: ok ({sig})");
                    ExitCode::SUCCESS
                }
                Err(f) => {
                    println!("{target}: FAILURE: {f}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Run { targets, seconds, seed, timeout_ms, memory_mib, failures } => {
            let all = chroma_fuzz::all_targets();
            for n in &targets {
                if !all.iter().any(|t| t.name == n) {
                    eprintln!("no target {n:?} (chroma-fuzz list)");
                    return ExitCode::from(2);
                }
            }
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
            });
            let opts = Options {
                duration: Duration::from_secs_f64(seconds.max(0.0)),
                seed,
                timeout: Duration::from_millis(timeout_ms),
                memory_limit: memory_mib << 20,
                failures_dir: failures.unwrap_or_else(default_failures),
            };
            println!("chroma-fuzz: seed {seed}, {seconds} s per target");
            let mut failed = Vec::new();
            for t in all.iter().filter(|t| targets.is_empty() || targets.iter().any(|n| n == t.name)) {
                let r = engine::fuzz(t, &opts);
                let rate = r.execs as f64 / r.elapsed.as_secs_f64().max(1e-9);
                println!(
                    "{:16} {:>9} execs {:>8.0}/s  {:>3} corpus  {:>4} outcomes  {}",
                    r.target,
                    r.execs,
                    rate,
                    r.corpus,
                    r.outcomes,
                    if r.failure.is_some() { "FAILED" } else { "ok" }
                );
                if let Some((f, p)) = r.failure {
                    eprintln!("FUZZ FAILURE in target {}: {f}", r.target);
                    eprintln!("  input written to {}", p.display());
                    eprintln!("  replay: chroma-fuzz replay {} {}", r.target, p.display());
                    failed.push(r.target);
                }
            }
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("failed targets: {}", failed.join(" "));
                ExitCode::FAILURE
            }
        }
    }
}
