-- chroma-cluster schema 1. Every table that grows with the data is keyed by collection_id
-- first, so Citus can distribute chroma_records and chroma_log by it (and co-locate them);
-- no foreign keys between those tables and the catalog, no global sequences in them.
CREATE TABLE chroma_tenants (
    name text PRIMARY KEY,
    created bigserial NOT NULL
);
CREATE TABLE chroma_databases (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    name text NOT NULL,
    created bigserial NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE chroma_collections (
    id uuid PRIMARY KEY,
    database_id uuid NOT NULL,
    name text NOT NULL,
    metadata text,
    config text NOT NULL,
    dimension integer,
    version bigint NOT NULL DEFAULT 0,
    -- Position of the last change in chroma_log; the row is locked FOR UPDATE by each write,
    -- which makes positions gap-free and in commit order.
    log_position bigint NOT NULL DEFAULT 0,
    -- Insertion order of records (Chroma's `get` order), advanced by the same writes.
    next_seq bigint NOT NULL DEFAULT 0,
    lineage uuid,
    -- A new value for every creation: a node's cache of an older collection with the same id
    -- (after a reset, say) is recognised as stale.
    incarnation bigserial NOT NULL,
    UNIQUE (database_id, name)
);
CREATE TABLE chroma_records (
    collection_id uuid NOT NULL,
    id text NOT NULL,
    seq bigint NOT NULL,
    embedding bytea,
    document text,
    uri text,
    metadata text,
    PRIMARY KEY (collection_id, id)
);
CREATE INDEX chroma_records_seq ON chroma_records (collection_id, seq);
CREATE TABLE chroma_log (
    collection_id uuid NOT NULL,
    position bigint NOT NULL,
    op text NOT NULL,
    PRIMARY KEY (collection_id, position)
);
INSERT INTO chroma_tenants (name) VALUES ('default_tenant');
INSERT INTO chroma_databases (id, tenant, name)
    VALUES ('00000000-0000-0000-0000-000000000000', 'default_tenant', 'default_database');
