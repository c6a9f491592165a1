"""Writes a chromadb 0.3.29 duckdb+parquet folder of N records x D dims for the migration benchmark.

Run with the fixture-0.3.29 venv (chromadb 0.3.29, duckdb 0.7.1; scripts/fixtures/make-venvs.sh 0.3.29):
    .venvs/fixture-0.3.29/bin/python crates/migrate/examples/make_legacy03_bench.py OUT_DIR [N] [D]
The collection is created by the real chromadb 0.3.29 client; the rows are inserted with SQL into
0.3.29's own DuckDB tables (client.add would build an hnswlib index first, which takes hours and is
not read by the migration), then client.persist() writes the parquet files, so they are byte for byte
in 0.3.29's schema (float64 embeddings, json.dumps metadata). Deterministic (seeded).
"""
import json
import os
import shutil
import sys
import uuid

import numpy as np
import pandas as pd
import chromadb
from chromadb.config import Settings

assert chromadb.__version__ == "0.3.29", chromadb.__version__
out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
d = int(sys.argv[3]) if len(sys.argv) > 3 else 384
if os.path.exists(out):
    shutil.rmtree(out)
os.makedirs(out)
c = chromadb.Client(Settings(chroma_db_impl="duckdb+parquet", persist_directory=out, anonymized_telemetry=False))
col = c.create_collection("bench", metadata={"hnsw:space": "cosine", "source": "migrate_bench"})
db = c._db._conn
rng = np.random.default_rng(42)
chunk = 10_000
for start in range(0, n, chunk):
    m = min(chunk, n - start)
    emb = rng.standard_normal((m, d)).astype(np.float64)
    ids = [f"id-{i:07d}" for i in range(start, start + m)]
    df = pd.DataFrame({
        "collection_uuid": [str(col.id)] * m,
        "uuid": [str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)) for i in range(start, start + m)],
        "embedding": list(emb),
        "document": [f"document number {i} " + "lorem ipsum " * (i % 7) for i in range(start, start + m)],
        "id": ids,
        "metadata": [json.dumps({"i": i, "group": f"g{i % 10}", "score": (i % 1000) / 7.0}) for i in range(start, start + m)],
    })
    db.execute("INSERT INTO embeddings SELECT * FROM df")
    print(f"{start + m}/{n}", flush=True)
c.persist()
print("wrote", out, db.execute("SELECT count(*) FROM embeddings").fetchall()[0][0], "rows")
os._exit(0)
