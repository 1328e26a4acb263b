-- A user's current cross-signing keys (Spec: Client-Server API, "Cross-signing"): one row per usage ('master',
-- 'self_signing', 'user_signing'). public_key is the unpadded base64 ed25519 key, which is also the key's ID in
-- signatures; key_json is the key object as uploaded. stream_id is the device-lists position of the upload.
CREATE TABLE e2e_cross_signing_keys (
    user_id    TEXT NOT NULL,
    key_type   TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    stream_id  BIGINT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded through /keys/signatures/upload: signer_key_id ('ed25519:<device ID or public key>') of
-- signer_user_id signed target_key_id (a device ID or a master public key) of target_user_id. Kept when the target or
-- signing key is replaced: clients check signatures, and a rolled-back key finds its old signatures valid again.
CREATE TABLE e2e_cross_signing_signatures (
    signer_user_id TEXT NOT NULL,
    signer_key_id  TEXT NOT NULL,
    target_user_id TEXT NOT NULL,
    target_key_id  TEXT NOT NULL,
    signature      TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);
