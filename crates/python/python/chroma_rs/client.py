"""Clients: ``ClientAPI`` (collections in one tenant and database) and ``AdminAPI`` (tenants and
databases), on an engine in process (ephemeral or on a folder) or on a server over HTTP."""

import os
import threading
from typing import Any, Dict, List, Optional, Tuple, Union
from uuid import UUID

from chroma_rs import _native
from chroma_rs.collection import Collection
from chroma_rs.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_rs.embedding_functions import DefaultEmbeddingFunction, config_of
from chroma_rs.errors import NotFoundError

_ENGINES: Dict[Tuple[str, str], Tuple[Any, Tuple[Tuple[str, str], ...]]] = {}
_ENGINES_LOCK = threading.Lock()

_DEFAULT_EF = object()  # "not given": the collection gets DefaultEmbeddingFunction


def _shared_engine(kind: str, where: str, settings: Settings) -> Any:
    """One engine per (kind, folder) in a process, as chromadb shares one system per path: two
    ``PersistentClient(path)`` objects see each other's writes, and so do two ``EphemeralClient()``."""
    pairs = tuple(settings._engine_pairs())
    key = (kind, where)
    with _ENGINES_LOCK:
        found = _ENGINES.get(key)
        if found is not None:
            engine, used = found
            if used != pairs:
                raise ValueError(f"An instance of Chroma already exists for {where or kind} with different settings")
            return engine
        if kind == "persistent":
            engine = _native.Engine.persistent(where, list(pairs))
        else:
            engine = _native.Engine.ephemeral(list(pairs))
        _ENGINES[key] = (engine, pairs)
        return engine


def _http_engine(host: str, port: Any, ssl: bool, headers: Optional[Dict[str, str]], settings: Settings) -> Any:
    if "://" in host:
        url = host
    else:
        url = f"{'https' if ssl else 'http'}://{host}:{int(port)}"
    hdrs = dict(settings.chroma_server_headers or {})
    hdrs.update(headers or {})
    creds = settings.chroma_client_auth_credentials
    provider = settings.chroma_client_auth_provider or ""
    if creds and "token" in provider.lower():
        header = settings.chroma_auth_token_transport_header or "Authorization"
        hdrs[header] = f"Bearer {creds}" if header.lower() == "authorization" else creds
    elif creds and "basic" in provider.lower():
        import base64

        hdrs["Authorization"] = "Basic " + base64.b64encode(str(creds).encode()).decode()
    return _native.Engine.http(url, list(hdrs.items()), None)


class _Closed:
    """The engine of a closed client: every call says so."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("This client was closed: make a new one (e.g. chroma_rs.PersistentClient(path))")


def _check_collection_metadata(metadata: Any) -> None:
    """chromadb 1.x's client-side check of a collection's metadata: ``None`` or a non-empty dict."""
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ValueError(f"Expected metadata to be a dict or None, got {metadata}")
        if len(metadata) == 0:
            raise ValueError("Expected metadata to be a non-empty dict, got 0 metadata attributes")


class AdminClient:
    """Tenants and databases (chromadb's ``AdminAPI``)."""

    def __init__(self, settings: Optional[Settings] = None, engine: Any = None):
        self._settings = settings if settings is not None else Settings()
        self._engine = engine if engine is not None else _engine_for(self._settings)

    def create_tenant(self, name: str) -> None:
        """Creates a tenant."""
        self._engine.create_tenant(name)

    def get_tenant(self, name: str) -> Dict[str, str]:
        """A tenant, as ``{"name": ...}``."""
        return {"name": self._engine.get_tenant(name)}

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        """Creates a database in a tenant."""
        self._engine.create_database(tenant, name)

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> Dict[str, Any]:
        """A database, as ``{"id": UUID, "name": ..., "tenant": ...}``."""
        return _database(self._engine.get_database(tenant, name))

    def delete_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        """Deletes a database and every collection in it."""
        self._engine.delete_database(tenant, name)

    def list_databases(
        self, limit: Optional[int] = None, offset: Optional[int] = None, tenant: str = DEFAULT_TENANT
    ) -> List[Dict[str, Any]]:
        """The databases of a tenant."""
        return [_database(d) for d in self._engine.list_databases(tenant, limit, offset or 0)]


def _database(d: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": UUID(d["id"]), "name": d["name"], "tenant": d["tenant"]}


def _engine_for(settings: Settings) -> Any:
    impl = settings.chroma_api_impl or ""
    if impl in ("chromadb.api.fastapi.FastAPI", "chromadb.api.async_fastapi.AsyncFastAPI"):
        return _http_engine(
            settings.chroma_server_host or "localhost",
            settings.chroma_server_http_port or 8000,
            settings.chroma_server_ssl_enabled,
            None,
            settings,
        )
    if impl not in ("chromadb.api.rust.RustBindingsAPI", "chromadb.api.segment.SegmentAPI"):
        raise ValueError(
            f"Unsupported Chroma API implementation {impl}: use chroma_rs.HttpClient(host, port) for a "
            "server, or PersistentClient(path) / EphemeralClient() in process"
        )
    if settings.is_persistent:
        return _shared_engine("persistent", os.path.realpath(settings.persist_directory), settings)
    return _shared_engine("ephemeral", "", settings)


class Client:
    """Collections of one tenant and database (chromadb's ``ClientAPI``)."""

    def __init__(
        self,
        settings: Optional[Settings] = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
        engine: Any = None,
    ):
        if settings is not None and not isinstance(settings, Settings):
            raise ValueError(f"Expected settings to be a chroma_rs Settings, got {type(settings).__name__}")
        if not isinstance(tenant, str) or not isinstance(database, str):
            raise ValueError("Expected tenant and database to be strings")
        self._settings = settings if settings is not None else Settings()
        self._engine = engine if engine is not None else _engine_for(self._settings)
        self._admin = AdminClient(self._settings, self._engine)
        self.tenant = tenant
        self.database = database
        self._check_scope(tenant, database)

    def _check_scope(self, tenant: str, database: str) -> None:
        try:
            self._engine.get_tenant(tenant)
        except NotFoundError:
            raise NotFoundError(f"Tenant [{tenant}] not found") from None
        self._engine.get_database(tenant, database)

    def get_settings(self) -> Settings:
        """The settings this client was made with."""
        return self._settings

    @property
    def _server(self) -> Any:
        # chromadb keeps its API object here, and code written for it (its own test invariants
        # among them) looks here with isinstance checks against chromadb's classes: it finds
        # our engine, which is none of them.
        return self._engine

    # -- scope ---------------------------------------------------------------------------------
    def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        """Works in another tenant (and database) from now on."""
        self._check_scope(tenant, database)
        self.tenant, self.database = tenant, database

    def set_database(self, database: str) -> None:
        """Works in another database of the same tenant from now on."""
        self._check_scope(self.tenant, database)
        self.database = database

    # -- system --------------------------------------------------------------------------------
    def heartbeat(self) -> int:
        """Nanoseconds since the Unix epoch, from the engine."""
        return self._engine.heartbeat()

    def get_version(self) -> str:
        """The engine's version."""
        return self._engine.version()

    def get_max_batch_size(self) -> int:
        """The largest number of records one write may carry."""
        return self._engine.max_batch_size()

    def reset(self) -> bool:
        """Deletes everything; only with ``Settings(allow_reset=True)``."""
        self._engine.reset()
        return True

    def get_user_identity(self) -> Dict[str, Any]:
        """Who this client is: in process, the default user with every database of its tenant."""
        return {"user_id": "", "tenant": self.tenant, "databases": [self.database]}

    def close(self) -> None:
        """Releases this client's hold on the engine. When no client of the process holds a
        folder any more, its lock is released and another process may open it."""
        with _ENGINES_LOCK:
            for key, (engine, _) in list(_ENGINES.items()):
                if engine is self._engine:
                    del _ENGINES[key]
        self._engine = _Closed()
        self._admin._engine = self._engine

    @classmethod
    def clear_system_cache(cls) -> None:
        """Forgets the engines this process opened (chromadb's ``SharedSystemClient`` call)."""
        with _ENGINES_LOCK:
            _ENGINES.clear()

    # -- collections ---------------------------------------------------------------------------
    def _wrap(self, model: Dict[str, Any], embedding_function: Any, data_loader: Any = None) -> Collection:
        ef = DefaultEmbeddingFunction() if embedding_function is _DEFAULT_EF else embedding_function
        return Collection(self, model, ef, data_loader)

    def list_collections(self, limit: Optional[int] = None, offset: Optional[int] = None) -> List[Collection]:
        """The collections of the current database, in creation order."""
        models = self._engine.list_collections(self.tenant, self.database, limit, offset or 0)
        return [self._wrap(m, _DEFAULT_EF) for m in models]

    def count_collections(self) -> int:
        """How many collections the current database holds."""
        return self._engine.count_collections(self.tenant, self.database)

    def create_collection(
        self,
        name: str,
        configuration: Optional[Dict[str, Any]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        embedding_function: Any = _DEFAULT_EF,
        data_loader: Any = None,
        get_or_create: bool = False,
        schema: Any = None,
    ) -> Collection:
        """Creates a collection (or with ``get_or_create``, returns the existing one)."""
        _check_collection_metadata(metadata)
        configuration = _with_ef_config(configuration, embedding_function)
        model = self._engine.create_collection(
            self.tenant, self.database, name, metadata, configuration, schema, get_or_create
        )
        return self._wrap(model, embedding_function, data_loader)

    def get_collection(self, name: str, embedding_function: Any = _DEFAULT_EF, data_loader: Any = None) -> Collection:
        """A collection by name."""
        return self._wrap(self._engine.get_collection(self.tenant, self.database, name), embedding_function, data_loader)

    def get_or_create_collection(
        self,
        name: str,
        configuration: Optional[Dict[str, Any]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        embedding_function: Any = _DEFAULT_EF,
        data_loader: Any = None,
        schema: Any = None,
    ) -> Collection:
        """The collection of that name, created first when missing."""
        return self.create_collection(name, configuration, metadata, embedding_function, data_loader, True, schema)

    def get_collection_by_id(
        self, id: Union[UUID, str], embedding_function: Any = _DEFAULT_EF, data_loader: Any = None
    ) -> Collection:
        """A collection by id."""
        return self._wrap(self._engine.get_collection_by_id(str(id)), embedding_function, data_loader)

    def delete_collection(self, name: str) -> None:
        """Deletes a collection and its records."""
        self._engine.delete_collection(self.tenant, self.database, name)

    # -- tenants and databases (as 1.x's Client also offers them) ------------------------------
    def create_database(self, name: str, tenant: Optional[str] = None) -> None:
        """Creates a database."""
        self._admin.create_database(name, tenant or self.tenant)

    def get_database(self, name: str, tenant: Optional[str] = None) -> Dict[str, Any]:
        """A database."""
        return self._admin.get_database(name, tenant or self.tenant)

    def delete_database(self, name: str, tenant: Optional[str] = None) -> None:
        """Deletes a database."""
        self._admin.delete_database(name, tenant or self.tenant)

    def list_databases(
        self, limit: Optional[int] = None, offset: Optional[int] = None, tenant: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The databases of a tenant."""
        return self._admin.list_databases(limit, offset, tenant or self.tenant)


def _with_ef_config(configuration: Optional[Dict[str, Any]], ef: Any) -> Optional[Dict[str, Any]]:
    """Records which embedding function made the vectors, where chromadb 1.x clients read it."""
    if ef is _DEFAULT_EF:
        ef = DefaultEmbeddingFunction()
    ef_config = config_of(ef)
    if ef_config is None or (configuration is not None and "embedding_function" in configuration):
        return configuration
    out = dict(configuration or {})
    out["embedding_function"] = ef_config
    return out

