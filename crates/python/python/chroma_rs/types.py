"""Result shapes, as chromadb 1.x names and fills them."""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional
from uuid import UUID

try:  # Python >= 3.8 has TypedDict in typing
    from typing import TypedDict
except ImportError:  # pragma: no cover
    from typing_extensions import TypedDict  # type: ignore

import numpy as np

Metadata = Dict[str, Any]


class GetResult(TypedDict):
    """Columns of ``get`` / ``peek``; a column not included is ``None``. ``embeddings`` is a
    2-d NumPy array (float64, as chromadb returns it)."""

    ids: List[str]
    embeddings: Optional[np.ndarray]
    documents: Optional[List[Optional[str]]]
    uris: Optional[List[Optional[str]]]
    data: Optional[Any]
    metadatas: Optional[List[Optional[Metadata]]]
    included: List[str]


class QueryResult(TypedDict):
    """Columns of ``query``: one inner list per query, nearest first."""

    ids: List[List[str]]
    embeddings: Optional[List[np.ndarray]]
    documents: Optional[List[List[Optional[str]]]]
    uris: Optional[List[List[Optional[str]]]]
    data: Optional[Any]
    metadatas: Optional[List[List[Optional[Metadata]]]]
    distances: Optional[List[List[float]]]
    included: List[str]


class SearchResult(dict):  # type: ignore[type-arg]
    """The answer of ``Collection.search``, column-major as chromadb's ``SearchResult``: one entry
    per search in ``ids``, ``documents``, ``embeddings``, ``metadatas``, ``scores`` (a column a
    search did not select is ``None``) and ``select`` (the keys selected)."""

    def rows(self) -> List[List[Dict[str, Any]]]:
        """Row-major: per search, one dict per record with ``id`` and the selected fields."""
        out: List[List[Dict[str, Any]]] = []
        for i, ids in enumerate(self["ids"]):
            rows = []
            for j, rid in enumerate(ids):
                row: Dict[str, Any] = {"id": rid}
                for col, key in (("documents", "document"), ("embeddings", "embedding"),
                                 ("metadatas", "metadata"), ("scores", "score")):
                    values = (self.get(col) or [None] * (i + 1))[i]
                    if values is not None:
                        row[key] = values[j]
                rows.append(row)
            out.append(rows)
        return out


@dataclass
class IndexingStatus:
    """Progress of the background indexer (``Collection.get_indexing_status()``)."""

    num_indexed_ops: int
    num_unindexed_ops: int
    total_ops: int
    op_indexing_progress: float


class CollectionModel(dict):  # type: ignore[type-arg]
    """A collection as the engine holds it (chromadb's ``CollectionModel``): ``id`` (a ``UUID``),
    ``name``, ``metadata``, ``configuration_json``, ``dimension``, ``tenant``, ``database``,
    ``version``, ... Read as attributes (``model.configuration_json``) or as keys
    (``model["name"]``), as chromadb's model allows both."""

    def __init__(self, fields: Dict[str, Any]):
        super().__init__(fields)
        if isinstance(self.get("id"), str):
            self["id"] = UUID(self["id"])

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"'CollectionModel' object has no attribute '{name}'") from None


class _SchemaNode:
    """Attribute access over one object of a serialized 1.x schema; absent fields read as
    ``None``, as the optional fields of chromadb's schema classes do."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Dict[str, Any]):
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _schema_value(self._fields.get(name))

    def __getitem__(self, name: str) -> Any:
        return _schema_value(self._fields[name])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SchemaNode) and self._fields == other._fields

    def __repr__(self) -> str:
        return repr(self._fields)


def _schema_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _SchemaNode(value)
    return value


class Schema(_SchemaNode):
    """A collection's schema (``Collection.schema``), read as chromadb 1.x's ``Schema`` is read:
    ``schema.defaults.float_list.vector_index.config.hnsw.ef_search``,
    ``schema.keys["#embedding"]``. ``serialize_to_json()`` gives the JSON the engine stores."""

    __slots__ = ()

    @property
    def keys(self) -> Dict[str, Any]:  # type: ignore[override]
        """The per-key overrides, by key (``"#embedding"``, ``"#document"``, metadata keys)."""
        return {k: _schema_value(v) for k, v in (self._fields.get("keys") or {}).items()}

    def serialize_to_json(self) -> Dict[str, Any]:
        """The schema as JSON (a fresh copy)."""
        import copy

        return copy.deepcopy(self._fields)
