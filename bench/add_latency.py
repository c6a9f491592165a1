#!/usr/bin/env python3
"""The latency of one large `add`, as Chroma's own `test_add_large` sends it: N records (5,000 to
15,000 there) with metadata and documents in one call, into a collection with `hnsw:M` and
`hnsw:construction_ef` of 128, all with the same vector `[1, 2, 3]` (`--vectors same`, the worst
case for an HNSW graph: no distance ever ends a walk early) or random 3-d vectors (`--vectors
random`). Each round uses a new collection; prints one JSON line with every round's seconds and
the median. A round waits `--settle` seconds first, so that the graph the previous round left to
the background indexer does not share the CPU with this one.

usage: .venvs/chroma-1.5.9/bin/python bench/add_latency.py URL [--n 15000] [--vectors same|random]
       [--m 128] [--rounds 5] [--settle 3]
e.g.   .venvs/chroma-1.5.9/bin/python bench/add_latency.py http://127.0.0.1:8000
"""
import argparse
import json
import random
import statistics
import time
import urllib.parse
import uuid

import chromadb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--n", type=int, default=15000)
    ap.add_argument("--vectors", choices=["same", "random"], default="same")
    ap.add_argument("--m", type=int, default=128, help="hnsw:M and hnsw:construction_ef (0: the defaults)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--settle", type=float, default=3.0)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    client = chromadb.HttpClient(host=u.hostname, port=u.port or 8000)
    metadata = {"hnsw:M": a.m, "hnsw:construction_ef": a.m, "hnsw:search_ef": a.m} if a.m else None
    times = []
    for r in range(a.rounds):
        time.sleep(a.settle if r else 0)
        coll = client.create_collection(f"add_latency_{uuid.uuid4().hex[:8]}", metadata=metadata)
        ids = [str(uuid.uuid4()) for _ in range(a.n)]
        if a.vectors == "same":
            embeddings = [[1.0, 2.0, 3.0]] * a.n
        else:
            embeddings = [[random.random() for _ in range(3)] for _ in range(a.n)]
        t = time.perf_counter()
        coll.add(ids=ids, embeddings=embeddings, metadatas=[{"some_key": f"{i}"} for i in range(a.n)],
                 documents=[f"Document {i}" for i in range(a.n)])
        times.append(round(time.perf_counter() - t, 3))
        assert coll.count() == a.n
        client.delete_collection(coll.name)
    print(json.dumps({"url": a.url, "n": a.n, "vectors": a.vectors, "m": a.m, "add_s": times,
                      "median_s": statistics.median(times)}))


if __name__ == "__main__":
    main()
