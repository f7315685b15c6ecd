-- Service keys rotate: a retired signing key keeps verifying until verify_until (the longest
-- lifetime of anything it signed, from its retirement), then goes from the JWKS and the table.
ALTER TABLE service_keys ADD COLUMN verify_until BIGINT;
