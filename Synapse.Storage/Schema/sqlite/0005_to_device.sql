-- Pending send-to-device messages, one row per recipient device, until a later sync proves delivery.
-- message_json is the event as /sync returns it: {"content", "sender", "type"}.
CREATE TABLE device_inbox (
    stream_id    BIGINT NOT NULL,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    message_json TEXT NOT NULL
);
CREATE INDEX device_inbox_target ON device_inbox (user_id, device_id, stream_id);
CREATE INDEX device_inbox_stream ON device_inbox (stream_id);

-- Transaction IDs already used by a sending device, so that a retried PUT /sendToDevice delivers once.
-- stream_id is the request's to-device position: delivered messages are deleted, so the newest row here (kept by the
-- clean-up) is what remembers the stream's position across a restart.
CREATE TABLE device_inbox_txns (
    sender_user   TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    txn_id        TEXT NOT NULL,
    stream_id     BIGINT NOT NULL,
    inserted_ts   BIGINT NOT NULL,
    PRIMARY KEY (sender_user, sender_device, txn_id)
);
CREATE INDEX device_inbox_txns_ts ON device_inbox_txns (inserted_ts);

-- Changes of a user's device list (device added, removed, renamed; later key uploads), one row per device.
CREATE TABLE device_lists_stream (
    stream_id BIGINT NOT NULL,
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL
);
CREATE INDEX device_lists_stream_id ON device_lists_stream (stream_id);
CREATE INDEX device_lists_user ON device_lists_stream (user_id, stream_id);
