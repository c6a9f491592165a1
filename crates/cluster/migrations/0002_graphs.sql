-- chroma-cluster schema 2: built HNSW graphs, so that a node loading a collection from
-- chroma_records can reuse the graph another node built from the same records instead of
-- linking every vector again. A cache, never the truth: a graph is used only if its
-- collection incarnation, configuration, log position and record ids (in load order) all
-- match what the loading node read. Keyed by collection_id like the data tables (Citus).
CREATE TABLE chroma_graphs (
    collection_id uuid PRIMARY KEY,
    incarnation bigint NOT NULL,
    config_sha256 text NOT NULL,
    log_position bigint NOT NULL,
    ids_sha256 text NOT NULL,
    slots bigint NOT NULL,
    bytes bigint NOT NULL,
    chunks integer NOT NULL
);
-- The graph file (chroma-index's format, CRC-checked) in chunks: a bytea value is limited
-- to 1 GB, a graph of ~8M vectors is larger.
CREATE TABLE chroma_graph_chunks (
    collection_id uuid NOT NULL,
    chunk integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (collection_id, chunk)
);
-- Links barely compress; storing them as they are spares the compression attempt.
ALTER TABLE chroma_graph_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
