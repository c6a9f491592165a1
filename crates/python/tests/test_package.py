"""The chroma_rs package in process: what chromadb users write, run against our engine.

Run with `bash scripts/test.sh python` (builds the wheel into a venv), or directly with
`pytest crates/python/tests` in a venv where `pip install ./crates/python` was done.
"""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import chroma_rs
import chroma_rs as chromadb
from chroma_rs.config import Settings
from chroma_rs import errors

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def run_snippet(code, tmp_path, **replacements):
    """Runs a snippet as a user would, with `chromadb` resolving to chroma_rs (as
    `import chroma_rs as chromadb` does); only data (paths, ports) may be replaced."""
    for old, new in replacements.items():
        code = code.replace(old, new)
    script = tmp_path / "snippet.py"
    script.write_text(
        "import sys, chroma_rs, chroma_rs.config\n"
        "sys.modules['chromadb'] = chroma_rs\n"
        "sys.modules['chromadb.config'] = chroma_rs.config\n" + textwrap.dedent(code)
    )
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)


# The Python snippets of Chroma's 0.4.0 migration page (the document chroma-rs started from),
# as written there, typo (`anonymized_telemtry`) included.
SEED_AFTER_EPHEMERAL = """
import chromadb
client = chromadb.Client()

import chromadb
client = chromadb.EphemeralClient()
"""
SEED_BEFORE_PERSISTENT = """
import chromadb
from chromadb.config import Settings
client = chromadb.Client(Settings(
    chroma_db_impl="duckdb+parquet",
    persist_directory="/path/to/persist/directory" # Optional, defaults to .chromadb/ in the current directory
))
"""
SEED_AFTER_PERSISTENT = """
import chromadb
client = chromadb.PersistentClient(path="/path/to/persist/directory")
"""
SEED_BEFORE_HTTP = """
import chromadb
from chromadb.config import Settings
client = chromadb.Client(Settings(chroma_api_impl="rest",
                                        chroma_server_host="localhost",
                                        chroma_server_http_port="8000"
                                    ))
"""
SEED_TELEMETRY = """
import chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(
    path="/path/to/persist/directory", 
    settings=Settings(anonymized_telemtry=False))
"""


def test_seed_new_clients_run(tmp_path):
    for code in (SEED_AFTER_EPHEMERAL, SEED_AFTER_PERSISTENT, SEED_TELEMETRY):
        r = run_snippet(code + "\nprint(client.heartbeat())\n", tmp_path, **{"/path/to/persist/directory": str(tmp_path / "db")})
        assert r.returncode == 0, r.stderr
        assert int(r.stdout.strip()) > 0
    assert (tmp_path / "db" / "chroma.sqlite3").exists() or any((tmp_path / "db").iterdir())


@pytest.mark.parametrize("code", [SEED_BEFORE_PERSISTENT, SEED_BEFORE_HTTP])
def test_seed_old_clients_are_refused_naming_the_migration(tmp_path, code):
    r = run_snippet(code, tmp_path, **{"/path/to/persist/directory": str(tmp_path / "old")})
    assert r.returncode != 0
    assert "ValueError" in r.stderr
    assert "chroma-rs migrate" in r.stderr
    assert not (tmp_path / "old").exists()


@pytest.fixture(params=["ephemeral", "persistent"])
def client(request, tmp_path):
    if request.param == "ephemeral":
        c = chromadb.EphemeralClient(settings=Settings(allow_reset=True))
        c.reset()
        return c
    return chromadb.PersistentClient(path=str(tmp_path / "db"))


def test_records_round_trip_with_numpy(client):
    col = client.create_collection("numpy_in", metadata={"hnsw:space": "cosine"})
    emb = np.random.default_rng(1).random((50, 8), dtype=np.float64)
    col.add(
        ids=[f"id{i}" for i in range(50)],
        embeddings=emb,
        documents=[f"doc {i}" for i in range(50)],
        metadatas=[{"i": i, "even": i % 2 == 0, "f": i / 2, "tags": ["a", "b"]} for i in range(50)],
    )
    assert col.count() == 50
    assert col.count(read_level="index_only") == 50  # 1.x's keyword, accepted
    got = col.get(ids=["id3", "id1"], include=["embeddings", "metadatas", "documents"])
    assert got["ids"] == ["id1", "id3"]  # insertion order, as chromadb 1.x returns them
    assert isinstance(got["embeddings"], np.ndarray) and got["embeddings"].shape == (2, 8)
    assert got["embeddings"].dtype == np.float64
    np.testing.assert_allclose(got["embeddings"][1], emb[3].astype(np.float32), rtol=0, atol=0)
    assert got["metadatas"][1] == {"i": 3, "even": False, "f": 1.5, "tags": ["a", "b"]}
    assert isinstance(got["metadatas"][1]["i"], int) and isinstance(got["metadatas"][1]["f"], float)
    assert got["documents"] == ["doc 1", "doc 3"]
    assert set(got) == {"ids", "embeddings", "documents", "uris", "data", "metadatas", "included"}

    q = col.query(query_embeddings=emb[7], n_results=3, where={"even": False}, include=["distances", "embeddings"])
    assert q["ids"][0][0] == "id7"
    assert all(int(i[2:]) % 2 == 1 for i in q["ids"][0])
    assert isinstance(q["embeddings"][0], np.ndarray) and q["embeddings"][0].shape == (3, 8)
    assert q["distances"][0][0] == pytest.approx(0.0, abs=1e-5)
    assert isinstance(q["distances"][0][0], float)

    q2 = col.query(query_embeddings=emb[:2].astype(np.float32), n_results=3, where_document={"$contains": "doc 1"})
    assert len(q2["ids"]) == 2 and q2["ids"][1][0] == "id1"
    assert all(d.startswith("doc 1") for docs in q2["documents"] for d in docs)

    col.update(ids="id1", metadatas={"i": 100})
    assert col.get(ids="id1")["metadatas"][0]["i"] == 100
    col.upsert(ids=["id1", "new"], embeddings=[[0.5] * 8, [0.25] * 8])
    assert col.count() == 51
    assert col.delete(where={"i": {"$lt": 10}}) == {"deleted": 9}  # id1 now has i=100
    assert col.count() == 42
    peek = col.peek(2)
    assert len(peek["ids"]) == 2 and peek["embeddings"].shape == (2, 8)


def test_errors_have_chromadb_names(client):
    col = client.create_collection("errs")
    col.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    with pytest.raises(errors.InvalidArgumentError, match="dimension"):
        col.add(ids=["b"], embeddings=[[1.0, 2.0]])
    with pytest.raises(errors.NotFoundError):
        client.get_collection("does_not_exist")
    with pytest.raises(errors.UniqueConstraintError):
        client.create_collection("errs")
    with pytest.raises(errors.InternalError):  # what chromadb 1.x's in-process client raises here
        client.create_collection("errs")
    with pytest.raises(errors.DuplicateIDError, match="found duplicates of: z"):
        col.add(ids=["z", "z"], embeddings=[[1, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError, match=r"Non-empty lists are required for \['ids'\] in add\."):
        col.add(ids=[], embeddings=[])
    with pytest.raises(ValueError, match="Unequal lengths for fields: ids: 2, embeddings: 1 in add."):
        col.add(ids=["p", "q"], embeddings=[[1, 2, 3]])
    with pytest.raises(ValueError, match="Include item cannot be one of distances"):
        col.get(include=["distances"])
    with pytest.raises(TypeError, match="Number of requested results 0"):
        col.query(query_embeddings=[[1, 2, 3]], n_results=0)
    with pytest.raises(ValueError, match="At least one of ids, where, or where_document"):
        col.delete()
    with pytest.raises(ValueError):  # an engine-side filter error is a ValueError too
        col.get(where={"a": {"$bad": 1}})
    assert col.count() == 1  # nothing above wrote anything


@pytest.mark.skipif(not os.environ.get("CHROMA_RS_MODEL_DIR"), reason="CHROMA_RS_MODEL_DIR not set (scripts/test.sh sets it)")
def test_documents_without_embeddings_use_the_native_default_model(client):
    col = client.create_collection("texts")
    assert col.configuration_json.get("embedding_function", {}).get("name") == "default"
    col.add(
        ids=["cat", "stocks", "kitten"],
        documents=["The cat sat on the mat.", "Stock markets fell sharply today.", "A kitten is sleeping on a rug."],
    )
    got = col.get(include=["embeddings"])["embeddings"]
    assert got.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    top = col.query(query_texts=["a small cat napping"], n_results=2)["ids"][0]
    assert set(top) == {"cat", "kitten"}


def test_default_model_missing_says_what_to_do(tmp_path):
    code = (
        "import chroma_rs\n"
        "col = chroma_rs.EphemeralClient().create_collection('texts')\n"
        "try:\n    col.add(ids=['a'], documents=['hello'])\n"
        "except ValueError as e:\n    print('ValueError', e)\n"
        "print('count', col.count())\n"
    )
    env = dict(os.environ, CHROMA_RS_MODEL_DIR=str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "ValueError" in r.stdout and "embeddings=" in r.stdout and "empty" in r.stdout, r.stdout + r.stderr
    assert "count 0" in r.stdout


def test_any_embedding_function_object_works(client):
    class Letters:
        def __call__(self, input):
            return [[float(s.count(c)) for c in "abc"] for s in input]

    col = client.create_collection("letters", embedding_function=Letters())
    col.add(ids=["x", "y"], documents=["aaa", "ccc"])
    assert col.query(query_texts=["cc"], n_results=1)["ids"] == [["y"]]
    again = client.get_collection("letters", embedding_function=Letters())
    assert again.get(ids="x", include=["embeddings"])["embeddings"].tolist() == [[3.0, 0.0, 0.0]]


def test_collections_tenants_databases(client):
    client.create_collection("one", metadata={"k": "v"})
    client.get_or_create_collection("two")
    assert [c.name for c in client.list_collections()] == ["one", "two"]
    assert client.count_collections() == 2
    one = client.get_collection("one")
    assert one.metadata == {"k": "v"} and repr(one) == "Collection(name=one)"
    assert one.configuration_json["hnsw"]["space"] == "l2"
    one.modify(name="uno", metadata={"k": "w"})
    assert client.get_collection("uno").metadata == {"k": "w"}
    client.delete_collection("uno")
    assert client.count_collections() == 1
    admin = chromadb.AdminClient(client.get_settings()) if client.get_settings().is_persistent is False else None
    if admin is not None:
        admin.create_tenant("tenant_x")
        admin.create_database("db_x", tenant="tenant_x")
        assert [d["name"] for d in admin.list_databases(tenant="tenant_x")] == ["db_x"]
        scoped = chromadb.EphemeralClient(settings=client.get_settings(), tenant="tenant_x", database="db_x")
        scoped.create_collection("inner")
        assert client.count_collections() == 1 and scoped.count_collections() == 1
    with pytest.raises(errors.NotFoundError, match=r"Tenant \[no_such_tenant\] not found"):
        chromadb.EphemeralClient(settings=Settings(allow_reset=True), tenant="no_such_tenant")
    with pytest.raises(ValueError, match="already exists for ephemeral with different settings"):
        chromadb.EphemeralClient(settings=Settings(allow_reset=False))


def test_fork_and_indexing_status(client):
    col = client.create_collection("src")
    col.add(ids=[str(i) for i in range(20)], embeddings=np.eye(20, dtype=np.float32))
    fork = col.fork("copy")
    assert fork.count() == 20 and fork.name == "copy" and fork.id != col.id
    col.delete(ids=["0"])
    assert fork.count() == 20 and col.count() == 19
    status = col.get_indexing_status()
    assert status.total_ops >= 19 and 0.0 <= status.op_indexing_progress <= 1.0


def test_threads_share_one_client(client):
    col = client.create_collection("threads")
    failures = []

    def writer(t):
        try:
            for b in range(10):
                ids = [f"t{t}-{b}-{i}" for i in range(20)]
                col.add(ids=ids, embeddings=np.random.default_rng(t * 100 + b).random((20, 4)))
                col.query(query_embeddings=[[0.5] * 4], n_results=5)
        except Exception as e:  # noqa: BLE001 (reported below)
            failures.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert col.count() == 8 * 10 * 20


def test_reset_needs_allow_reset(tmp_path):
    c = chromadb.PersistentClient(path=str(tmp_path / "noreset"))
    with pytest.raises(errors.AuthorizationError):
        c.reset()


def test_second_process_gets_the_lock_error_with_pid(tmp_path):
    path = str(tmp_path / "locked")
    c = chromadb.PersistentClient(path=path)
    c.create_collection("held")
    code = f"import chroma_rs\ntry:\n    chroma_rs.PersistentClient(path={path!r})\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert str(os.getpid()) in r.stdout, r.stdout + r.stderr
    # Once every client of this process is closed, the folder is free for the other process.
    c.close()
    del c
    import gc

    gc.collect()
    r = subprocess.run([sys.executable, "-c", code.replace("print(type(e).__name__, e)", "raise") +
                        f"print(chroma_rs.PersistentClient(path={path!r}).get_collection('held').name)"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().endswith("held"), r.stdout + r.stderr


def test_folder_is_what_the_server_serves(tmp_path):
    """Written in process, then served by `chroma-rs run` and read with our HttpClient."""
    binary = os.environ.get("CHROMA_RS_BIN") or os.path.join(REPO, "target", "release", "chroma-rs")
    if not os.path.exists(binary):
        pytest.skip(f"{binary} not built (cargo build --release -p chroma-cli)")
    path = str(tmp_path / "shared")
    code = (
        "import chroma_rs\n"
        f"c = chroma_rs.PersistentClient(path={path!r})\n"
        "col = c.create_collection('shared')\n"
        "col.add(ids=['a', 'b'], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=['x', 'y'])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "run", "--path", path, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time

        deadline = time.time() + 30
        while True:
            try:
                http = chromadb.HttpClient(host="127.0.0.1", port=port)
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        col = http.get_collection("shared")
        assert col.get(ids=["b"])["documents"] == ["y"]
        assert col.query(query_embeddings=[[0.9, 0.1]], n_results=1)["ids"] == [["a"]]
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.skipif(not os.environ.get("CHROMA_RS_MODEL_DIR"), reason="CHROMA_RS_MODEL_DIR not set (scripts/test.sh sets it)")
def test_getting_started_quickstart(tmp_path):
    """The shape of Chroma's getting-started page: an in-memory client, documents in, query texts
    out, the default embedding function doing the embedding; with `import chromadb` unchanged."""
    code = """
import chromadb
chroma_client = chromadb.Client()
collection = chroma_client.get_or_create_collection(name="my_collection")
collection.upsert(
    documents=["This is a document about pineapple", "This is a document about oranges"],
    ids=["id1", "id2"],
)
results = collection.query(query_texts=["This is a query document about hawaii"], n_results=2)
print(results["ids"][0][0], len(results["distances"][0]))
"""
    r = run_snippet(code, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["id1", "2"]  # pineapple is the Hawaiian one
