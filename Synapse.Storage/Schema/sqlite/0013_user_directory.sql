-- The user directory (docs/user-directory.md), kept by one updater process from the events stream and the users table.
-- user_directory: every user a search may return: each local user who is not deactivated, and remote users met in rooms.
CREATE TABLE user_directory (
    user_id      TEXT PRIMARY KEY,
    display_name TEXT,
    avatar_url   TEXT
);

-- The lower-cased words of each entry's user ID and display name; a search term's words must each be a
-- prefix of one of them (GLOB 'prefix*' uses the primary key).
CREATE TABLE user_directory_search (
    word    TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (word, user_id)
);
CREATE INDEX user_directory_search_user ON user_directory_search (user_id);

-- Users joined to rooms that anyone may join or read (join rule public, or history visibility world_readable).
CREATE TABLE users_in_public_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX users_in_public_rooms_room ON users_in_public_rooms (room_id);

-- For each local user, the users joined with them to a room that is not public, and which room: the only place a
-- search by that user may find them.
CREATE TABLE users_who_share_private_rooms (
    user_id       TEXT NOT NULL,
    other_user_id TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    PRIMARY KEY (user_id, other_user_id, room_id)
);
CREATE INDEX users_who_share_private_rooms_room ON users_who_share_private_rooms (room_id);
CREATE INDEX users_who_share_private_rooms_other ON users_who_share_private_rooms (other_user_id);

-- The events stream position the updater has applied (one row once it has filled the directory; none before).
CREATE TABLE user_directory_stream_pos (
    lock      CHAR(1) NOT NULL DEFAULT 'X' PRIMARY KEY CHECK (lock = 'X'),
    stream_id BIGINT NOT NULL
);
