"""A 10k-record collection, written in max_batch_size slices."""

import numpy as np

from conftest import max_batch_size


def test_ten_thousand_records(client):
    n, dim = 10_000, 32
    rng = np.random.default_rng(11)
    data = rng.random((n, dim), dtype=np.float32)
    col = client.create_collection("big", metadata={"hnsw:search_ef": 200})
    step = min(max_batch_size(client), 5000)
    for start in range(0, n, step):
        end = min(start + step, n)
        col.add(
            ids=[f"id{i}" for i in range(start, end)],
            embeddings=data[start:end].tolist(),
            metadatas=[{"i": i, "even": i % 2 == 0} for i in range(start, end)],
            documents=[f"document number {i}" for i in range(start, end)],
        )
    assert col.count() == n
    q = col.query(query_embeddings=data[[5, 5000, 9999]].tolist(), n_results=5, include=["distances", "metadatas"])
    assert [r[0] for r in q["ids"]] == ["id5", "id5000", "id9999"]
    assert all(d[0] < 1e-5 for d in q["distances"])
    got = col.get(where={"i": {"$gte": 9990}})
    assert sorted(got["ids"]) == sorted(f"id{i}" for i in range(9990, 10000))
    assert len(col.get(where={"even": True}, include=[])["ids"]) == n // 2
    assert len(col.get(limit=100, offset=9950, include=[])["ids"]) == 50
    assert col.get(where_document={"$contains": "number 1234"}, include=[])["ids"] == ["id1234"]
    col.delete(where={"i": {"$lt": 1000}})
    assert col.count() == n - 1000
