"""Failures reach each client line as the exception class that line's own server produced."""

import pytest

import chromadb.errors as errors
from conftest import V04_CLIENT, V1X_CLIENT, VERSION

# 0.4.x and 0.5.x clients (v1, and v2 from 0.5.16) get the error names of the 0.5 server
# they were released with; 1.x clients get 1.x's.
PRE_1X = not V1X_CLIENT


def _cls(name):
    return getattr(errors, name, None)


def test_missing_collection(client):
    with pytest.raises(Exception) as e:
        client.get_collection("does-not-exist")
    assert "does not exist" in str(e.value)
    if V04_CLIENT:
        assert type(e.value) is Exception  # 0.4.24 server: 500 ValueError repr
    elif PRE_1X:
        assert isinstance(e.value, errors.InvalidCollectionException)
    else:
        assert isinstance(e.value, errors.NotFoundError)


def test_duplicate_collection(client):
    client.create_collection("dup")
    with pytest.raises(Exception) as e:
        client.create_collection("dup")
    assert "already exists" in str(e.value)
    if V1X_CLIENT:
        assert isinstance(e.value, errors.UniqueConstraintError)


def test_dimension_mismatch(client):
    col = client.create_collection("dims")
    col.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    with pytest.raises(Exception) as e:
        col.add(ids=["b"], embeddings=[[1.0, 2.0]])
    if PRE_1X:
        assert "dimensionality" in str(e.value)
        if not V04_CLIENT:
            assert isinstance(e.value, errors.InvalidDimensionException)
    else:
        assert "dimension" in str(e.value)
        if _cls("InvalidArgumentError"):
            assert isinstance(e.value, errors.InvalidArgumentError)
    with pytest.raises(Exception) as e:
        col.query(query_embeddings=[[1.0, 2.0]])
    if PRE_1X:
        assert isinstance(e.value, errors.InvalidDimensionException)
    assert col.count() == 1


def test_invalid_collection_name(client):
    for bad in ["ab", "-abc", "a..b", "192.168.1.1"]:
        with pytest.raises(Exception):
            client.create_collection(bad)
    assert client.count_collections() == 0


def test_deleted_collection_handle(client):
    col = client.create_collection("gone")
    col.add(ids=["a"], embeddings=[[1.0]])
    client.delete_collection("gone")
    with pytest.raises(Exception):
        col.add(ids=["b"], embeddings=[[1.0]])
    with pytest.raises(Exception):
        col.query(query_embeddings=[[1.0]])


def test_missing_tenant_and_database(admin):
    with pytest.raises(Exception) as e:
        admin.get_tenant("nope_tenant")
    if not V04_CLIENT:
        assert isinstance(e.value, errors.NotFoundError)
    with pytest.raises(Exception):
        admin.get_database("nope_db", tenant="default_tenant")
    with pytest.raises(Exception):
        admin.create_tenant("ab")


def test_client_side_validation_still_works(client):
    col = client.create_collection("val")
    with pytest.raises(Exception):
        col.add(ids=["a", "a"], embeddings=[[1.0], [2.0]])
    with pytest.raises(ValueError):
        col.get(where={"a": {"$bogus": 1}})
    assert col.count() == 0
