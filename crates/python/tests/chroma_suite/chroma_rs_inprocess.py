"""pytest plugin: Chroma's own 1.5.9 test suite, with its `client` fixture answered by chroma_rs.

Loaded by `scripts/chroma-suite-inprocess.sh ours`. The suite's `client` fixture (and the helper
that gives each test its own database) are pointed at chroma_rs's `EphemeralClient` /
`PersistentClient`; tests that do not use the `client` fixture test chromadb's own engine and are
skipped. The suite catches `chromadb.errors` classes: chroma_rs raises classes of the same
names from its own module, so here those names are bound to chromadb's classes (a harness
matter: which module a class with that name lives in), `InvalidArgumentError` staying a
`ValueError` as it is in chroma_rs.
"""

import pytest


def _bridge_errors():
    import chromadb.errors as theirs

    import chroma_rs.collection
    import chroma_rs.errors as ours

    for name in ("ChromaError", "NotFoundError", "DuplicateIDError", "UniqueConstraintError", "InternalError",
                 "AuthorizationError", "ChromaAuthError", "BatchSizeExceededError", "InvalidUUIDError"):
        if hasattr(theirs, name):
            setattr(ours, name, getattr(theirs, name))
    ours.InvalidArgumentError = type("InvalidArgumentError", (theirs.InvalidArgumentError, ValueError), {})
    chroma_rs.collection.DuplicateIDError = ours.DuplicateIDError


def pytest_configure(config):
    import chromadb.test.conftest as suite

    import chroma_rs

    _bridge_errors()

    def admin_for(client):
        return chroma_rs.AdminClient(client.get_settings())

    class Creator:
        @staticmethod
        def from_system(system, tenant="default_tenant", database="default_database"):
            settings = chroma_rs.Settings(allow_reset=True)
            if system.settings.is_persistent:
                # chromadb's own engine holds persist_directory: ours gets a folder beside it
                settings.is_persistent = True
                settings.persist_directory = system.settings.persist_directory + "-chroma-rs"
                client = chroma_rs.PersistentClient(settings.persist_directory, settings=settings)
            else:
                client = chroma_rs.EphemeralClient(settings=settings)
            client.reset()
            try:
                client.set_tenant(tenant, database)
            except Exception:
                admin = admin_for(client)
                try:
                    admin.create_tenant(tenant)
                except Exception:
                    pass
                admin.create_database(database, tenant)
                client.set_tenant(tenant, database)
            return client

    def create_database(client, database):
        admin_for(client).create_database(database, client.tenant)

    suite.ClientCreator = Creator
    suite.create_database = create_database


# Tests that take the `client` fixture but then test chromadb's own engine through other
# fixtures, with the reason.
OWN_ENGINE = {
    "test_persist_index_loading_params": "switches to chromadb's local_persist_api fixture (its own engine)",
}


# Tests that pass against chromadb's own in-process client and not against chroma_rs, with the
# reason. They are xfail here, so a run fails on any failure not listed.
KNOWN_DIFFERENCES = {
    "test_embeddings_state": "its log_size_below_max invariant reads chromadb's System object "
    "(client._system) to measure chromadb's own embeddings-queue table; chroma_rs has neither",
}


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="does not use the client fixture: tests chromadb's own engine")
    for item in items:
        if "client" not in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
        elif item.originalname in OWN_ENGINE:
            item.add_marker(pytest.mark.skip(reason=OWN_ENGINE[item.originalname]))
        elif item.originalname in KNOWN_DIFFERENCES:
            item.add_marker(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[item.originalname], strict=False))
