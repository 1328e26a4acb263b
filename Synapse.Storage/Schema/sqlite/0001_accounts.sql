CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    user_id_lower  TEXT NOT NULL,
    password_hash  TEXT,
    created_ts     BIGINT NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    is_guest       INTEGER NOT NULL DEFAULT 0,
    is_deactivated INTEGER NOT NULL DEFAULT 0,
    user_type      TEXT
);
CREATE INDEX users_lower ON users (user_id_lower);

CREATE TABLE profiles (
    user_id     TEXT PRIMARY KEY,
    displayname TEXT,
    avatar_url  TEXT
);

CREATE TABLE devices (
    user_id              TEXT NOT NULL,
    device_id            TEXT NOT NULL,
    display_name         TEXT,
    last_seen_ip         TEXT,
    last_seen_ts         BIGINT,
    last_seen_user_agent TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

CREATE TABLE ui_auth_sessions (
    session_id       TEXT PRIMARY KEY,
    method           TEXT NOT NULL,
    uri              TEXT NOT NULL,
    user_id          TEXT,
    created_ts       BIGINT NOT NULL
);
CREATE INDEX ui_auth_sessions_created ON ui_auth_sessions (created_ts);

CREATE TABLE ui_auth_stages (
    session_id TEXT NOT NULL,
    stage      TEXT NOT NULL,
    PRIMARY KEY (session_id, stage)
);
