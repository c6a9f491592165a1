"""The Search API (`collection.search(Search()...)`) through the official 1.x client, against a
numpy reference: a filtered Knn with select, Rrf of two Knn lists, GroupBy with MinK.

Chroma 1.5.9's own local server refuses search ("not implemented for local executor"); ours
serves it (docs/search.md). Older clients have no Search API, and the in-process package does not
have it yet: those runs skip.
"""

import numpy as np
import pytest

import chromadb
from conftest import IN_PROCESS, V1X_CLIENT

pytestmark = pytest.mark.skipif(
    bool(IN_PROCESS) or not V1X_CLIENT or not hasattr(chromadb, "Search"),
    reason="the Search API is in the 1.x clients, over HTTP",
)

N, DIM = 240, 8


@pytest.fixture
def data(client):
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    col = client.create_collection("search-ref")
    col.add(
        ids=[f"r{i:03d}" for i in range(N)],
        embeddings=vectors.tolist(),
        documents=[f"doc {i}" for i in range(N)],
        metadatas=[{"i": i, "bucket": f"b{i % 4}"} for i in range(N)],
    )
    return col, vectors.astype(np.float64), rng


def l2(vectors, q):
    return ((vectors - q) ** 2).sum(axis=1)


def test_filtered_knn_with_select(data):
    from chromadb import K, Knn, Search

    col, vectors, rng = data
    q = rng.normal(size=DIM)
    search = (
        Search()
        .where(K("bucket") == "b1")
        .rank(Knn(query=q.tolist(), limit=20))
        .limit(5)
        .select(K.DOCUMENT, K.SCORE, "i")
    )
    got = col.search(search)
    d = l2(vectors, q)
    allowed = [i for i in range(N) if i % 4 == 1]
    want = sorted(allowed, key=lambda i: (d[i], i))[:5]
    assert got["ids"][0] == [f"r{i:03d}" for i in want]
    np.testing.assert_allclose(got["scores"][0], d[want], rtol=1e-4, atol=1e-4)
    assert got["documents"][0] == [f"doc {i}" for i in want]
    assert got["metadatas"][0] == [{"i": i} for i in want]


def test_rrf_of_two_knn_lists(data):
    from chromadb import Knn, Rrf, Search

    col, vectors, rng = data
    q1, q2 = rng.normal(size=DIM), rng.normal(size=DIM)
    limit, default, k = 30, 1000.0, 60
    rank = Rrf(
        ranks=[
            Knn(query=q1.tolist(), limit=limit, return_rank=True, default=default),
            Knn(query=q2.tolist(), limit=limit, return_rank=True, default=default),
        ],
        weights=[2.0, 1.0],
        k=k,
    )
    got = col.search(Search().rank(rank).limit(10).select("#score"))
    ranks = []
    for q in (q1, q2):
        d = l2(vectors, q)
        order = sorted(range(N), key=lambda i: (d[i], i))[:limit]
        ranks.append({i: pos for pos, i in enumerate(order)})
    candidates = set(ranks[0]) | set(ranks[1])
    score = {
        i: -(2.0 / (k + ranks[0].get(i, default)) + 1.0 / (k + ranks[1].get(i, default))) for i in candidates
    }
    want = sorted(candidates, key=lambda i: (score[i], f"r{i:03d}"))[:10]
    assert got["ids"][0] == [f"r{i:03d}" for i in want]
    np.testing.assert_allclose(got["scores"][0], [score[i] for i in want], rtol=1e-5)


def test_group_by_min_k(data):
    from chromadb import K, Knn, Search
    from chromadb.execution.expression.operator import GroupBy, MinK

    col, vectors, rng = data
    q = rng.normal(size=DIM)
    search = (
        Search()
        .rank(Knn(query=q.tolist(), limit=N))
        .group_by(GroupBy(keys=[K("bucket")], aggregate=MinK(keys=[K.SCORE], k=2)))
        .limit(8)
        .select(K.SCORE, "bucket")
    )
    got = col.search(search)
    d = l2(vectors, q)
    kept = []
    for b in range(4):
        members = sorted((i for i in range(N) if i % 4 == b), key=lambda i: (d[i], i))
        kept += members[:2]
    want = sorted(kept, key=lambda i: (d[i], i))
    assert got["ids"][0] == [f"r{i:03d}" for i in want]
    assert [m["bucket"] for m in got["metadatas"][0]] == [f"b{i % 4}" for i in want]
    np.testing.assert_allclose(got["scores"][0], d[want], rtol=1e-4, atol=1e-4)
