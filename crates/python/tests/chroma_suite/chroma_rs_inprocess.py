"""pytest plugin: Chroma's own test suite, with its `client` fixture answered by chroma_rs in process."""
import os

import pytest


def pytest_configure(config):
    import chromadb.test.conftest as suite
    import chroma_rs

    class Creator:
        @staticmethod
        def from_system(system, tenant="default_tenant", database="default_database"):
            settings = chroma_rs.Settings(allow_reset=True)
            if system.settings.is_persistent:
                # chromadb's own engine holds persist_directory: ours gets a folder beside it
                client = chroma_rs.PersistentClient(system.settings.persist_directory + "-chroma-rs", settings=settings)
            else:
                client = chroma_rs.EphemeralClient(settings=settings)
            client.reset()
            try:
                client.set_tenant(tenant, database)
            except Exception:
                admin = chroma_rs.AdminClient(client.get_settings())
                try:
                    admin.create_tenant(tenant)
                except Exception:
                    pass
                admin.create_database(database, tenant)
                client.set_tenant(tenant, database)
            return client

    suite.ClientCreator = Creator


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="does not use the client fixture: tests chromadb's own engine")
    for item in items:
        if "client" not in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
