-- Subjects: the people of a product that keeps its own accounts, each an account owned by one
-- client under the product's own identifier (unique within that client). The email column of
-- such a row holds a placeholder (the one-account-per-mailbox rule is for Deadbolt's own
-- accounts); the address the product states for its person is kept beside it.
ALTER TABLE accounts ADD COLUMN subject_client_id TEXT;
ALTER TABLE accounts ADD COLUMN external_id TEXT;
ALTER TABLE accounts ADD COLUMN subject_email TEXT;
CREATE UNIQUE INDEX accounts_subject ON accounts (subject_client_id, external_id);

-- The public keys (a JWKS) a client signs its request objects with (RFC 9101).
ALTER TABLE oidc_clients ADD COLUMN jwks TEXT;

-- The request an authorization waits on may name a client's subject (from its request object);
-- the subject's sign-in is begun once, in one browser.
ALTER TABLE oidc_requests ADD COLUMN subject_account_id TEXT;
ALTER TABLE oidc_requests ADD COLUMN subject_started_at BIGINT;

-- Each request object is used once: its jti is kept until the object expires.
CREATE TABLE oidc_request_objects (
    client_id       TEXT NOT NULL,
    jti             TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oidc_request_objects_expiry ON oidc_request_objects (expires_at);
