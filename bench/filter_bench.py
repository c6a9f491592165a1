#!/usr/bin/env python3
"""Filtered queries (issue 16) over HTTP through the official client, or on LanceDB, same data.

The filtered workload of crates/bench (`chroma-rs-bench --filters bench/filters.json`), for a server
of the Chroma API (chroma-rs or Chroma's `chroma run`, started by --server-cmd as in chroma_bench.py)
or for LanceDB in process (--engine lancedb, run with a python that has `lancedb`):

  load     every record of base.npy: id "id<row>", the embedding, the document "document <row>" and the
           metadata {"i": row, "bucket": "b<row % 10>", "tags": ["t<row % 7>", "t<row % 11>"]}
  filters  each filter of bench/filters.json over the first --queries queries (default 200), n_results=10:
           p50/p99, the first query, recall@10 against the exact filtered top-10 (numpy, from the filter
           evaluated here on the dataset), server CPU per query over HTTP

  .venvs/chroma-1.5.9/bin/python bench/filter_bench.py --dataset bench-data/clustered-100k-384 \
      --path bench-run/filters/c159 --server-cmd '.venvs/chroma-1.5.9/bin/chroma run --path {path} --port {port}' \
      --out bench/results/filters.jsonl
  python-with-lancedb bench/filter_bench.py --engine lancedb --dataset ... --path bench-run/filters/lance

LanceDB: an IVF_HNSW_SQ vector index (its HNSW variant, closest to Chroma's) and scalar indexes
(BTREE on i, BITMAP on bucket, LABEL_LIST on tags); `where` is translated to its SQL filter
(`array_has` for tags, `strpos` for documents) and prefiltered (LanceDB's default).
One JSON line per run appended to --out.
"""
import argparse
import json
import os
import shutil
import sys
import time

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402


def metadata(i):
    return {"i": i, "bucket": f"b{i % 10}", "tags": [f"t{i % 7}", f"t{i % 11}"]}


def document(i):
    return f"document {i}"


# --------------------------------------------------------------------------- filters, evaluated here
def cmp(op, v, x):
    """A scalar comparison as Chroma 1.x filters: `$ne`/`$nin` also match a missing key."""
    if v is None or isinstance(v, list):
        return op in ("$ne", "$nin")
    ops = {"$eq": lambda: v == x, "$ne": lambda: v != x, "$gt": lambda: v > x, "$gte": lambda: v >= x,
           "$lt": lambda: v < x, "$lte": lambda: v <= x, "$in": lambda: v in x, "$nin": lambda: v not in x}
    return ops[op]()


def ev_doc(d, doc):
    (op, x), = d.items()
    if op == "$and":
        return all(ev_doc(p, doc) for p in x)
    if op == "$or":
        return any(ev_doc(p, doc) for p in x)
    if op == "$contains":
        return x in doc
    if op == "$not_contains":
        return x not in doc
    raise ValueError(op)


def ev(w, md, doc):
    (key, cond), = w.items()
    if key == "$and":
        return all(ev(p, md, doc) for p in cond)
    if key == "$or":
        return any(ev(p, md, doc) for p in cond)
    if key == "#document":
        return ev_doc(cond, doc)
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    (op, x), = cond.items()
    v = md.get(key)
    if op == "$contains":
        return isinstance(v, list) and x in v
    if op == "$not_contains":
        return not (isinstance(v, list) and x in v)
    return cmp(op, v, x)


def matches(case, n):
    w, d = case.get("where"), case.get("where_document")
    return np.array([(w is None or ev(w, metadata(i), document(i))) and (d is None or ev_doc(d, document(i)))
                     for i in range(n)], dtype=bool)


# --------------------------------------------------------------------------- LanceDB
def lance_sql(w):
    def lit(x):
        return f"'{x}'" if isinstance(x, str) else str(x)

    (key, cond), = w.items()
    if key in ("$and", "$or"):
        return "(" + f" {key[1:].upper()} ".join(lance_sql(p) for p in cond) + ")"
    if key == "#document":
        (op, x), = cond.items()
        return f"strpos(document, {lit(x)}) > 0" if op == "$contains" else f"strpos(document, {lit(x)}) = 0"
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    (op, x), = cond.items()
    if op == "$contains":
        return f"array_has({key}, {lit(x)})"
    if op in ("$in", "$nin"):
        return f"{key} {'NOT ' if op == '$nin' else ''}IN ({', '.join(lit(v) for v in x)})"
    sym = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    return f"{key} {sym} {lit(x)}"


def lance_filter(case):
    parts = []
    if case.get("where"):
        parts.append(lance_sql(case["where"]))
    if case.get("where_document"):
        parts.append(lance_sql({"#document": case["where_document"]}))
    return " AND ".join(parts) or None


class Lance:
    def __init__(self, a, base):
        import lancedb
        import pyarrow as pa

        shutil.rmtree(a.path, ignore_errors=True)
        self.db = lancedb.connect(a.path)
        n, dim = base.shape
        t = time.perf_counter()
        table = None
        for start in range(0, n, a.batch):
            rows = range(start, min(n, start + a.batch))
            data = pa.table({
                "id": [f"id{i}" for i in rows],
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.asarray(base[rows.start:rows.stop], dtype=np.float32).ravel()), dim),
                "document": [document(i) for i in rows],
                "i": pa.array(list(rows), type=pa.int64()),
                "bucket": [f"b{i % 10}" for i in rows],
                "tags": [metadata(i)["tags"] for i in rows],
            })
            if table is None:
                table = self.db.create_table("bench", data)
            else:
                table.add(data)
        table.create_index(metric="l2", vector_column_name="vector", index_type="IVF_HNSW_SQ")
        table.create_scalar_index("i", index_type="BTREE")
        table.create_scalar_index("bucket", index_type="BITMAP")
        table.create_scalar_index("tags", index_type="LABEL_LIST")
        self.load_s = time.perf_counter() - t
        self.table = table
        self.version = lancedb.__version__

    def query(self, q, case, filt):
        s = self.table.search(q).limit(10).select(["id"])
        if filt:
            s = s.where(filt, prefilter=True)
        return [r for r in s.to_arrow()["id"].to_pylist()]


# --------------------------------------------------------------------------- Chroma API over HTTP
class Chroma:
    def __init__(self, a, base):
        import chromadb
        from chroma_bench import Server

        shutil.rmtree(a.path, ignore_errors=True)
        os.makedirs(os.path.dirname(os.path.abspath(a.path)), exist_ok=True)
        self.server = Server(a)
        self.server.start()
        client = chromadb.HttpClient(host="127.0.0.1", port=a.port)
        self.coll = client.create_collection("bench", metadata={"hnsw:space": "l2"}, embedding_function=None)
        n = base.shape[0]
        t = time.perf_counter()
        for start in range(0, n, a.batch):
            rows = range(start, min(n, start + a.batch))
            self.coll.add(ids=[f"id{i}" for i in rows],
                          embeddings=np.asarray(base[rows.start:rows.stop], dtype=np.float32).tolist(),
                          documents=[document(i) for i in rows], metadatas=[metadata(i) for i in rows])
        self.load_s = time.perf_counter() - t
        self.version = f"client {chromadb.__version__}, server API {client.get_version()}"

    def query(self, q, case, _filt):
        kw = {}
        if case.get("where"):
            kw["where"] = case["where"]
        if case.get("where_document"):
            kw["where_document"] = case["where_document"]
        return self.coll.query(query_embeddings=[q.tolist()], n_results=10, **kw)["ids"][0]


def main():
    from chroma_bench import cpu_seconds, free_port

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--path", required=True, help="data folder (deleted and recreated)")
    ap.add_argument("--engine", choices=["chroma-api", "lancedb"], default="chroma-api")
    ap.add_argument("--server-cmd", help="chroma-api: the server command, with {path} and {port}")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--system", required=True, help="the table's row (chroma-rs, chroma-1.5.9, lancedb)")
    ap.add_argument("--filters", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "filters.json"))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--out")
    a = ap.parse_args()
    a.port = a.port or free_port()
    a.path = os.path.abspath(a.path)
    with open(a.filters, encoding="utf-8") as f:
        cases = json.load(f)
    base = np.load(os.path.join(a.dataset, "base.npy"), mmap_mode="r")
    queries = np.load(os.path.join(a.dataset, "queries.npy"))[: a.queries]
    n = base.shape[0]
    engine = Lance(a, base) if a.engine == "lancedb" else Chroma(a, base)
    print(f"[filter_bench] {a.system}: loaded {n} in {engine.load_s:.1f} s", file=sys.stderr, flush=True)
    server = getattr(engine, "server", None)
    base_all = np.asarray(base, dtype=np.float32)
    out = []
    try:
        for case in cases:
            mask = matches(case, n)
            rows = np.nonzero(mask)[0]
            sub = base_all[rows]
            filt = lance_filter(case) if a.engine == "lancedb" else None
            lat, hits, wanted = [], 0, 0
            cpu0 = cpu_seconds(server.pids()) if server else None
            for q in queries:
                t = time.perf_counter()
                ids = engine.query(q, case, filt)
                lat.append((time.perf_counter() - t) * 1000.0)
                k = min(10, len(rows))
                if k:
                    d = ((sub - q) ** 2).sum(axis=1)
                    truth = {f"id{rows[j]}" for j in np.argpartition(d, k - 1)[:k]}
                    hits += len(truth & set(ids))
                    wanted += k
            line = {"name": case["name"], "matches": int(len(rows)), "first_ms": lat[0],
                    "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
                    "recall@10": hits / wanted if wanted else 1.0}
            if server:
                line["server_cpu_ms_per_q"] = (cpu_seconds(server.pids()) - cpu0) * 1000.0 / len(queries)
            print(f"  {json.dumps(line)}", file=sys.stderr, flush=True)
            out.append(line)
    finally:
        if server:
            server.stop()
    rec = {"label": f"{a.system} filters", "system": a.system, "workload": "filters",
           "dataset": os.path.basename(os.path.normpath(a.dataset)),
           "mode": "http" if a.engine == "chroma-api" else "embedded", "version": engine.version,
           "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load_s": engine.load_s,
           "filters": {"queries": len(queries), "cases": out}}
    line = json.dumps(rec)
    print(line)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
