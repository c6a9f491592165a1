"""Collection.search in process (the 1.x Search API through the native engine), against a NumPy
reference on random data: a filtered Knn with select, Rrf of two Knn lists (return_rank), a
weighted sum with defaults, GroupBy + MinK, paging, filters matching none, one and all records,
text queries embedded by the collection's embedding function, and chromadb's own Search objects
when chromadb is importable."""

import uuid

import numpy as np
import pytest

import chroma_rs

N, DIM = 80, 6


def _data(seed=7):
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((N, DIM)).astype(np.float32)
    ids = [f"r{i:03d}" for i in range(N)]
    metas = [{"g": i % 4, "x": float(rng.random()), "tag": "one" if i == 5 else "many"} for i in range(N)]
    docs = [f"document {i}" for i in range(N)]
    return ids, emb, metas, docs


# Each test on its own folder: the process shares one ephemeral engine, whose settings other test
# files choose first.
@pytest.fixture()
def coll(tmp_path):
    client = chroma_rs.PersistentClient(path=str(tmp_path))
    c = client.create_collection(f"search_ref_{uuid.uuid4().hex}", embedding_function=None)
    ids, emb, metas, docs = _data()
    c.add(ids=ids, embeddings=emb, metadatas=metas, documents=docs)
    return c


def _l2(emb, q):
    # Chroma's l2 is the squared distance, computed in f32
    d = emb - np.asarray(q, dtype=np.float32)
    return (d * d).sum(axis=1)


def _knn(emb, q, allowed, limit):
    """(index, distance) of the `limit` nearest allowed rows, ties by id (= index here)."""
    dist = _l2(emb, q)
    order = sorted((i for i in range(N) if allowed[i]), key=lambda i: (dist[i], i))
    return [(i, float(dist[i])) for i in order[:limit]]


def _knn_dict(q, limit=16, **kw):
    return {"$knn": {"query": [float(x) for x in q], "limit": limit, **kw}}


def _rank_ref(scores):
    """Records sorted by score, then id; returns (ids, scores)."""
    order = sorted(scores, key=lambda i: (scores[i], i))
    return [f"r{i:03d}" for i in order], [scores[i] for i in order]


def test_filtered_knn_with_select(coll):
    ids, emb, metas, docs = _data()
    q = np.random.default_rng(1).standard_normal(DIM)
    allowed = [m["g"] == 1 for m in metas]
    res = coll.search({"filter": {"g": 1}, "rank": _knn_dict(q, 10), "limit": {"limit": 5},
                       "select": {"keys": ["#score", "#document", "x"]}})
    ref = _knn(emb, q, allowed, 10)[:5]
    assert res["ids"] == [[f"r{i:03d}" for i, _ in ref]]
    np.testing.assert_allclose(res["scores"][0], [d for _, d in ref], rtol=1e-5, atol=1e-5)
    assert res["documents"][0] == [docs[i] for i, _ in ref]
    assert res["metadatas"][0] == [{"x": metas[i]["x"]} for i, _ in ref]
    assert res["embeddings"] == [None]
    rows = res.rows()[0]
    assert rows[0]["id"] == res["ids"][0][0] and rows[0]["document"] == docs[ref[0][0]]


@pytest.mark.parametrize("where,count", [({"tag": "none"}, 0), ({"tag": "one"}, 1), (None, N)])
def test_filters_matching_none_one_all(coll, where, count):
    ids, emb, metas, docs = _data()
    q = np.random.default_rng(2).standard_normal(DIM)
    s = {"rank": _knn_dict(q, N), "select": {"keys": ["#score"]}}
    if where is not None:
        s["filter"] = where
    res = coll.search([s, s])
    assert len(res["ids"]) == 2
    allowed = [where is None or m["tag"] == where["tag"] for m in metas]
    ref = _knn(emb, q, allowed, N)
    assert len(ref) == count
    assert res["ids"][0] == [f"r{i:03d}" for i, _ in ref] == res["ids"][1]


def test_rrf_of_two_knn_lists(coll):
    ids, emb, metas, docs = _data()
    rng = np.random.default_rng(3)
    q1, q2 = rng.standard_normal(DIM), rng.standard_normal(DIM)
    k, w1, w2 = 60.0, 0.7, 0.3
    # Rrf as the clients expand it: -(w1/(k+r1) + w2/(k+r2)), ranks 0-based
    term = lambda q, w: {"$div": {"left": {"$val": w}, "right": {"$sum": [{"$val": k}, _knn_dict(q, 20, return_rank=True)]}}}
    rank = {"$mul": [{"$val": -1.0}, {"$sum": [term(q1, w1), term(q2, w2)]}]}
    res = coll.search({"rank": rank, "limit": {"limit": 10}, "select": {"keys": ["#score"]}})
    r1 = {i: r for r, (i, _) in enumerate(_knn(emb, q1, [True] * N, 20))}
    r2 = {i: r for r, (i, _) in enumerate(_knn(emb, q2, [True] * N, 20))}
    # a record missing from a list without a default is dropped
    both = set(r1) & set(r2)
    scores = {i: -(w1 / (k + r1[i]) + w2 / (k + r2[i])) for i in both}
    want_ids, want_scores = _rank_ref(scores)
    assert res["ids"][0] == want_ids[:10]
    np.testing.assert_allclose(res["scores"][0], want_scores[:10], rtol=1e-6)


def test_weighted_sum_with_defaults_and_paging(coll):
    ids, emb, metas, docs = _data()
    rng = np.random.default_rng(4)
    q1, q2 = rng.standard_normal(DIM), rng.standard_normal(DIM)
    rank = {"$sum": [{"$mul": [{"$val": 0.8}, _knn_dict(q1, 15, default=100.0)]},
                     {"$mul": [{"$val": 0.2}, _knn_dict(q2, 15, default=100.0)]}]}
    res = coll.search({"rank": rank, "limit": {"offset": 3, "limit": 7}, "select": {"keys": ["#score"]}})
    d1 = dict(_knn(emb, q1, [True] * N, 15))
    d2 = dict(_knn(emb, q2, [True] * N, 15))
    scores = {i: 0.8 * d1.get(i, 100.0) + 0.2 * d2.get(i, 100.0) for i in set(d1) | set(d2)}
    want_ids, want_scores = _rank_ref(scores)
    assert res["ids"][0] == want_ids[3:10]
    np.testing.assert_allclose(res["scores"][0], want_scores[3:10], rtol=1e-5)


def test_group_by_min_k(coll):
    ids, emb, metas, docs = _data()
    q = np.random.default_rng(5).standard_normal(DIM)
    res = coll.search({"rank": _knn_dict(q, 40), "group_by": {"keys": ["g"], "aggregate": {"$min_k": {"keys": ["#score"], "k": 2}}},
                       "select": {"keys": ["#score", "g"]}})
    top = _knn(emb, q, [True] * N, 40)
    kept = {}
    for i, d in top:  # nearest first: the first two per group are its two smallest scores
        kept.setdefault(metas[i]["g"], [])
        if len(kept[metas[i]["g"]]) < 2:
            kept[metas[i]["g"]].append((i, d))
    want = sorted((d, i) for group in kept.values() for i, d in group)
    assert res["ids"][0] == [f"r{i:03d}" for _, i in want]
    assert [m["g"] for m in res["metadatas"][0]] == [metas[i]["g"] for _, i in want]


def test_text_query_is_embedded_by_the_collection_function(tmp_path):
    calls = []

    class Ef:
        def __call__(self, texts):
            calls.append(list(texts))
            return [[float(len(t)), 1.0, 0.0] for t in texts]

        def name(self):
            return "test-ef"

    client = chroma_rs.PersistentClient(path=str(tmp_path))
    c = client.create_collection(f"search_text_{uuid.uuid4().hex}", embedding_function=Ef())
    c.add(ids=["a", "b", "c"], embeddings=[[3.0, 1.0, 0.0], [9.0, 1.0, 0.0], [20.0, 1.0, 0.0]])
    res = c.search({"rank": {"$knn": {"query": "nine char", "limit": 2}}})
    assert calls == [["nine char"]]
    assert res["ids"] == [["b", "a"]]


def test_bad_search_is_a_clear_error(coll):
    with pytest.raises(Exception, match="Unknown rank operator"):
        coll.search({"rank": {"$nope": 1}})
    with pytest.raises(TypeError):
        coll.search(42)
    with pytest.raises(ValueError, match="sparse embedding function"):
        coll.search({"rank": {"$knn": {"query": "text", "key": "sparse"}}})


def test_chromadb_search_objects(coll):
    expr = pytest.importorskip("chromadb.execution.expression")
    ids, emb, metas, docs = _data()
    q = np.random.default_rng(6).standard_normal(DIM)
    s = expr.Search().where(expr.Key("g") == 2).rank(expr.Knn(query=q.tolist(), limit=8)).limit(4).select(expr.Key.SCORE)
    res = coll.search(s)
    ref = _knn(emb, q, [m["g"] == 2 for m in metas], 8)[:4]
    assert res["ids"] == [[f"r{i:03d}" for i, _ in ref]]
