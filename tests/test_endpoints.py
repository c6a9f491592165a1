"""Every endpoint a client line uses, through the official client."""

import pytest

from conftest import V04_CLIENT, V1_CLIENT, V1X_CLIENT, VERSION, http_client, max_batch_size


def test_heartbeat_and_version(client):
    assert client.heartbeat() > 0
    assert isinstance(client.get_version(), str)


def test_max_batch_size(client):
    assert max_batch_size(client) > 0


def test_collection_lifecycle(client):
    col = client.create_collection("life", metadata={"hnsw:space": "cosine", "owner": "me", "n": 1, "f": 1.5})
    assert col.name == "life"
    assert col.metadata["owner"] == "me"
    assert col.metadata["n"] == 1 and isinstance(col.metadata["n"], int)
    assert col.metadata["f"] == 1.5

    same = client.get_collection("life")
    assert same.id == col.id
    again = client.get_or_create_collection("life")
    assert again.id == col.id
    other = client.get_or_create_collection("other")
    assert other.id != col.id

    names = sorted(c.name if hasattr(c, "name") else c for c in client.list_collections())
    assert names == ["life", "other"]
    assert client.count_collections() == 2
    limited = client.list_collections(limit=1)
    assert len(limited) == 1
    assert len(client.list_collections(limit=1, offset=1)) == 1
    assert len(client.list_collections(offset=2)) == 0

    col.modify(name="life2", metadata={"owner": "you"})
    got = client.get_collection("life2")
    assert got.id == col.id
    assert got.metadata == {"owner": "you"}
    with pytest.raises(Exception):
        client.get_collection("life")

    client.delete_collection("life2")
    client.delete_collection("other")
    assert client.count_collections() == 0


@pytest.mark.skipif(not V1X_CLIENT, reason="get_collection_by_id is a 1.x client method")
def test_get_collection_by_id(client):
    col = client.create_collection("byid")
    assert client.get_collection_by_id(col.id).name == "byid"


def test_records_roundtrip(client):
    col = client.create_collection("recs")
    col.add(
        ids=["a", "b", "c"],
        embeddings=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        metadatas=[{"k": 1, "s": "x", "t": True, "f": 2.5}, {"k": 2}, None],
        documents=["hello world", "foo bar", None],
    )
    assert col.count() == 3
    r = col.get(ids=["a"], include=["embeddings", "metadatas", "documents"])
    assert r["ids"] == ["a"]
    assert list(r["embeddings"][0]) == [1.0, 0.0, 0.0]
    assert r["metadatas"][0] == {"k": 1, "s": "x", "t": True, "f": 2.5}
    assert isinstance(r["metadatas"][0]["k"], int) and isinstance(r["metadatas"][0]["t"], bool)
    assert r["documents"] == ["hello world"]
    r = col.get(ids=["c"])
    assert r["metadatas"] == [None] and r["documents"] == [None]

    # add of an existing id is ignored
    col.add(ids=["a"], embeddings=[[9.0, 9.0, 9.0]], documents=["changed"])
    assert col.get(ids=["a"])["documents"] == ["hello world"]

    # update merges metadata, keeps what is not given
    col.update(ids=["a"], metadatas=[{"k": 5, "new": "y"}])
    r = col.get(ids=["a"], include=["metadatas", "documents", "embeddings"])
    assert r["metadatas"][0] == {"k": 5, "s": "x", "t": True, "f": 2.5, "new": "y"}
    assert r["documents"] == ["hello world"]
    col.update(ids=["a"], documents=["bye"], embeddings=[[0.5, 0.5, 0.0]])
    r = col.get(ids=["a"], include=["documents", "embeddings"])
    assert r["documents"] == ["bye"]
    assert list(r["embeddings"][0]) == [0.5, 0.5, 0.0]
    # update of a missing id is ignored
    col.update(ids=["zzz"], metadatas=[{"x": 1}])
    assert col.count() == 3

    # upsert inserts and updates
    col.upsert(ids=["b", "d"], embeddings=[[0.0, 2.0, 0.0], [1.0, 1.0, 1.0]], metadatas=[{"z": 1}, {"z": 2}])
    assert col.count() == 4
    r = col.get(ids=["b"], include=["metadatas", "embeddings"])
    assert r["metadatas"][0] == {"k": 2, "z": 1}
    assert list(r["embeddings"][0]) == [0.0, 2.0, 0.0]

    # peek, limit/offset
    assert len(col.peek(2)["ids"]) == 2
    allids = col.get()["ids"]
    assert sorted(allids) == ["a", "b", "c", "d"]
    assert col.get(limit=2)["ids"] == allids[:2]
    assert col.get(limit=2, offset=2)["ids"] == allids[2:]
    if V04_CLIENT:
        assert allids == ["a", "b", "c", "d"], "0.4.x orders get() by id"

    # include variants
    r = col.get(ids=["b"], include=[])
    assert r["ids"] == ["b"]
    assert r.get("documents") is None and r.get("metadatas") is None
    q = col.query(query_embeddings=[[0.0, 0.0, 1.0]], n_results=2, include=["embeddings", "distances"])
    assert q["ids"][0][0] == "c"
    assert q["distances"][0][0] == pytest.approx(0.0)
    assert q.get("documents") is None

    # delete
    col.delete(ids=["d", "nonexistent"])
    assert col.count() == 3
    col.delete(where={"k": 2})
    assert sorted(col.get()["ids"]) == ["a", "c"]
    col.delete(where_document={"$contains": "bye"})
    assert col.get()["ids"] == ["c"]


def test_query_more_results_than_records(client):
    col = client.create_collection("few")
    col.add(ids=["a", "b"], embeddings=[[0.0, 1.0], [1.0, 0.0]])
    q = col.query(query_embeddings=[[0.0, 1.0], [1.0, 0.0]], n_results=10)
    assert q["ids"] == [["a", "b"], ["b", "a"]]


def test_empty_collection(client):
    col = client.create_collection("empty")
    assert col.count() == 0
    assert col.get()["ids"] == []
    assert col.peek()["ids"] == []


def test_tenants_and_databases(admin, server):
    admin.create_tenant("tenant_a")
    assert admin.get_tenant("tenant_a")["name"] == "tenant_a"
    admin.create_database("db_a", tenant="tenant_a")
    assert admin.get_database("db_a", tenant="tenant_a")["name"] == "db_a"
    assert str(admin.get_database("default_database", tenant="default_tenant")["id"]) == "00000000-0000-0000-0000-000000000000"
    with pytest.raises(Exception):
        admin.get_tenant("no_such_tenant")
    with pytest.raises(Exception):
        admin.create_tenant("tenant_a")
    with pytest.raises(Exception):
        admin.get_database("nodb", tenant="tenant_a")

    scoped = http_client(server, tenant="tenant_a", database="db_a")
    default = http_client(server)
    scoped.create_collection("same_name")
    default.create_collection("same_name")
    scoped.get_collection("same_name").add(ids=["x"], embeddings=[[1.0]])
    assert scoped.get_collection("same_name").count() == 1
    assert default.get_collection("same_name").count() == 0
    assert scoped.count_collections() == 1
    with pytest.raises(Exception):
        http_client(server, tenant="no_such_tenant")
    with pytest.raises(Exception):
        http_client(server, tenant="tenant_a", database="no_such_db")


@pytest.mark.skipif(VERSION < (0, 5, 23), reason="list/delete database arrived with the v2 admin API")
def test_list_and_delete_databases(admin):
    admin.create_tenant("tenant_b")
    admin.create_database("db1", tenant="tenant_b")
    admin.create_database("db2", tenant="tenant_b")
    if hasattr(admin, "list_databases"):
        names = sorted(d["name"] for d in admin.list_databases(tenant="tenant_b"))
        assert names == ["db1", "db2"]
    if hasattr(admin, "delete_database"):
        admin.delete_database("db1", tenant="tenant_b")
        with pytest.raises(Exception):
            admin.get_database("db1", tenant="tenant_b")
