"""Result shapes, as chromadb 1.x names and fills them."""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

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


@dataclass
class IndexingStatus:
    """Progress of the background indexer (``Collection.get_indexing_status()``)."""

    num_indexed_ops: int
    num_unindexed_ops: int
    total_ops: int
    op_indexing_progress: float
