"""Query-only timing of an existing folder through the chroma_rs Python package, to set beside
`chroma-rs-bench --phase reopen` on the same folder (the Rust engine alone): the Python
package's own overhead per query.

usage: python bench/query_only.py FOLDER DATASET   (collection "bench", as chroma-rs-bench writes it)
Prints one JSON line: p50_ms, client_cpu_ms_per_q over the dataset's first 1000 queries.
"""

import json
import os
import sys
import time

import numpy as np

import chroma_rs


def main() -> None:
    folder, dataset = sys.argv[1], sys.argv[2]
    col = chroma_rs.PersistentClient(path=folder).get_collection("bench")
    queries = np.load(os.path.join(dataset, "queries.npy"))[:1000]
    col.query(query_embeddings=[queries[0].tolist()], n_results=10)  # the index load, not timed
    cpu0, latencies = time.process_time(), []
    for q in queries:
        vector = q.tolist()
        t = time.perf_counter()
        col.query(query_embeddings=[vector], n_results=10)
        latencies.append((time.perf_counter() - t) * 1000.0)
    print(json.dumps({"p50_ms": float(np.median(latencies)),
                      "client_cpu_ms_per_q": (time.process_time() - cpu0) * 1000.0 / len(queries)}))


if __name__ == "__main__":
    main()
