-- Account data (Spec: Client-Server API, "Client Config"): one row per (user, room, type), room_id '' is global.
-- stream_id is the account_data stream position of the row's last write.
CREATE TABLE account_data (
    user_id   TEXT NOT NULL,
    room_id   TEXT NOT NULL DEFAULT '',
    type      TEXT NOT NULL,
    content   TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);
CREATE INDEX account_data_stream_id ON account_data (stream_id);

-- Receipts (Spec: Client-Server API, "Receipts"): one event per (room, type, user, thread), thread_id '' is
-- unthreaded. data is the receipt's JSON ({"ts": ..., "thread_id": ...}), stream_id its receipts stream position.
CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    thread_id    TEXT NOT NULL DEFAULT '',
    event_id     TEXT NOT NULL,
    data         TEXT NOT NULL,
    stream_id    BIGINT NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_stream ON receipts (stream_id);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_id);
