-- Push rules (Spec: Client-Server API, "Push Rules"). The server-default rules are not stored: they are built per user
-- in code, and only a user's changes to them (enabled, actions) are kept, in push_rules_defaults.

-- A user's own rules. rule_order places a rule among the user's rules of its kind: 0 is the most important.
-- conditions (override, underride) and actions are JSON arrays as text; pattern is set for content rules.
CREATE TABLE push_rules (
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    rule_order BIGINT NOT NULL,
    conditions TEXT,
    pattern    TEXT,
    actions    TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, kind, rule_id)
);

-- A user's changes to server-default rules (rule IDs starting with '.', unique across kinds); NULL keeps the default.
CREATE TABLE push_rules_defaults (
    user_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    enabled BOOLEAN,
    actions TEXT,
    PRIMARY KEY (user_id, rule_id)
);

-- The push_rules stream: the position of each user's last change (what /sync compares with its token, and what
-- replication reads back; a user's earlier positions are superseded).
CREATE TABLE push_rules_stream (
    user_id   TEXT NOT NULL PRIMARY KEY,
    stream_id BIGINT NOT NULL
);
CREATE INDEX push_rules_stream_id ON push_rules_stream (stream_id);
