-- The schema is written once for both backends: only types both understand (TEXT, BIGINT,
-- BOOLEAN, BYTEA) are used. Ids are UUID strings and instants are Unix milliseconds, so the
-- same queries serve SQLite and PostgreSQL.

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    -- normalised to lower case by the core, so UNIQUE means one account per mailbox
    email           TEXT NOT NULL UNIQUE,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    phone           TEXT,
    phone_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    -- Argon2id PHC string; NULL for accounts that cannot sign in with a password
    password_hash   TEXT,
    -- space-separated role names; each matches [a-z0-9_]+
    roles           TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);

-- Service keys (the JWT signing key, the token-hashing key), each sealed with
-- XChaCha20-Poly1305 under the master key named by master_key_id. Shared by every instance.
CREATE TABLE service_keys (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    master_key_id   TEXT NOT NULL,
    nonce           BYTEA NOT NULL,
    ciphertext      BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    -- a retired signing key stays published in the JWKS until its tokens have expired
    retired_at      BIGINT
);
-- at most one live key of each kind, so instances racing at first start agree on one
CREATE UNIQUE INDEX service_keys_one_live ON service_keys (kind) WHERE retired_at IS NULL;

-- One-time codes sent to a channel; only their keyed hash is kept.
CREATE TABLE verification_codes (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL,
    code_hash       BYTEA NOT NULL,
    expires_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    consumed_at     BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX verification_codes_lookup ON verification_codes (account_id, purpose, created_at);

-- Failed attempts per throttle key ("email:…", "ip:…"), counted across instances.
CREATE TABLE auth_failures (
    key             TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX auth_failures_key_at ON auth_failures (key, at);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    -- moves at each refresh; the idle limit counts from here
    last_active_at  BIGINT NOT NULL,
    revoked_at      BIGINT,
    auth_time       BIGINT NOT NULL,
    -- the amr values, space-separated, and the acr of the sign-in
    amr             TEXT NOT NULL,
    acr             TEXT NOT NULL,
    ip              TEXT,
    user_agent      TEXT
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Every refresh token ever issued, by keyed hash; used_at set once it was exchanged, so a
-- second presentation is recognised as reuse.
CREATE TABLE refresh_tokens (
    hash            BYTEA PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Security events. No foreign key: events outlive the accounts they describe.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    account_id      TEXT,
    kind            TEXT NOT NULL,
    at              BIGINT NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    -- JSON object with event-specific facts; never secrets
    detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_account_at ON events (account_id, at, id);
CREATE INDEX events_at ON events (at, id);

-- Messages accepted for delivery. A worker claims due rows with a lease, so a crashed worker's
-- messages are picked up again; bodies are wiped once the provider acknowledged them.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT,
    body_html       TEXT,
    -- pending | sent | dead
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
