CREATE TABLE device_inbox (
    stream_id    BIGINT NOT NULL,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    message_json TEXT NOT NULL
);
CREATE INDEX device_inbox_target ON device_inbox (user_id, device_id, stream_id);
CREATE INDEX device_inbox_stream ON device_inbox (stream_id);

CREATE TABLE device_inbox_txns (
    sender_user   TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    txn_id        TEXT NOT NULL,
    inserted_ts   BIGINT NOT NULL,
    PRIMARY KEY (sender_user, sender_device, txn_id)
);

CREATE TABLE device_lists_stream (
    stream_id BIGINT NOT NULL,
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL
);
CREATE INDEX device_lists_stream_id ON device_lists_stream (stream_id);
CREATE INDEX device_lists_user ON device_lists_stream (user_id, stream_id);
