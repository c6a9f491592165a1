#!/usr/bin/env python3
"""The README's benchmark table from result files: medians across rounds, chroma-rs against real Chroma.

usage: python3 bench/summarize.py [--runs] [--dataset NAME] FILE.jsonl [FILE.jsonl ...]

Reads the JSON lines written by crates/bench (chroma-rs-bench) and bench/chroma_bench.py (and the older
records in bench/results/). Prints one Markdown table per dataset and add batch size, one row per system
and mode, each figure the median of that row's runs. The chroma-rs rows carry their ratio to the newest
real Chroma of the same mode (add rate: x faster; add CPU: x less; query p50: x faster).
  --runs          one row per run instead (with its label), to look at the spread
  --dataset NAME  only that dataset
Lines of other kinds (e.g. the load test's) are skipped. Standard library only.
"""
import argparse
import json
import re
import statistics
import sys

COLUMNS = ["add rec/s", "add CPU s / 100k", "query p50 ms", "p99 ms", "recall@10 (default ef)",
           "cold open s", "disk MB", "peak RSS MB"]
MODE_NAMES = {"persistent": "embedded", "ephemeral": "in memory", "http": "http"}


def system_of(r):
    """The row a record belongs to: its `system` field, else what the older records tell."""
    if r.get("system"):
        return r["system"]
    load = r["load"]
    if "client_version" not in load or r.get("label", "").startswith("chroma-rs"):
        return "chroma-rs"  # crates/bench records, or chroma-rs measured through the Python harness
    name = f"chroma-{load['client_version']}"
    return name + " (search_ef 100)" if "search_ef=100" in r.get("label", "") else name


def default_ef(r):
    load = r["load"]
    if load.get("default_ef"):
        return load["default_ef"]
    m = re.search(r"ef_search (\d+)", str(load["default"].get("ef", "")))
    if m:
        return int(m[1])
    hnsw = (load.get("config") or {}).get("hnsw") or {}
    if hnsw.get("ef_search"):
        return hnsw["ef_search"]
    if "hnsw:search_ef" in (load.get("metadata") or {}):
        return load["metadata"]["hnsw:search_ef"]
    return 10 if str(load.get("client_version", "")).startswith("0.") else None


def figures(r):
    """The table's numbers for one run (None where the record has no such figure)."""
    load, reopen, http = r["load"], r.get("reopen") or {}, r["mode"] == "http"
    cpu = (load.get("add_client_cpu_s") or 0) + (load.get("add_server_cpu_s") or 0)
    mib = lambda b: b / 2**20 if b else None  # noqa: E731
    return {
        "add rec/s": load["add_rec_s"],
        "add CPU s / 100k": cpu * 100_000 / load["n"] if cpu else None,
        "query p50 ms": load["default"]["p50_ms"],
        "p99 ms": load["default"]["p99_ms"],
        "recall@10 (default ef)": load["default"]["recall@10"],
        "cold open s": r.get("server_cold_open_s") if http else reopen.get("cold_open_s"),
        "disk MB": mib(r.get("disk_bytes")),
        "peak RSS MB": mib(r.get("server_peak_rss_load") if http else load.get("client_peak_rss")),
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(column, v):
    if v is None:
        return "-"
    if column == "add rec/s":
        return f"{v:,.0f}"
    if column == "add CPU s / 100k":
        return f"{v:.1f}"
    if column == "recall@10 (default ef)":
        return f"{v:.3f}"
    if column in ("disk MB", "peak RSS MB"):
        return f"{v:,.0f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def version_key(system):
    nums = re.findall(r"\d+", system)
    return tuple(int(x) for x in nums[:3])


def row_name(system, mode):
    if system == "chroma-rs":
        return "**chroma-rs**" + ("" if mode == "persistent" else f" ({MODE_NAMES.get(mode, mode)})")
    shown = system.replace("chroma-", "Chroma ", 1)
    how = {"persistent": "`PersistentClient`", "http": "`chroma run` + `HttpClient`"}.get(mode, mode)
    return f"{shown} {how}"


def ratio(column, ours, theirs):
    if not ours or not theirs:
        return ""
    if column == "add rec/s":
        return f" ({ours / theirs:.1f}x)"
    if column == "add CPU s / 100k":
        return f" ({theirs / ours:.1f}x less)"
    if column == "query p50 ms":
        return f" ({theirs / ours:.1f}x)"
    return ""


def table(records, dataset, batch, per_run):
    print(f"**{dataset}** ({records[0]['load']['n']:,} records), batches of {batch}:\n")
    print("| system | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    if per_run:
        for r in records:
            f = figures(r)
            ef = default_ef(r)
            cells = [fmt(c, f[c]) + (f" (ef {ef})" if c.startswith("recall") and ef and ef != 100 else "")
                     for c in COLUMNS]
            name = r.get("label") or f"{system_of(r)} {MODE_NAMES.get(r['mode'], r['mode'])}"
            print(f"| {name}{' (' + r['time'] + ')' if r.get('time') else ''} | "
                  + " | ".join(cells) + " |")
        print()
        return
    groups = {}
    for r in records:
        groups.setdefault((system_of(r), r["mode"]), []).append(r)
    meds = {key: {c: median([figures(r)[c] for r in runs]) for c in COLUMNS} for key, runs in groups.items()}
    order = lambda k: (version_key(k[0]), k[0], list(MODE_NAMES).index(k[1]) if k[1] in MODE_NAMES else 9)  # noqa: E731
    real = sorted((k for k in groups if k[0] != "chroma-rs"), key=order)
    ours = sorted((k for k in groups if k[0] == "chroma-rs"), key=order)
    notes = []
    for key in real + ours:
        system, mode = key
        ref = None
        if system == "chroma-rs":
            plain = [k for k in real if "(" not in k[0]]
            same_mode = [k for k in plain if k[1] == mode]
            ref = (same_mode or plain or [None])[-1]
            if ref:
                notes.append(f"chroma-rs {MODE_NAMES.get(mode, mode)} against {ref[0]} {MODE_NAMES.get(ref[1], ref[1])}")
        cells = []
        for c in COLUMNS:
            text = fmt(c, meds[key][c])
            if c.startswith("recall"):
                ef = median([default_ef(r) for r in groups[key]])
                if ef and ef != 100:
                    text += f" (ef {ef:.0f})"
            if system == "chroma-rs":
                text = f"**{text}**" if text != "-" else text
                if ref:
                    text += ratio(c, meds[key][c], meds[ref][c])
            cells.append(text)
        print(f"| {row_name(system, mode)} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"{s} {MODE_NAMES.get(m, m)} {len(groups[(s, m)])}" for s, m in real + ours)
    print(f"\nMedians of the runs ({counts})." + (f" Ratios: {'; '.join(notes)}." if notes else "") + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", metavar="FILE.jsonl")
    ap.add_argument("--runs", action="store_true", help="one row per run")
    ap.add_argument("--dataset", help="only this dataset")
    a = ap.parse_args()
    records, skipped = [], 0
    for path in a.files:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                if "load" not in r or "add_rec_s" not in r["load"]:
                    skipped += 1
                    continue
                if a.dataset and r.get("dataset") != a.dataset:
                    continue
                records.append(r)
    if skipped:
        print(f"({skipped} lines of another kind skipped)", file=sys.stderr)
    if not records:
        sys.exit("no benchmark records")
    tables = {}
    for r in records:
        tables.setdefault((r["dataset"], r["load"].get("batch")), []).append(r)
    for (dataset, batch), rs in sorted(tables.items(), key=lambda kv: (kv[0][0], -(kv[0][1] or 0))):
        table(rs, dataset, batch, a.runs)


if __name__ == "__main__":
    main()
