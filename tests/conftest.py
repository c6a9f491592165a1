"""Shared fixtures for chroma-rs's Python tests.

The same tests run three ways:

* against a running chroma-rs server (URL in CHROMA_RS_URL, e.g. http://127.0.0.1:8000, started
  with ALLOW_RESET=TRUE) under any of the official clients 0.4.24, 0.5.15, 0.5.23 and 1.5.9;
  version-specific expectations are gated on ``chromadb.__version__``;
* in process, with CHROMA_RS_IN_PROCESS=persistent or ephemeral: ``import chroma_rs as chromadb``
  (our Python package, crates/python), judged by chromadb 1.x's expectations.
"""

import os
import sys
import tempfile
import urllib.parse

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

IN_PROCESS = os.environ.get("CHROMA_RS_IN_PROCESS", "")
if IN_PROCESS:
    if IN_PROCESS not in ("persistent", "ephemeral"):
        raise SystemExit(f"CHROMA_RS_IN_PROCESS must be persistent or ephemeral, not {IN_PROCESS!r}")
    import chroma_rs  # noqa: E402

    # The tests say `import chromadb`: point that name (and its submodules) at our package,
    # exactly as a user's `import chroma_rs as chromadb` does.
    sys.modules["chromadb"] = chroma_rs
    sys.modules["chromadb.config"] = chroma_rs.config
    sys.modules["chromadb.errors"] = chroma_rs.errors

import chromadb  # noqa: E402
from chromadb.config import Settings  # noqa: E402

# chroma_rs follows chromadb 1.x's Python API.
VERSION = (1, 5, 9) if IN_PROCESS else tuple(int(p) for p in chromadb.__version__.split(".")[:3])
# Clients before 0.5.16 speak API v1; later ones API v2.
V1_CLIENT = VERSION < (0, 5, 16)
V04_CLIENT = VERSION < (0, 5, 0)
V1X_CLIENT = VERSION >= (1, 0, 0)


def _url():
    url = os.environ.get("CHROMA_RS_URL")
    if not url:
        return None
    if "://" not in url:
        url = "http://" + url
    return urllib.parse.urlparse(url)


def pytest_collection_modifyitems(config, items):
    if _url() is None and not IN_PROCESS:
        skip = pytest.mark.skip(reason="CHROMA_RS_URL is not set (start `chroma-rs run` with ALLOW_RESET=TRUE)")
        for item in items:
            item.add_marker(skip)


_FOLDER = tempfile.mkdtemp(prefix="chroma-rs-pytest-") if IN_PROCESS == "persistent" else None


def _settings():
    return Settings(allow_reset=True, anonymized_telemetry=False)


@pytest.fixture(scope="session")
def server():
    if IN_PROCESS:
        return None
    u = _url()
    return u.hostname or "127.0.0.1", u.port or 8000


@pytest.fixture
def client(server):
    c = http_client(server)
    c.reset()
    return c


@pytest.fixture
def admin(server):
    if IN_PROCESS:
        if IN_PROCESS == "persistent":
            return chromadb.AdminClient(Settings(is_persistent=True, persist_directory=_FOLDER, allow_reset=True))
        return chromadb.AdminClient(_settings())
    host, port = server
    return chromadb.AdminClient(
        Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=host,
            chroma_server_http_port=port,
            allow_reset=True,
            anonymized_telemetry=False,
        )
    )


def http_client(server, **kw):
    """A client of the system under test (over HTTP, or in process)."""
    if IN_PROCESS == "persistent":
        return chromadb.PersistentClient(path=_FOLDER, settings=_settings(), **kw)
    if IN_PROCESS == "ephemeral":
        return chromadb.EphemeralClient(settings=_settings(), **kw)
    host, port = server
    return chromadb.HttpClient(host=host, port=port, settings=_settings(), **kw)


def max_batch_size(client):
    """`get_max_batch_size()` (0.5+) or the 0.4.x `max_batch_size` property."""
    if hasattr(client, "get_max_batch_size"):
        return client.get_max_batch_size()
    return client.max_batch_size
