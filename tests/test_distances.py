"""Query results against a numpy brute force, for every distance function."""

import numpy as np
import pytest


def brute(space, data, q):
    if space == "l2":
        return ((data - q) ** 2).sum(axis=1)
    if space == "ip":
        return 1.0 - data @ q
    dn = data / np.linalg.norm(data, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q)
    return 1.0 - dn @ qn


@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_distances_match_brute_force(client, space):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    col = client.create_collection(f"dist-{space}", metadata={"hnsw:space": space, "hnsw:search_ef": 300, "hnsw:construction_ef": 200})
    col.add(ids=[str(i) for i in range(len(data))], embeddings=data.tolist())
    res = col.query(query_embeddings=queries.tolist(), n_results=10, include=["distances", "embeddings"])
    for qi, q in enumerate(queries):
        d = brute(space, data.astype(np.float64), q.astype(np.float64))
        order = np.argsort(d, kind="stable")[:10]
        got_ids = [int(i) for i in res["ids"][qi]]
        got_d = np.array(res["distances"][qi])
        assert got_ids == [int(i) for i in order]
        np.testing.assert_allclose(got_d, d[order], rtol=1e-4, atol=1e-4)
        assert list(got_d) == sorted(got_d)
        # returned embeddings are the stored vectors (not normalised)
        np.testing.assert_allclose(np.array(res["embeddings"][qi][0]), data[got_ids[0]], rtol=1e-6)
