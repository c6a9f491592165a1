"""Every `where` and `where_document` operator, checked against a Python evaluation of the
same filter over the same records."""

import pytest

from conftest import V1_CLIENT, V1X_CLIENT

RECORDS = [
    ("r1", {"int": 1, "float": 1.5, "str": "apple", "bool": True}, "The quick brown fox"),
    ("r2", {"int": 2, "float": 2.5, "str": "banana", "bool": False}, "jumps over the lazy dog"),
    ("r3", {"int": 3, "float": 3.5, "str": "cherry"}, "Lorem ipsum dolor"),
    ("r4", {"int": 4, "str": "apple"}, None),
    ("r5", {"float": 0.5, "bool": True}, "quick quick"),
    ("r6", None, "no metadata here"),
    ("r7", {"int": -7, "float": -1.25, "str": "Zed"}, None),
]

# API v1 lines (0.4.x/0.5.15 servers) match $ne/$nin only on records that have the key and
# $not_contains only on records that have a document; API v2 (1.x) matches missing ones too.
STRICT_MISSING = V1_CLIENT


def _cmp(op, have, want):
    if isinstance(want, bool) or isinstance(have, bool):
        if not (isinstance(want, bool) and isinstance(have, bool)):
            return False
    elif isinstance(want, str) != isinstance(have, str):
        return False
    if op == "$eq":
        return have == want
    if op == "$ne":
        return have != want
    if op == "$gt":
        return have > want
    if op == "$gte":
        return have >= want
    if op == "$lt":
        return have < want
    if op == "$lte":
        return have <= want
    raise AssertionError(op)


def match_where(md, w):
    md = md or {}
    (key, val), = w.items()
    if key == "$and":
        return all(match_where(md, x) for x in val)
    if key == "$or":
        return any(match_where(md, x) for x in val)
    if not isinstance(val, dict):
        val = {"$eq": val}
    (op, operand), = val.items()
    if key not in md:
        return op in ("$ne", "$nin") and not STRICT_MISSING
    have = md[key]
    if op == "$in":
        return any(_cmp("$eq", have, x) for x in operand)
    if op == "$nin":
        return not any(_cmp("$eq", have, x) for x in operand)
    if op == "$ne":
        # a value of another type is "not equal"
        return not _cmp("$eq", have, operand)
    return _cmp(op, have, operand)


def match_doc(doc, w):
    (op, val), = w.items()
    if op == "$and":
        return all(match_doc(doc, x) for x in val)
    if op == "$or":
        return any(match_doc(doc, x) for x in val)
    if doc is None:
        return op == "$not_contains" and not STRICT_MISSING
    if op == "$contains":
        return val in doc
    if op == "$not_contains":
        return val not in doc
    raise AssertionError(op)


WHERES = [
    {"int": 2},
    {"str": "apple"},
    {"bool": True},
    {"int": {"$eq": 3}},
    {"float": {"$eq": 2.5}},
    {"int": {"$ne": 2}},
    {"str": {"$ne": "apple"}},
    {"bool": {"$ne": True}},
    {"int": {"$gt": 2}},
    {"int": {"$gte": 2}},
    {"int": {"$lt": 2}},
    {"int": {"$lte": 2}},
    {"float": {"$gt": 1}},
    {"float": {"$lte": 1.5}},
    {"int": {"$gt": 1.5}},
    {"int": {"$in": [1, 3, 99]}},
    {"str": {"$in": ["apple", "Zed"]}},
    {"int": {"$nin": [1, 3]}},
    {"str": {"$nin": ["apple"]}},
    {"$and": [{"int": {"$gte": 1}}, {"str": "apple"}]},
    {"$or": [{"int": 1}, {"float": 0.5}]},
    {"$or": [{"$and": [{"int": {"$gt": 0}}, {"int": {"$lt": 3}}]}, {"str": "Zed"}]},
    {"str": "nonexistent"},
]

DOCS = [
    {"$contains": "quick"},
    {"$contains": "lazy dog"},
    {"$not_contains": "quick"},
    {"$and": [{"$contains": "quick"}, {"$contains": "fox"}]},
    {"$or": [{"$contains": "Lorem"}, {"$contains": "lazy"}]},
]


@pytest.fixture
def col(client):
    c = client.create_collection("filters")
    c.add(
        ids=[r[0] for r in RECORDS],
        embeddings=[[float(i), 1.0] for i in range(len(RECORDS))],
        metadatas=[r[1] for r in RECORDS],
        documents=[r[2] for r in RECORDS],
    )
    return c


def expected(where=None, where_document=None):
    out = []
    for rid, md, doc in RECORDS:
        if where is not None and not match_where(md, where):
            continue
        if where_document is not None and not match_doc(doc, where_document):
            continue
        out.append(rid)
    return sorted(out)


@pytest.mark.parametrize("where", WHERES, ids=[str(w) for w in WHERES])
def test_where(col, where):
    assert sorted(col.get(where=where)["ids"]) == expected(where=where)


@pytest.mark.parametrize("wd", DOCS, ids=[str(w) for w in DOCS])
def test_where_document(col, wd):
    assert sorted(col.get(where_document=wd)["ids"]) == expected(where_document=wd)


def test_combined_and_query(col):
    w, wd = {"int": {"$gte": 1}}, {"$contains": "quick"}
    assert sorted(col.get(where=w, where_document=wd)["ids"]) == expected(w, wd)
    q = col.query(query_embeddings=[[0.0, 1.0]], n_results=10, where={"str": "apple"})
    assert sorted(q["ids"][0]) == expected({"str": "apple"})
    q = col.query(query_embeddings=[[0.0, 1.0]], n_results=1, where_document={"$contains": "Lorem"})
    assert q["ids"] == [["r3"]]
    assert col.get(ids=["r1", "r2"], where={"int": 2})["ids"] == ["r2"]


def test_contains_is_case_sensitive(col):
    assert col.get(where_document={"$contains": "lorem"})["ids"] == []


@pytest.mark.skipif(not V1X_CLIENT, reason="$regex / array metadata are 1.x features")
def test_regex_and_arrays(client):
    c = client.create_collection("onex")
    c.add(
        ids=["a", "b", "c"],
        embeddings=[[1.0], [2.0], [3.0]],
        documents=["hello world", "help wanted", None],
        metadatas=[{"tags": ["x", "y"], "nums": [1, 2]}, {"tags": ["z"]}, {"n": 1}],
    )
    assert sorted(c.get(where_document={"$regex": "w.r"})["ids"]) == ["a"]
    assert sorted(c.get(where_document={"$not_regex": "^hel"})["ids"]) == ["c"]
    assert c.get(where={"tags": {"$contains": "y"}})["ids"] == ["a"]
    assert c.get(where={"nums": {"$contains": 2}})["ids"] == ["a"]
    assert sorted(c.get(where={"tags": {"$not_contains": "y"}})["ids"]) == ["b", "c"]
    assert c.get(ids=["a"])["metadatas"][0]["tags"] == ["x", "y"]
    q = c.query(query_embeddings=[[1.0]], n_results=3, ids=["b", "c"])
    assert q["ids"] == [["b", "c"]]
