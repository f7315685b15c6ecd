-- The key that hashes tokens and codes rotates too. API keys and recovery codes have no end of
-- their own, so each row names the hashing key its lookup hash was made with: a retired hashing
-- key is kept for as long as a live API key or an unused recovery code still needs it.
ALTER TABLE api_keys ADD COLUMN hash_key_id TEXT;
ALTER TABLE recovery_codes ADD COLUMN hash_key_id TEXT;
-- rows made before this migration were all hashed under the one live hashing key
UPDATE api_keys SET hash_key_id = (SELECT id FROM service_keys WHERE kind = 'token_hmac' AND retired_at IS NULL);
UPDATE recovery_codes SET hash_key_id = (SELECT id FROM service_keys WHERE kind = 'token_hmac' AND retired_at IS NULL);
