"""Embedding functions: any callable with chromadb's protocol works.

An embedding function is an object whose ``__call__(input: list[str]) -> list[vector]`` embeds a
batch of documents; chromadb's own classes (``chromadb.utils.embedding_functions``) qualify when
chromadb is installed beside chroma_rs. ``DefaultEmbeddingFunction`` is the function collections
get when none is given: it is used only for records or queries that come without embeddings.
"""

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from chroma_rs import _native


class DefaultEmbeddingFunction:
    """Chroma's default model, all-MiniLM-L6-v2 (384 dimensions), run natively in Rust.

    The model files are found as ``chroma-embed`` documents (``CHROMA_RS_MODEL_DIR``, then the
    user cache folder, downloaded there at first use and checked against pinned SHA-256s). When
    they cannot be had, calling it raises ``ValueError`` saying what to do instead: pass
    ``embeddings=`` (and ``query_embeddings=``), or an ``embedding_function=``.
    """

    def __call__(self, input: Sequence[str]) -> List[np.ndarray]:  # noqa: A002 (chromadb's name)
        texts = [input] if isinstance(input, str) else list(input)
        for t in texts:
            if not isinstance(t, str):
                raise ValueError(f"The default embedding function embeds documents (str), got {type(t).__name__}")
        return list(_native.embed_default(texts))

    @staticmethod
    def name() -> str:
        """The name chromadb 1.x stores in the collection's configuration."""
        return "default"

    def get_config(self) -> Dict[str, Any]:
        """The configuration chromadb 1.x stores with the name."""
        return {}

    def is_legacy(self) -> bool:
        """chromadb's protocol: this function has a name and a config."""
        return False


def config_of(ef: Optional[Any]) -> Optional[Dict[str, Any]]:
    """The ``embedding_function`` entry of a 1.x collection configuration for ``ef``."""
    if ef is None:
        return None
    name = getattr(ef, "name", None)
    get_config = getattr(ef, "get_config", None)
    if callable(name) and callable(get_config):
        try:
            n, c = name(), get_config()
        except Exception:  # a custom function without a real name: stored as chromadb stores those
            return {"type": "legacy"}
        if isinstance(n, str) and isinstance(c, dict):
            return {"type": "known", "name": n, "config": c}
    return {"type": "legacy"}
