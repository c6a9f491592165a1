"""``Collection``: the records of one collection, with chromadb 1.x's methods and arguments.

Arguments are normalised and checked here as chromadb checks them in Python (a single id or
vector may be given bare; NumPy arrays wherever lists go; the same ``ValueError`` texts for the
common mistakes); the engine checks the rest and its errors arrive as ``chroma_rs.errors``
classes.
"""

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union
from uuid import UUID

import numpy as np

from chroma_rs.errors import DuplicateIDError
from chroma_rs.types import CollectionModel, GetResult, IndexingStatus, QueryResult, Schema, SearchResult

Embedding = Union[Sequence[float], np.ndarray]
Embeddings = Union[Sequence[Embedding], np.ndarray]
OneOrMany = Union[Any, List[Any]]

_GET_INCLUDE = ("documents", "embeddings", "metadatas", "uris", "data")
_QUERY_INCLUDE = _GET_INCLUDE + ("distances",)


def _as_list(value: Any) -> Optional[List[Any]]:
    """``None``, one item, or a sequence -> ``None`` or a list (chromadb's ``maybe_cast_one_to_many``)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _ids(ids: Any, op: str) -> List[str]:
    ids = _as_list(ids)
    if ids is None or len(ids) == 0:
        raise ValueError(f"Non-empty lists are required for ['ids'] in {op}.")
    for i in ids:
        if not isinstance(i, str):
            raise ValueError(f"Expected ID to be a str, got {i} in {op}.")
    if len(set(ids)) != len(ids):
        seen, dups = set(), []
        for i in ids:
            if i in seen and i not in dups:
                dups.append(i)
            seen.add(i)
        raise DuplicateIDError(f"Expected IDs to be unique, found duplicates of: {', '.join(dups)} in {op}.")
    return ids


def _opt_ids(ids: Any, op: str) -> Optional[List[str]]:
    """Optional ids of a read or delete: ``None``, or a list of strings."""
    ids = _as_list(ids)
    if ids is not None:
        for i in ids:
            if not isinstance(i, str):
                raise ValueError(f"Expected ID to be a str, got {i} in {op}.")
    return ids


def _embeddings(embeddings: Any, op: str) -> Optional[np.ndarray]:
    """Embeddings as a 2-d float32 array (one row per record); a single bare vector is one row."""
    if embeddings is None:
        return None
    if isinstance(embeddings, np.ndarray):
        arr = embeddings
    else:
        rows = list(embeddings)
        if len(rows) == 0:
            raise ValueError(f"Expected Embeddings to be non-empty list or numpy array, got [] in {op}.")
        if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in rows):
            rows = [rows]
        lengths = {len(r) if hasattr(r, "__len__") else -1 for r in rows}
        if len(lengths) != 1:
            # Ragged rows: the engine names the record whose dimension is wrong.
            return [_row(r, op) for r in rows]  # type: ignore[return-value]
        arr = np.asarray(rows)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(
            f"Expected each embedding in the embeddings to be a 1-dimensional numpy array, got "
            f"a {arr.ndim - 1}-dimensional array in {op}."
        )
    if arr.size == 0:
        raise ValueError(f"Expected Embeddings to be non-empty list or numpy array, got [] in {op}.")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"Expected embeddings to be a list of floats or ints, got {arr.dtype} in {op}.")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _row(row: Any, op: str) -> np.ndarray:
    """One embedding of a ragged batch, checked as chromadb checks each embedding."""
    arr = np.asarray(row)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf":
        raise ValueError(
            f"Expected each embedding in the embeddings to be a 1-dimensional array of ints or floats, "
            f"got {row!r} in {op}."
        )
    return arr.astype(np.float32)


def _check_lengths(op: str, **columns: Optional[Sequence[Any]]) -> None:
    present = {k: len(v) for k, v in columns.items() if v is not None}
    if len(set(present.values())) > 1:
        listed = ", ".join(f"{k}: {n}" for k, n in present.items())
        raise ValueError(f"Unequal lengths for fields: {listed} in {op}.")


def _metadatas(metadatas: Any, op: str) -> Optional[List[Optional[Dict[str, Any]]]]:
    metadatas = _as_list(metadatas)
    if metadatas is None:
        return None
    out = []
    for m in metadatas:
        if m is not None and not isinstance(m, Mapping):
            raise ValueError(f"Expected metadata to be a dict or None, got {m} as metadata in {op}.")
        if m is not None and len(m) == 0 and op != "update":
            raise ValueError(f"Expected metadata to be a non-empty dict, got 0 metadata attributes in {op}.")
        out.append(None if m is None else {k: _plain(v) for k, v in m.items()})
    return out


def _plain(v: Any) -> Any:
    """NumPy scalars and arrays as the Python values chromadb stores for them."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _json_value(v: Any) -> Any:
    """``json.dumps``'s fallback for a search: NumPy values as plain ones, anything else refused."""
    if isinstance(v, (np.generic, np.ndarray)):
        return _plain(v)
    raise TypeError(f"Object of type {type(v).__name__} cannot be sent in search")


def _check_logical(where: Any, kind: str) -> None:
    """chromadb 1.x's client refuses ``$and``/``$or`` with fewer than two clauses before sending
    a filter (``kind`` is ``"where"`` or ``"document"``); the engine, which also serves older
    clients that send one, accepts them, so the Python API checks it here as chromadb does."""
    if not isinstance(where, Mapping):
        return
    for key, value in where.items():
        if key in ("$and", "$or") and isinstance(value, list):
            if len(value) < 2:
                what = "where expressions" if kind == "where" else "where document expressions"
                raise ValueError(f"Expected {kind} value for $and or $or to be a list with at least two {what}, got {value}")
            for clause in value:
                _check_logical(clause, kind)


def _check_filters(where: Any, where_document: Any) -> None:
    _check_logical(where, "where")
    _check_logical(where_document, "document")


def _include(include: Any, allowed: Sequence[str], op: str) -> List[str]:
    if not isinstance(include, (list, tuple)):
        raise ValueError(f"Expected include to be a list, got {include} in {op}.")
    items = list(include)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"Expected include item to be a str, got {item} in {op}.")
        if item not in _QUERY_INCLUDE:
            raise ValueError(
                f"Expected include item to be one of {', '.join(_QUERY_INCLUDE)}, got {item} in {op}."
            )
        if item not in allowed:
            raise ValueError(f"Include item cannot be one of {item}, got {item} in {op}.")
    return items


class Collection:
    """One collection (chromadb's ``Collection``): records with ids, embeddings, documents,
    metadata and URIs, searched by vector and filtered by metadata and document text."""

    def __init__(self, client: Any, model: Dict[str, Any], embedding_function: Any = None, data_loader: Any = None):
        self._client = client
        self._model = CollectionModel(model)
        self._embedding_function = embedding_function
        self._data_loader = data_loader

    # -- the collection's attributes, as chromadb's model holds them --------------------------
    @property
    def name(self) -> str:
        """The collection's name."""
        return self._model["name"]

    @property
    def id(self) -> UUID:
        """The collection's id."""
        return self._model["id"]

    @property
    def metadata(self) -> Optional[Dict[str, Any]]:
        """The collection's metadata (``None`` when none was set)."""
        return self._model["metadata"]

    @property
    def tenant(self) -> str:
        """The tenant that holds the collection."""
        return self._model["tenant"]

    @property
    def database(self) -> str:
        """The database that holds the collection."""
        return self._model["database"]

    @property
    def configuration_json(self) -> Dict[str, Any]:
        """The effective configuration, as chromadb 1.x reports it."""
        return self._model["configuration_json"]

    @property
    def configuration(self) -> Dict[str, Any]:
        """The effective configuration (the same dict as ``configuration_json``)."""
        return self._model["configuration_json"]

    @property
    def schema(self) -> Optional[Schema]:
        """The collection's 1.x schema (``None`` when the engine reports none)."""
        raw = self._model.get("schema")
        return Schema(raw) if isinstance(raw, dict) else None

    @property
    def dimension(self) -> Optional[int]:
        """The embedding dimension, fixed by the first write (``None`` before it)."""
        return self._model.get("dimension")

    @property
    def embedding_function(self) -> Any:
        """The function that embeds documents and query texts that come without embeddings."""
        return self._embedding_function

    def get_model(self) -> CollectionModel:
        """The collection as the engine holds it now (``id``, ``name``, ``metadata``,
        ``configuration_json``, ``dimension``, ``version``, ...)."""
        return CollectionModel(self._engine.get_collection_by_id(self._cid))

    def __repr__(self) -> str:
        return f"Collection(name={self.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Collection) and self._model["id"] == other._model["id"]

    def __hash__(self) -> int:
        return hash(self._model["id"])

    @property
    def _engine(self) -> Any:
        return self._client._engine

    @property
    def _cid(self) -> str:
        return str(self._model["id"])

    # -- writes --------------------------------------------------------------------------------
    def _embed(self, texts: List[Any], op: str) -> np.ndarray:
        if self._embedding_function is None:
            raise ValueError(
                f"You must provide an embedding function to compute embeddings for documents, or pass "
                f"embeddings, in {op}."
            )
        vectors = self._embedding_function(texts)
        return _embeddings(vectors, op)  # type: ignore[return-value]

    def _records(self, op: str, ids: Any, embeddings: Any, metadatas: Any, documents: Any, uris: Any, images: Any):
        ids = _ids(ids, op)
        embeddings = _embeddings(embeddings, op)
        documents = _as_list(documents)
        uris = _as_list(uris)
        metadatas = _metadatas(metadatas, op)
        if images is not None:
            raise ValueError(f"Images are not supported by chroma_rs yet; pass embeddings in {op}.")
        _check_lengths(op, ids=ids, embeddings=embeddings, metadatas=metadatas, documents=documents, uris=uris)
        if embeddings is None and op != "update":
            if documents is None and uris is None:
                raise ValueError(f"Exactly one of images, uris, documents must be provided in {op}.")
            if documents is None:
                raise ValueError(f"uris without embeddings need a data loader, which chroma_rs has not, in {op}.")
            embeddings = self._embed(documents, op)
        return ids, embeddings, metadatas, documents, uris

    def add(
        self,
        ids: OneOrMany = None,
        embeddings: Optional[Embeddings] = None,
        metadatas: Any = None,
        documents: Any = None,
        images: Any = None,
        uris: Any = None,
    ) -> None:
        """Adds records. An id that is already present is an error, and nothing is written."""
        ids, emb, metas, docs, uris = self._records("add", ids, embeddings, metadatas, documents, uris, images)
        self._engine.add(self._cid, ids, emb, docs, uris, metas)

    def upsert(
        self,
        ids: OneOrMany = None,
        embeddings: Optional[Embeddings] = None,
        metadatas: Any = None,
        documents: Any = None,
        images: Any = None,
        uris: Any = None,
    ) -> None:
        """Adds records, replacing those whose ids are present."""
        ids, emb, metas, docs, uris = self._records("upsert", ids, embeddings, metadatas, documents, uris, images)
        self._engine.upsert(self._cid, ids, emb, docs, uris, metas)

    def update(
        self,
        ids: OneOrMany = None,
        embeddings: Optional[Embeddings] = None,
        metadatas: Any = None,
        documents: Any = None,
        images: Any = None,
        uris: Any = None,
    ) -> None:
        """Changes records; fields not given keep their values. Metadata is merged key by key."""
        ids, emb, metas, docs, uris = self._records("update", ids, embeddings, metadatas, documents, uris, images)
        if emb is None and docs is not None and self._embedding_function is not None:
            emb = self._embed(docs, "update")
        self._engine.update(self._cid, ids, emb, docs, uris, metas)

    def delete(
        self,
        ids: Optional[OneOrMany] = None,
        where: Optional[Dict[str, Any]] = None,
        where_document: Optional[Dict[str, Any]] = None,
        limit: Optional[int] = None,
    ) -> Dict[str, int]:
        """Deletes records by id and/or filter; returns ``{"deleted": n}`` as chromadb 1.x does."""
        ids = _opt_ids(ids, "delete")
        if ids is None and where is None and where_document is None:
            raise ValueError("At least one of ids, where, or where_document must be provided in delete.")
        _check_filters(where, where_document)
        n = self._engine.delete(self._cid, ids, where, where_document, limit)
        return {"deleted": n}

    # -- reads ---------------------------------------------------------------------------------
    def count(self, read_level: Any = "index_and_wal") -> int:
        """How many records the collection holds. ``read_level`` (1.x) is accepted and has no
        effect in process (every acknowledged write is counted)."""
        return self._engine.count(self._cid)

    def get(
        self,
        ids: Optional[OneOrMany] = None,
        where: Optional[Dict[str, Any]] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        where_document: Optional[Dict[str, Any]] = None,
        include: Sequence[str] = ("metadatas", "documents"),
    ) -> GetResult:
        """Records by id and/or filter, in insertion order (or in the order of ``ids``)."""
        ids = _opt_ids(ids, "get")
        items = _include(include, _GET_INCLUDE, "get")
        if limit is not None and limit < 0:
            raise TypeError(f"Expected limit to be a non-negative integer, got {limit} in get.")
        if offset is not None and offset < 0:
            raise TypeError(f"Expected offset to be a non-negative integer, got {offset} in get.")
        engine_items = [i for i in items if i != "data"]
        _check_filters(where, where_document)
        result = self._engine.get(self._cid, ids, where, where_document, limit, offset, engine_items)
        result["included"] = items
        return result  # type: ignore[return-value]

    def peek(self, limit: int = 10) -> GetResult:
        """The first ``limit`` records, with embeddings."""
        return self.get(limit=limit, include=["metadatas", "documents", "embeddings"])

    def query(
        self,
        query_embeddings: Optional[Embeddings] = None,
        query_texts: Any = None,
        query_images: Any = None,
        query_uris: Any = None,
        ids: Optional[OneOrMany] = None,
        n_results: int = 10,
        where: Optional[Dict[str, Any]] = None,
        where_document: Optional[Dict[str, Any]] = None,
        include: Sequence[str] = ("metadatas", "documents", "distances"),
    ) -> QueryResult:
        """The ``n_results`` nearest records to each query embedding (or embedded query text)."""
        if not isinstance(n_results, (int, np.integer)) or isinstance(n_results, bool):
            raise ValueError(f"Expected requested number of results to be a int, got {n_results} in query.")
        if n_results < 1:
            raise TypeError(f"Number of requested results {n_results}, cannot be negative, or zero. in query.")
        if query_images is not None or query_uris is not None:
            raise ValueError("Query images and uris are not supported by chroma_rs yet; pass query_embeddings in query.")
        given = [x for x in (query_embeddings, query_texts) if x is not None]
        if len(given) != 1:
            raise ValueError(
                "At least one of one of embeddings, documents, images, uris must be provided in query."
                if not given
                else "You must provide only one of query_embeddings, query_texts, query_images, or query_uris in query."
            )
        if query_embeddings is not None:
            emb = _embeddings(query_embeddings, "query")
        else:
            emb = self._embed(_as_list(query_texts), "query")  # type: ignore[arg-type]
        items = _include(include, _QUERY_INCLUDE, "query")
        engine_items = [i for i in items if i != "data"]
        ids = _opt_ids(ids, "query")
        _check_filters(where, where_document)
        result = self._engine.query(self._cid, emb, int(n_results), ids, where, where_document, engine_items)
        result["included"] = items
        return result  # type: ignore[return-value]

    def search(self, searches: Any, read_level: Any = "index_and_wal") -> SearchResult:
        """The 1.x Search API, in process: one search or a list, each a chromadb ``Search``
        (anything with ``to_dict()``) or its dict form (``{"filter", "rank", "group_by",
        "limit", "select"}``). A ``Knn`` whose query is a text is embedded with the collection's
        embedding function first, as chromadb does. ``read_level`` is accepted and has no effect
        (every acknowledged write is searchable). Semantics: docs/search.md."""
        if searches is None:
            items: List[Any] = []
        elif isinstance(searches, (list, tuple)):
            items = list(searches)
        else:
            items = [searches]
        payload = []
        for s in items:
            d = s.to_dict() if hasattr(s, "to_dict") else s
            if not isinstance(d, dict):
                raise TypeError(f"Expected a Search or its dict form, got {type(s).__name__} in search.")
            payload.append(self._embed_text_queries(d))
        level = getattr(read_level, "value", read_level)
        request = json.dumps({"searches": payload, "read_level": level}, default=_json_value)
        return SearchResult(json.loads(self._engine.search(self._cid, request)))

    def _embed_text_queries(self, node: Any) -> Any:
        """A copy of a search's dict form with every text ``$knn`` query embedded."""
        if isinstance(node, list):
            return [self._embed_text_queries(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: self._embed_text_queries(v) for k, v in node.items()}
        knn = out.get("$knn")
        if isinstance(knn, dict) and isinstance(knn.get("query"), str):
            key = knn.get("key", "#embedding")
            if key != "#embedding":
                raise ValueError(
                    f"A text query on the sparse key {key!r} needs a sparse embedding function; "
                    "pass the SparseVector itself in search."
                )
            knn = dict(knn)
            knn["query"] = self._embed([knn["query"]], "search")[0].tolist()
            out["$knn"] = knn
        return out

    # -- the collection itself -----------------------------------------------------------------
    def modify(
        self,
        name: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        configuration: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Renames the collection and/or replaces its metadata or mutable configuration."""
        from chroma_rs.client import _check_collection_metadata

        _check_collection_metadata(metadata)
        if metadata is not None and "hnsw:space" in metadata:
            raise ValueError("Changing the distance function of a collection once it is created is not supported currently.")
        self._engine.update_collection(self._cid, name, metadata, configuration)
        self._model = CollectionModel(self._engine.get_collection_by_id(self._cid))

    def fork(self, new_name: str) -> "Collection":
        """A new collection with this one's records, configuration and metadata."""
        model = self._engine.fork_collection(self._cid, new_name)
        return Collection(self._client, model, self._embedding_function, self._data_loader)

    def fork_count(self) -> int:
        """How many forks share this collection's lineage."""
        return self._engine.fork_count(self._cid)

    def get_indexing_status(self) -> IndexingStatus:
        """How far the background indexer has got (indexed and unindexed operations)."""
        return IndexingStatus(**self._engine.indexing_status(self._cid))

