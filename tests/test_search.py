"""The Search API (`collection.search(Search()...)`) through the official 1.x client, against a
numpy reference: a filtered Knn with select, Rrf of two Knn lists, GroupBy with MinK.

Chroma 1.5.9's own local server refuses search ("not implemented for local executor"); ours
serves it (docs/search.md). Older clients have no Search API, and the in-process runs (chroma_rs,
which takes chromadb's Search objects but does not define them) skip: its own
crates/python/tests/test_search.py covers Collection.search in process.
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


# Sentences with shared and repeated words, of different lengths (BM25's length normalisation).
BM25_DOCS = [
    "the quick brown fox jumps over the lazy dog",
    "a quick brown dog outpaces a quick red fox",
    "foxes are quick and clever animals of the forest",
    "the dog sleeps all day in the sun",
    "brown bears and brown foxes live in the northern forest",
    "nothing to see here at all",
    "quick quick quick: the fastest fox of them all",
    "clever dogs learn quick tricks from clever trainers",
    "the forest is quiet at night",
    "a red fox and a brown fox met a lazy brown dog in the forest by the river",
]


def test_bm25_sparse_index_through_the_schema(client):
    """A sparse vector index on a metadata key, sourced from #document by
    ChromaBm25EmbeddingFunction with bm25=True: the client embeds the documents into the key,
    the server stores them exactly, and a text Knn on the key (embedded by the client with the
    same function) ranks by Okapi BM25: sum over query terms of IDF(t) times the document's
    term weight (docs/search.md)."""
    from chromadb import K, Knn, Search
    from chromadb.api.types import Schema, SparseVectorIndexConfig
    from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction

    ef = ChromaBm25EmbeddingFunction()
    schema = Schema().create_index(
        key="bm25", config=SparseVectorIndexConfig(source_key="#document", embedding_function=ef, bm25=True)
    )
    col = client.create_collection("bm25-ref", schema=schema)
    n = len(BM25_DOCS)
    rng = np.random.default_rng(5)
    ids = [f"d{i:02d}" for i in range(n)]
    col.add(ids=ids, embeddings=rng.normal(size=(n, 4)).tolist(), documents=BM25_DOCS)
    stored = col.get(ids=ids, include=["metadatas"])["metadatas"]
    vectors = ef(BM25_DOCS)
    for m, v in zip(stored, vectors):
        assert m["bm25"].indices == v.indices
        np.testing.assert_allclose(m["bm25"].values, v.values, rtol=1e-6)
    # the schema comes back with the index, its source key and function
    cfg = col.schema.keys["bm25"].sparse_vector.sparse_vector_index.config
    assert (cfg.source_key, cfg.bm25) == ("#document", True)

    for text in ["quick brown fox", "lazy dog in the forest", "clever", "unknownword"]:
        got = col.search(Search().rank(Knn(query=text, key="bm25", limit=5)).select(K.SCORE))
        q = ef.embed_query([text])[0]
        df = {t: sum(t in v.indices for v in vectors) for t in q.indices}
        idf = {t: np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q.indices}
        scores = {}
        for i, v in enumerate(vectors):
            w = dict(zip(v.indices, v.values))
            shared = [t for t in q.indices if t in w]
            if shared:
                scores[i] = -sum(idf[t] * w[t] for t in shared)
        want = sorted(scores, key=lambda i: (scores[i], ids[i]))[:5]
        assert got["ids"][0] == [ids[i] for i in want], text
        np.testing.assert_allclose(got["scores"][0], [scores[i] for i in want], rtol=1e-5)
