#!/usr/bin/env python3
"""Hybrid retrieval on real text: dense all-MiniLM-L6-v2, BM25 sparse vectors, and Rrf of both,
through the official Chroma 1.x client's Search API against `chroma-rs run` (issue #13).

usage (bench/hybrid.sh runs both steps in the right venvs):
  python bench/hybrid_bench.py prepare --out DIR [--docs 100000] [--queries 1000] [--seed 7]
      (python-pkg venv: embeds with chroma_rs's native default model; needs CHROMA_RS_MODEL_DIR
       or network)
  python bench/hybrid_bench.py run --data DIR --url http://127.0.0.1:PORT [--results FILE]
      (chroma-1.5.9 venv: BM25 by chromadb's ChromaBm25EmbeddingFunction, the searches)

The corpus is WordNet 3.0 (Debian package `wordnet-base`): one document per synset, its
definition. Queries have one known relevant document each, built from the synset the document
came from, in two kinds:
  * `example`: one of the synset's usage examples ("the dog barked all night"), which is not part
    of any document: a held-out sentence that uses the word in that sense;
  * `lemma`: the synset's words ("domestic dog, Canis familiaris"), which the definition usually
    does not contain: a keyword query.
recall@10 is the share of queries whose relevant document is in the top 10. For each kind and
each method (dense `Knn`, BM25 `Knn` on the sparse key, `Rrf(dense, bm25)`), single searches are
timed (p50, p99) through the 1.5.9 `HttpClient`; the dense `collection.query` p50 is timed too,
as the yardstick of issue #13's goal (hybrid p50 <= 2x dense). Every Rrf answer is compared with a
brute-force Rrf computed here in numpy from exact dense distances and exact sparse inner products.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

SPARSE_KEY = "bm25"
RRF_K = 60
RRF_DEPTH = 100  # each Knn list of the Rrf
TOP = 10


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- corpus
POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}  # WordNet's letters: offsets repeat across files


def wordnet_synsets(folder="/usr/share/wordnet"):
    """[(synset id, words, definition, [examples])] in file order."""
    out = []
    for part in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(folder, f"data.{part}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" ") or " | " not in line:
                    continue  # the licence header
                head, gloss = line.rstrip("\n").split(" | ", 1)
                fields = head.split()
                count = int(fields[3], 16)
                words = [w.split("(")[0].replace("_", " ") for w in fields[4:4 + 2 * count:2]]
                definition, examples = [], []
                for piece in gloss.split(";"):
                    p = piece.strip()
                    if p.startswith('"'):
                        p = p.strip('"').strip()
                        if len(p) >= 8:
                            examples.append(p)
                    elif p:
                        definition.append(p)
                if definition:
                    out.append((f"{POS[part]}{fields[0]}", words, "; ".join(definition), examples))
    return out


def prepare(args):
    import chroma_rs.embedding_functions as ef

    synsets = wordnet_synsets()
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(synsets))
    n = min(args.docs, len(synsets))
    chosen = [synsets[i] for i in order[:n]]
    with_examples = [i for i, s in enumerate(chosen) if s[3]]
    q_rows = sorted(rng.choice(len(with_examples), size=min(args.queries, len(with_examples)), replace=False))
    queries = []
    for r in q_rows:
        row = with_examples[r]
        sid, words, _definition, examples = chosen[row]
        queries.append({"relevant": row, "example": examples[int(rng.integers(len(examples)))],
                        "lemma": ", ".join(words)})
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "docs.jsonl"), "w") as f:
        for sid, words, definition, _ in chosen:
            f.write(json.dumps({"id": sid, "text": definition}) + "\n")
    with open(os.path.join(args.out, "queries.json"), "w") as f:
        json.dump(queries, f)
    model = ef.DefaultEmbeddingFunction()
    t0 = time.time()

    def embed(texts, label):
        out = np.zeros((len(texts), 384), np.float32)
        for start in range(0, len(texts), 2048):
            out[start:start + 2048] = np.asarray(model(texts[start:start + 2048]), np.float32)
            done = min(start + 2048, len(texts))
            log(f"  {label}: embedded {done}/{len(texts)} ({done / (time.time() - t0):.0f}/s)")
        return out

    np.save(os.path.join(args.out, "docs.npy"), embed([s[2] for s in chosen], "documents"))
    t0 = time.time()
    for kind in ("example", "lemma"):
        np.save(os.path.join(args.out, f"q_{kind}.npy"), embed([q[kind] for q in queries], f"{kind} queries"))
    log(f"prepared {n} documents and {len(queries)} queries in {args.out}")


# --------------------------------------------------------------------------- run
def sparse_dot_index(doc_sparse):
    """term -> (rows, values) arrays: the brute-force reference's inverted lists."""
    postings = {}
    for row, sv in enumerate(doc_sparse):
        for t, v in zip(sv.indices, sv.values):
            postings.setdefault(t, ([], []))
            postings[t][0].append(row)
            postings[t][1].append(v)
    return {t: (np.asarray(r, np.int64), np.asarray(v, np.float64)) for t, (r, v) in postings.items()}


def exact_sparse(postings, idf, q, ids):
    """Exact top-RRF_DEPTH rows by Okapi BM25 (the sum over the query's terms of IDF times the
    document's term weight, as a bm25 sparse index scores), only rows sharing a term, ties by id."""
    n_docs = len(ids)
    scores = np.zeros(n_docs)
    touched = np.zeros(n_docs, bool)
    for t in q.indices:
        if t in postings:
            rows, vals = postings[t]
            scores[rows] += idf[t] * vals
            touched[rows] = True
    rows = np.flatnonzero(touched)
    return sorted(rows.tolist(), key=lambda r: (-scores[r], ids[r]))[:RRF_DEPTH]


def exact_dense(docs, q):
    d = ((docs - q) ** 2).sum(axis=1)
    top = np.argpartition(d, RRF_DEPTH)[:RRF_DEPTH + 20]
    return sorted(top.tolist(), key=lambda r: (d[r], r))[:RRF_DEPTH]


def rrf(lists, ids):
    """Rrf with k=60, weights 1, 0-based ranks, and a row missing from a list taking rank
    RRF_DEPTH there (the Knn's `default`): the expression chromadb's Rrf builds from the request's
    Knn lists, which are the union of both lists' rows."""
    rank = [{r: i for i, r in enumerate(lst)} for lst in lists]
    rows = set().union(*rank)
    score = {r: -sum(1.0 / (RRF_K + rk.get(r, RRF_DEPTH)) for rk in rank) for r in rows}
    return [ids[r] for r in sorted(rows, key=lambda r: (score[r], ids[r]))[:TOP]]


def pct(xs, p):
    return float(np.percentile(np.asarray(xs) * 1000, p))


def run(args):
    import chromadb
    from chromadb import Knn, Rrf, Search
    from chromadb.api.types import Schema, SparseVectorIndexConfig
    from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction

    docs = [json.loads(line) for line in open(os.path.join(args.data, "docs.jsonl"))]
    queries = json.load(open(os.path.join(args.data, "queries.json")))
    if args.max_queries:
        queries = queries[:args.max_queries]  # the first N (their vectors are rows 0..N-1)
    vectors = np.load(os.path.join(args.data, "docs.npy"))
    qvec = {k: np.load(os.path.join(args.data, f"q_{k}.npy")) for k in ("example", "lemma")}
    ids = [d["id"] for d in docs]
    bm25 = ChromaBm25EmbeddingFunction()
    t0 = time.time()
    doc_sparse = bm25([d["text"] for d in docs])  # for the reference; the client embeds its own on add
    qsparse = {k: bm25.embed_query([q[k] for q in queries]) for k in ("example", "lemma")}
    log(f"BM25 sparse vectors of {len(docs)} documents in {time.time() - t0:.1f} s")

    host, port = args.url.rsplit("//", 1)[1].split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    name = "hybrid-wordnet"
    col = None
    if args.reuse:
        # A collection loaded by an earlier run on the same server folder (REUSE=1 in hybrid.sh):
        # comparing server settings without paying for the load again.
        try:
            col = client.get_collection(name)
            if col.count() != len(docs):
                col = None
        except Exception:
            col = None
    load_s = None
    if col is None:
        try:
            client.delete_collection(name)
        except Exception:
            pass
        # The sparse index as Chroma documents BM25: sourced from #document by
        # ChromaBm25EmbeddingFunction (the client embeds each document into the key on add),
        # bm25=True (the server weighs query terms by IDF).
        schema = Schema().create_index(key=SPARSE_KEY, config=SparseVectorIndexConfig(
            source_key="#document", embedding_function=bm25, bm25=True))
        col = client.create_collection(name, schema=schema)
        t0 = time.time()
        batch = 5000
        for s in range(0, len(docs), batch):
            e = min(s + batch, len(docs))
            col.add(ids=ids[s:e], embeddings=vectors[s:e], documents=[d["text"] for d in docs[s:e]])
            log(f"  added {e}/{len(docs)} ({e / (time.time() - t0):.0f} rec/s, BM25 of the documents included)")
        load_s = round(time.time() - t0, 1)

    postings = sparse_dot_index(doc_sparse)
    idf = {t: float(np.log(1 + (len(docs) - len(r) + 0.5) / (len(r) + 0.5))) for t, (r, _v) in postings.items()}
    vectors64 = vectors.astype(np.float64)
    result = {"label": args.label, "system": "chroma-rs", "workload": "hybrid", "dataset": f"wordnet-{len(docs)}",
              "time": time.strftime("%Y-%m-%d %H:%M:%S"), "load_s": load_s, "queries": len(queries),
              "search_ef_factor": os.environ.get("CHROMA_RS_SEARCH_EF_FACTOR", "default"),
              "rrf": {"k": RRF_K, "depth": RRF_DEPTH}, "kinds": {}}
    # warm both indexes (the first sparse search builds its inverted index)
    col.search(Search().rank(Knn(query=qsparse["example"][0], key=SPARSE_KEY, limit=TOP)).limit(TOP))
    col.query(query_embeddings=[qvec["example"][0]], n_results=TOP)
    index = {}
    for kind in ("example", "lemma"):
        times = {m: [] for m in ("query", "dense", "bm25", "rrf")}
        hits = {m: 0 for m in ("query", "dense", "bm25", "rrf", "rrf_reference")}
        same_rrf = same_fusion = 0
        for qi, q in enumerate(queries):
            dv, sv, want = qvec[kind][qi].tolist(), qsparse[kind][qi], ids[q["relevant"]]
            t = time.perf_counter()
            got_q = col.query(query_embeddings=[dv], n_results=TOP, include=[])["ids"][0]
            times["query"].append(time.perf_counter() - t)
            plans = {
                "dense": Search().rank(Knn(query=dv, limit=TOP)).limit(TOP).select("#score"),
                "bm25": Search().rank(Knn(query=sv, key=SPARSE_KEY, limit=TOP)).limit(TOP).select("#score"),
                "rrf": Search().rank(Rrf(ranks=[Knn(query=dv, limit=RRF_DEPTH, return_rank=True, default=RRF_DEPTH),
                                                Knn(query=sv, key=SPARSE_KEY, limit=RRF_DEPTH, return_rank=True,
                                                    default=RRF_DEPTH)],
                                         k=RRF_K)).limit(TOP).select("#score"),
            }
            got = {"query": got_q}
            for m, plan in plans.items():
                t = time.perf_counter()
                got[m] = col.search(plan)["ids"][0]
                times[m].append(time.perf_counter() - t)
            # the fusion checked on the server's own Knn lists (untimed), then end to end against
            # the exact lists (HNSW's approximate dense list may differ in its tail)
            index = index or {i: r for r, i in enumerate(ids)}
            lists = [[index[i] for i in col.search(Search().rank(k).limit(RRF_DEPTH))["ids"][0]]
                     for k in (Knn(query=dv, limit=RRF_DEPTH), Knn(query=sv, key=SPARSE_KEY, limit=RRF_DEPTH))]
            same_fusion += got["rrf"] == rrf(lists, ids)
            reference = rrf([exact_dense(vectors64, qvec[kind][qi].astype(np.float64)),
                             exact_sparse(postings, idf, sv, ids)], ids)
            same_rrf += got["rrf"] == reference
            got["rrf_reference"] = reference
            for m in hits:
                hits[m] += want in got[m]
            if (qi + 1) % 200 == 0:
                log(f"  {kind}: {qi + 1}/{len(queries)} queries")
        n = len(queries)
        result["kinds"][kind] = {
            "recall@10": {m: round(hits[m] / n, 4) for m in hits},
            "p50_ms": {m: round(pct(times[m], 50), 3) for m in times},
            "p99_ms": {m: round(pct(times[m], 99), 3) for m in times},
            "rrf_equal_to_fusion_of_its_lists": round(same_fusion / n, 4),
            "rrf_equal_to_reference": round(same_rrf / n, 4),
        }
        r = result["kinds"][kind]
        log(f"{kind}: recall@10 {r['recall@10']}; p50 ms {r['p50_ms']}; Rrf = the fusion of its own Knn "
            f"lists in {r['rrf_equal_to_fusion_of_its_lists']:.1%} of queries, = the exact reference in "
            f"{r['rrf_equal_to_reference']:.1%}")
    print(json.dumps(result))
    if args.results:
        with open(args.results, "a") as f:
            f.write(json.dumps(result) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--out", required=True)
    a.add_argument("--docs", type=int, default=100_000)
    a.add_argument("--queries", type=int, default=1000)
    a.add_argument("--seed", type=int, default=7)
    b = sub.add_parser("run")
    b.add_argument("--data", required=True)
    b.add_argument("--url", required=True)
    b.add_argument("--results")
    b.add_argument("--label", default="chroma-rs hybrid")
    b.add_argument("--reuse", action="store_true", help="keep a loaded collection of the same size")
    b.add_argument("--max-queries", type=int, default=0, help="only the first N queries of each kind")
    args = p.parse_args()
    prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
