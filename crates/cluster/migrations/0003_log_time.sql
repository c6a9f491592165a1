-- chroma-cluster schema 3: when each change-log entry was written, so that entries older than
-- the nodes' retention can be pruned (docs/scale-out.md, "Log pruning"). Entries written before
-- this migration count as written now (a stable default: no table rewrite); new ones take the
-- clock when inserted, under the collection's row lock, so within a collection the time grows
-- with the position and pruning by time removes a prefix of the log.
ALTER TABLE chroma_log ADD COLUMN written_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE chroma_log ALTER COLUMN written_at SET DEFAULT clock_timestamp();
CREATE INDEX chroma_log_written_at ON chroma_log (written_at);
