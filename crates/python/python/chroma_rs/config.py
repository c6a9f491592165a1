"""``Settings``: the fields chromadb users set, with chromadb's names and defaults.

Values come from keyword arguments, then environment variables of the same name (any case, as
chromadb's pydantic settings read them), then defaults. Unknown keywords are ignored, as
chromadb ignores them (so ``Settings(anonymized_telemtry=False)`` from Chroma's own migration
page works). ``anonymized_telemetry`` is accepted and has no effect: chroma-rs sends no
telemetry at all. Chroma 0.3.x settings (``chroma_db_impl="duckdb+parquet"`` and the like) raise
``ValueError`` naming ``chroma-rs migrate``, which moves such data into the new format.
"""

import os
from typing import Any, Dict, List, Optional, Tuple

from chroma_rs import _native

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"

# chromadb's names for "in process" and "over HTTP"; chroma-rs serves both from Rust.
EMBEDDED_IMPLS = (
    "chromadb.api.rust.RustBindingsAPI",
    "chromadb.api.segment.SegmentAPI",
)
HTTP_IMPLS = (
    "chromadb.api.fastapi.FastAPI",
    "chromadb.api.async_fastapi.AsyncFastAPI",
)

_FIELDS: Dict[str, Any] = {
    "environment": "",
    "chroma_api_impl": "chromadb.api.rust.RustBindingsAPI",
    "chroma_server_host": None,
    "chroma_server_http_port": None,
    "chroma_server_ssl_enabled": False,
    "chroma_server_ssl_verify": None,
    "chroma_server_headers": None,
    "chroma_server_api_default_path": "/api/v2",
    "chroma_client_auth_provider": None,
    "chroma_client_auth_credentials": None,
    "chroma_auth_token_transport_header": None,
    "chroma_server_nofile": None,
    "is_persistent": False,
    "persist_directory": "./chroma",
    "allow_reset": False,
    "anonymized_telemetry": True,
    "chroma_db_impl": None,
    "chroma_max_batch_size": None,
    "chroma_query_request_timeout_seconds": None,
    # Accepted so that code reading them keeps working; chroma_rs has no such knobs (its engine
    # sizes its own caches, and there is no telemetry or migration mode to choose).
    "chroma_segment_cache_policy": None,
    "chroma_memory_limit_bytes": 0,
    "chroma_http_keepalive_secs": 40.0,
    "chroma_http_max_connections": None,
    "chroma_http_max_keepalive_connections": None,
    "chroma_server_thread_pool_size": 40,
    "chroma_overwrite_singleton_tenant_database_access_from_auth": False,
    "chroma_otel_collection_endpoint": "",
    "chroma_otel_service_name": "chromadb",
    "chroma_otel_granularity": None,
    "migrations": "apply",
    "migrations_hash_algorithm": "md5",
}

_BOOL_FIELDS = {"chroma_server_ssl_enabled", "is_persistent", "allow_reset", "anonymized_telemetry"}


def _from_env(name: str) -> Optional[str]:
    for key in (name.upper(), name):
        if key in os.environ:
            return os.environ[key]
    return None


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"Setting {name} expects a boolean, got {value!r}")


class Settings:
    """Client settings (a subset of chromadb's ``Settings`` with the same names)."""

    environment: str
    chroma_api_impl: str
    chroma_server_host: Optional[str]
    chroma_server_http_port: Optional[int]
    chroma_server_ssl_enabled: bool
    chroma_server_headers: Optional[Dict[str, str]]
    chroma_client_auth_provider: Optional[str]
    chroma_client_auth_credentials: Optional[str]
    is_persistent: bool
    persist_directory: str
    allow_reset: bool
    anonymized_telemetry: bool

    def __init__(self, **kwargs: Any) -> None:
        for name, default in _FIELDS.items():
            if name in kwargs:
                value = kwargs[name]
            else:
                env = _from_env(name)
                value = default if env is None else env
            if name in _BOOL_FIELDS:
                value = _as_bool(name, value)
            if name == "chroma_server_http_port" and value is not None:
                value = int(value)
            object.__setattr__(self, name, value)
        legacy = [(k, str(getattr(self, k))) for k in ("chroma_db_impl", "chroma_api_impl") if getattr(self, k)]
        problem = _native.settings_error(legacy)
        if problem is not None:
            raise ValueError(problem)

    def _engine_pairs(self) -> List[Tuple[str, str]]:
        """The settings the engine reads, as (name, text) pairs (telemetry is not one of them)."""
        pairs = [("allow_reset", "true" if self.allow_reset else "false")]
        if self.chroma_max_batch_size:
            pairs.append(("chroma_max_batch_size", str(self.chroma_max_batch_size)))
        return pairs

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self.__dict__.items())))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if _FIELDS.get(k) != v)
        return f"Settings({shown})"

    def dict(self) -> Dict[str, Any]:
        """The settings as a dict (pydantic's name, as chromadb code calls it)."""
        return dict(self.__dict__)
