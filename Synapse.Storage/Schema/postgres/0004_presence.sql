CREATE TABLE presence (
    user_id           TEXT PRIMARY KEY,
    state             TEXT NOT NULL,
    status_msg        TEXT,
    last_active_ts    BIGINT NOT NULL,
    last_user_sync_ts BIGINT NOT NULL,
    currently_active  BOOLEAN NOT NULL DEFAULT FALSE,
    stream_id         BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);
