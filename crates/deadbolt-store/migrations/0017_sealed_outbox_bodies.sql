-- A message's words can carry a one-time code. While the message waits in the outbox they are
-- sealed under a master key, so that the database's files, its write-ahead log, freed pages and
-- backups never hold a code in the clear. Rows written before keep their plain body until they
-- are delivered.
ALTER TABLE outbox ADD COLUMN body_key_id TEXT;
ALTER TABLE outbox ADD COLUMN body_nonce BYTEA;
ALTER TABLE outbox ADD COLUMN body_sealed BYTEA;
