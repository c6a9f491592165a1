"""Metadata keys starting with '#' or '$': Chroma 0.4-0.6 stored them, 1.x refuses them.

Records written by a 0.4 client (API v1 over plain HTTP, as the 0.4.24 client sends it) are read
back by whichever official client runs this suite; a 0.x client also writes and filters on them,
a 1.x client's write is refused with Chroma 1.5.9's error.
"""

import json
import urllib.request

import pytest

from conftest import IN_PROCESS, V1X_CLIENT

# The records are written over the wire by a 0.4 client: there is no server in process.
pytestmark = pytest.mark.skipif(bool(IN_PROCESS), reason="writes through a 0.4 client over HTTP; no server in process")


def _v1_post(server, path, body):
    host, port = server
    req = urllib.request.Request(
        f"http://{host}:{port}/api/v1{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"User-Agent": "python-requests/2.31.0", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def test_keys_older_servers_stored(client, server):
    col = client.create_collection("legacy_keys")
    _v1_post(
        server,
        f"/collections/{col.id}/add",
        {"ids": ["a", "b"], "embeddings": [[1.0, 2.0], [3.0, 4.0]], "metadatas": [{"$dollar": 1, "#hash": "x", "n": 1}, {"n": 2}]},
    )
    got = col.get(ids=["a"], include=["metadatas"])
    assert got["metadatas"] == [{"$dollar": 1, "#hash": "x", "n": 1}]
    assert col.get(where={"#hash": "x"})["ids"] == ["a"]
    if V1X_CLIENT:
        with pytest.raises(Exception) as e:
            col.add(ids=["c"], embeddings=[[5.0, 6.0]], metadatas=[{"$d": 1}])
        assert "Invalid metadata at index 0" in str(e.value)
    else:
        col.add(ids=["c"], embeddings=[[5.0, 6.0]], metadatas=[{"$d": 1}])
        assert col.get(where={"$d": 1})["ids"] == ["c"]
    assert col.count() == (2 if V1X_CLIENT else 3)
