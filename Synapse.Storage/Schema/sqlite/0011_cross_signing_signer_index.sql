-- Deleting a device deletes the signatures it made (signer_key_id 'ed25519:<device ID>'): without this index that is a scan
-- of every signature on the server, since the primary key starts with the target.
CREATE INDEX e2e_cross_signing_signatures_signer ON e2e_cross_signing_signatures (signer_user_id, signer_key_id);
