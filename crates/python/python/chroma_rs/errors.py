"""Exception classes, named as chromadb 1.x names them.

``except chroma_rs.errors.NotFoundError`` catches what ``except chromadb.errors.NotFoundError``
catches with chromadb. Argument mistakes that chromadb reports as ``ValueError`` or ``TypeError``
before calling its engine raise those built-in classes here too.
"""

from typing import Optional


class ChromaError(Exception):
    """Base class of every error the engine reports."""

    trace_id: Optional[str] = None

    def code(self) -> int:
        """The HTTP status a server answers for this error."""
        return 400

    def message(self) -> str:
        """The error's text."""
        return ", ".join(str(a) for a in self.args)

    @classmethod
    def name(cls) -> str:
        """The error's name on the wire."""
        return cls.__name__


class InvalidDimensionException(ChromaError):
    """An embedding of the wrong dimension (older chromadb name)."""

    @classmethod
    def name(cls) -> str:
        return "InvalidDimension"


class IDAlreadyExistsError(ChromaError):
    """An id that is already present (older chromadb name)."""

    def code(self) -> int:
        return 409

    @classmethod
    def name(cls) -> str:
        return "IDAlreadyExists"


class ChromaAuthError(ChromaError):
    """Missing or wrong credentials."""

    def code(self) -> int:
        return 403

    @classmethod
    def name(cls) -> str:
        return "AuthError"


class DuplicateIDError(ChromaError):
    """The same id twice in one request."""

    @classmethod
    def name(cls) -> str:
        return "DuplicateID"


class InvalidArgumentError(ChromaError, ValueError):
    """An argument the engine refuses (names, metadata, filters, dimensions, ...).

    Also a ``ValueError``: chromadb checks many of these arguments in Python and raises
    ``ValueError``, so ``except ValueError`` code keeps catching them here.
    """

    @classmethod
    def name(cls) -> str:
        return "InvalidArgument"


class InvalidUUIDError(ChromaError):
    """A collection id that is not a UUID."""

    @classmethod
    def name(cls) -> str:
        return "InvalidUUID"


class InvalidHTTPVersion(ChromaError):
    """The server speaks another HTTP API version."""

    @classmethod
    def name(cls) -> str:
        return "InvalidHTTPVersion"


class AuthorizationError(ChromaError):
    """An operation the settings do not allow (e.g. ``reset`` without ``allow_reset``)."""

    def code(self) -> int:
        return 401

    @classmethod
    def name(cls) -> str:
        return "AuthorizationError"


class NotFoundError(ChromaError):
    """A tenant, database or collection that does not exist."""

    def code(self) -> int:
        return 404

    @classmethod
    def name(cls) -> str:
        return "NotFoundError"


class InternalError(ChromaError):
    """Anything else the engine could not do."""

    def code(self) -> int:
        return 500

    @classmethod
    def name(cls) -> str:
        return "InternalError"


class UniqueConstraintError(InternalError):
    """A collection (or tenant, database) name already taken.

    chromadb 1.x's in-process client raises ``InternalError`` here and its HTTP client
    ``UniqueConstraintError``; this class is both, so either ``except`` catches it.
    """

    def code(self) -> int:
        return 409

    @classmethod
    def name(cls) -> str:
        return "UniqueConstraintError"


class BatchSizeExceededError(ChromaError):
    """More records in one write than ``get_max_batch_size()`` allows."""

    def code(self) -> int:
        return 413

    @classmethod
    def name(cls) -> str:
        return "BatchSizeExceededError"


class VersionMismatchError(ChromaError):
    """The server speaks an API version this client does not."""

    def code(self) -> int:
        return 500

    @classmethod
    def name(cls) -> str:
        return "VersionMismatchError"


class RateLimitError(ChromaError):
    """The server asked the client to slow down."""

    def code(self) -> int:
        return 429

    @classmethod
    def name(cls) -> str:
        return "RateLimitError"


class QuotaError(ChromaError):
    """A server quota was exceeded."""

    @classmethod
    def name(cls) -> str:
        return "QuotaError"
