#!/usr/bin/env python3
"""Checks that docs/design.md's layer table matches the crate graph in Cargo.toml.

usage: python3 scripts/check-layers.py      (run by .ci/run; exit 1 on any difference)

The table in the "## Layers" section has one row per workspace crate:
    | `chroma-store` | job ... | types, index |
The third column lists the workspace crates it depends on (normal dependencies, not dev or
build ones), by name without the `chroma-` prefix, or "—" for none. This script reads the real
graph from `cargo metadata` and prints every row that differs, so the table stays true.
Rows are in layer order: a crate may depend only on crates in rows above its own.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def short(name: str) -> str:
    return name[len("chroma-"):] if name.startswith("chroma-") and name != "chroma-rs" else name


def table() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([^`]+)`[^|]*\|[^|]*\|([^|]*)\|\s*$", line)
        if not m:
            continue
        deps = m.group(2).strip()
        names = set() if deps in ("—", "-", "") else {d.strip() for d in deps.split(",")}
        rows[m.group(1)] = names
    return rows


def graph() -> dict[str, set[str]]:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    meta = json.loads(out)
    members = {p["name"] for p in meta["packages"]}
    return {
        p["name"]: {short(d["name"]) for d in p["dependencies"] if d["name"] in members and d["kind"] is None}
        for p in meta["packages"]
    }


def main() -> int:
    documented, actual = table(), graph()
    problems = []
    for name in sorted(actual.keys() | documented.keys()):
        if name not in documented:
            problems.append(f"{name}: in Cargo.toml, missing from docs/design.md's layer table")
        elif name not in actual:
            problems.append(f"{name}: in docs/design.md's layer table, not a workspace crate")
        elif documented[name] != actual[name]:
            problems.append(
                f"{name}: the table says it depends on {sorted(documented[name]) or '—'}, "
                f"Cargo.toml says {sorted(actual[name]) or '—'}"
            )
    order = list(documented)
    for i, name in enumerate(order):
        for dep in sorted(documented[name]):
            full = dep if dep == "chroma-rs" else f"chroma-{dep}"
            if full in order and order.index(full) > i:
                problems.append(f"{name}: depends on {full}, which is listed below it (a lower layer imports a higher one)")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("fix docs/design.md's layer table (or the dependency) so they agree", file=sys.stderr)
        return 1
    print(f"layer table matches Cargo.toml ({len(actual)} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
