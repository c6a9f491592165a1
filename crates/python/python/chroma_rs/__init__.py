"""chroma_rs: Chroma's Python client API on the chroma-rs engine, in process.

Code written for ``chromadb`` 1.x runs with ``import chroma_rs as chromadb``::

    import chroma_rs as chromadb

    client = chromadb.PersistentClient(path="./chroma")
    docs = client.get_or_create_collection("docs")
    docs.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["apples", "bananas"])
    print(docs.query(query_embeddings=[[0.9, 0.1]], n_results=1)["ids"])

``PersistentClient`` and ``EphemeralClient`` run the engine inside the Python process (no server);
``HttpClient`` talks to ``chroma-rs run`` or to a Chroma server through the same Rust client.
A folder written here is the same format that ``chroma-rs run --path`` serves. No telemetry is
ever sent.
"""

from pathlib import Path
from typing import Dict, Optional, Union

from chroma_rs import errors
from chroma_rs._native import __version__
from chroma_rs.client import AdminClient as _AdminClient
from chroma_rs.client import Client as ClientAPI
from chroma_rs.client import _engine_for, _http_engine
from chroma_rs.collection import Collection
from chroma_rs.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_rs.embedding_functions import DefaultEmbeddingFunction
from chroma_rs.types import CollectionModel, GetResult, IndexingStatus, QueryResult

AdminAPI = _AdminClient

__all__ = [
    "AdminAPI",
    "AdminClient",
    "Client",
    "ClientAPI",
    "Collection",
    "CollectionModel",
    "DEFAULT_DATABASE",
    "DEFAULT_TENANT",
    "DefaultEmbeddingFunction",
    "EphemeralClient",
    "GetResult",
    "HttpClient",
    "IndexingStatus",
    "PersistentClient",
    "QueryResult",
    "Settings",
    "errors",
    "__version__",
]


def _settings(settings: Optional[Settings]) -> Settings:
    return settings if settings is not None else Settings()


def EphemeralClient(  # noqa: N802 (chromadb's name)
    settings: Optional[Settings] = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """An in-memory database, shared by every ``EphemeralClient`` of this process, gone when the
    process ends."""
    settings = _settings(settings)
    settings.is_persistent = False
    settings.chroma_api_impl = "chromadb.api.rust.RustBindingsAPI"
    return ClientAPI(settings, tenant, database)


def PersistentClient(  # noqa: N802
    path: Union[str, Path] = "./chroma",
    settings: Optional[Settings] = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """A database in the folder ``path`` (created when missing). Another process holding the
    folder is refused with its pid."""
    settings = _settings(settings)
    settings.persist_directory = str(path)
    settings.is_persistent = True
    settings.chroma_api_impl = "chromadb.api.rust.RustBindingsAPI"
    return ClientAPI(settings, tenant, database)


def HttpClient(  # noqa: N802
    host: str = "localhost",
    port: Union[int, str] = 8000,
    ssl: bool = False,
    headers: Optional[Dict[str, str]] = None,
    settings: Optional[Settings] = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """A client of ``chroma-rs run`` or of a Chroma server (API v2, or v1 for 0.4.x / 0.5.x)."""
    settings = _settings(settings)
    settings.chroma_server_host = host
    settings.chroma_server_http_port = int(port)
    settings.chroma_server_ssl_enabled = ssl
    settings.chroma_api_impl = "chromadb.api.fastapi.FastAPI"
    engine = _http_engine(host, port, ssl, headers, settings)
    return ClientAPI(settings, tenant, database, engine=engine)


def Client(  # noqa: N802
    settings: Optional[Settings] = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """A client as ``settings`` describe it: in process (``is_persistent`` and
    ``persist_directory``), or over HTTP (``chroma_api_impl="chromadb.api.fastapi.FastAPI"``)."""
    settings = _settings(settings)
    return ClientAPI(settings, tenant, database, engine=_engine_for(settings))


def AdminClient(settings: Optional[Settings] = None) -> _AdminClient:  # noqa: N802
    """Tenants and databases of the engine that ``settings`` describe."""
    return _AdminClient(_settings(settings))
