-- The caches stream: an entry a process must drop from its in-memory cache because another process changed what it
-- holds (workers follow main's writes here). keys_json is the JSON array of the entry's key parts. Rows of one position
-- are one invalidation; old rows are pruned, the newest kept so that the stream's position survives a restart.
CREATE TABLE cache_invalidations (
    stream_id      BIGINT NOT NULL,
    cache_name     TEXT NOT NULL,
    keys_json      TEXT NOT NULL,
    invalidated_ts BIGINT NOT NULL
);
CREATE INDEX cache_invalidations_stream ON cache_invalidations (stream_id);
CREATE INDEX cache_invalidations_ts ON cache_invalidations (invalidated_ts);

-- The transaction of the replication call that created the user (null for a user created in-process): a worker that
-- retries register_user after a lost answer is told the user it created is its own, not "taken".
ALTER TABLE users ADD COLUMN creation_txn TEXT;
