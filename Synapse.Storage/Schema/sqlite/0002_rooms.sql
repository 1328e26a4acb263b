CREATE TABLE rooms (
    room_id      TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator      TEXT NOT NULL,
    is_public    INTEGER NOT NULL DEFAULT 0,
    created_ts   BIGINT NOT NULL
);

CREATE TABLE events (
    stream_ordering  BIGINT PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL,
    type             TEXT NOT NULL,
    state_key        TEXT,
    sender           TEXT NOT NULL,
    depth            BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    received_ts      BIGINT NOT NULL,
    state_group      BIGINT NOT NULL,
    replaces_state   TEXT,
    json             TEXT NOT NULL
);
CREATE INDEX events_room_topo ON events (room_id, depth, stream_ordering);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts);

CREATE TABLE event_forward_extremities (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

CREATE TABLE state_groups (
    id           BIGINT PRIMARY KEY,
    room_id      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    prev_group   BIGINT,
    chain_length INTEGER NOT NULL
);

CREATE TABLE state_group_entries (
    state_group BIGINT NOT NULL,
    type        TEXT NOT NULL,
    state_key   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (state_group, type, state_key)
);

CREATE TABLE current_state_events (
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    membership TEXT,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state_events (state_key, type, membership);

CREATE TABLE event_txn_ids (
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    txn_id      TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    inserted_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX event_txn_ids_event ON event_txn_ids (event_id);

CREATE TABLE redactions (
    event_id TEXT PRIMARY KEY,
    redacts  TEXT NOT NULL
);
CREATE INDEX redactions_redacts ON redactions (redacts);

CREATE TABLE event_relations (
    event_id        TEXT PRIMARY KEY,
    relates_to_id   TEXT NOT NULL,
    relation_type   TEXT NOT NULL,
    aggregation_key TEXT
);
CREATE INDEX event_relations_target ON event_relations (relates_to_id, relation_type);

CREATE TABLE room_aliases (
    room_alias TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    creator    TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

CREATE TABLE room_forgotten (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

CREATE INDEX events_membership ON events (state_key, type) WHERE state_key IS NOT NULL;
