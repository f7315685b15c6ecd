-- OpenID Connect sign-ins. An authorization request waits here while the person signs in on
-- the hosted pages (its id travels in a cookie, never a secret); the code it ends with is kept
-- only as a keyed hash; what a code's exchange gives a client is a grant, bound to the browser
-- session it came from, with its own chain of rotating refresh tokens. A consent is what a
-- person allowed a third-party client, until they take it back.

CREATE TABLE oidc_requests (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    state           TEXT,
    nonce           TEXT,
    code_challenge  TEXT,
    prompt          TEXT NOT NULL,
    max_age         BIGINT,
    acr             TEXT NOT NULL,
    login_hint      TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX oidc_requests_expiry ON oidc_requests (expires_at);

CREATE TABLE oidc_codes (
    hash            BYTEA PRIMARY KEY,
    client_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id      TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       BIGINT NOT NULL,
    amr             TEXT NOT NULL,
    acr             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    -- the grant its first exchange made: ended when the code comes back a second time
    grant_id        TEXT
);
CREATE INDEX oidc_codes_expiry ON oidc_codes (expires_at);

CREATE TABLE oidc_grants (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id      TEXT NOT NULL,
    scope           TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    amr             TEXT NOT NULL,
    acr             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);
CREATE INDEX oidc_grants_account ON oidc_grants (account_id, client_id);

CREATE TABLE oidc_refresh_tokens (
    hash            BYTEA PRIMARY KEY,
    grant_id        TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX oidc_refresh_tokens_grant ON oidc_refresh_tokens (grant_id);

CREATE TABLE oidc_consents (
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    granted_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);
