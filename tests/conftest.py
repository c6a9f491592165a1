"""Shared fixtures for chroma-rs's Python tests.

They run against a running chroma-rs server (URL in CHROMA_RS_URL, e.g. http://127.0.0.1:8000,
started with ALLOW_RESET=TRUE) under any of the official clients 0.4.24, 0.5.15, 0.5.23 and
1.5.9; version-specific expectations are gated on ``chromadb.__version__``.
"""

import os
import urllib.parse

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb  # noqa: E402
from chromadb.config import Settings  # noqa: E402

VERSION = tuple(int(p) for p in chromadb.__version__.split(".")[:3])
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
    if _url() is None:
        skip = pytest.mark.skip(reason="CHROMA_RS_URL is not set (start `chroma-rs run` with ALLOW_RESET=TRUE)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server():
    u = _url()
    return u.hostname or "127.0.0.1", u.port or 8000


@pytest.fixture
def client(server):
    host, port = server
    c = chromadb.HttpClient(host=host, port=port, settings=Settings(allow_reset=True, anonymized_telemetry=False))
    c.reset()
    return c


@pytest.fixture
def admin(server):
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
    host, port = server
    return chromadb.HttpClient(host=host, port=port, settings=Settings(allow_reset=True, anonymized_telemetry=False), **kw)


def max_batch_size(client):
    """`get_max_batch_size()` (0.5+) or the 0.4.x `max_batch_size` property."""
    if hasattr(client, "get_max_batch_size"):
        return client.get_max_batch_size()
    return client.max_batch_size
