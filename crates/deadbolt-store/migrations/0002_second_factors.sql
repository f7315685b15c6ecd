-- Second factors, step-up and trusted devices.

-- One row per second-factor method of an account, whatever its kind; what a kind needs beyond
-- this lives in a table of its own (totp_methods, ...).
CREATE TABLE mfa_methods (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL,
    label                TEXT NOT NULL,
    -- NULL while enrolment waits for the first code
    confirmed_at         BIGINT,
    is_primary           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL,
    last_used_at         BIGINT,
    -- NIST SP 800-63B rev 4 3.2.2: consecutive failures of this authenticator, reset by a
    -- success; at the cap it is disabled until bound again
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    last_failure_at      BIGINT,
    disabled_at          BIGINT
);
CREATE INDEX mfa_methods_account ON mfa_methods (account_id);

-- A TOTP method's secret, sealed under the master key (the method id is the associated data).
CREATE TABLE totp_methods (
    method_id            TEXT PRIMARY KEY REFERENCES mfa_methods (id) ON DELETE CASCADE,
    master_key_id        TEXT NOT NULL,
    nonce                BYTEA NOT NULL,
    ciphertext           BYTEA NOT NULL,
    algorithm            TEXT NOT NULL,
    digits               BIGINT NOT NULL,
    period_seconds       BIGINT NOT NULL,
    -- the last accepted time step: a conditional update on it lets a code pass once
    last_step            BIGINT NOT NULL DEFAULT -1
);

-- Recovery codes: an Argon2id hash each (per-code salt), found by a keyed lookup hash so that
-- checking a code costs one Argon2 verification.
CREATE TABLE recovery_codes (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    lookup               BYTEA NOT NULL,
    hash                 TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    used_at              BIGINT
);
CREATE UNIQUE INDEX recovery_codes_lookup ON recovery_codes (lookup);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id);

-- Pending second-factor checks: a login's mfa_token or a step-up's challenge_token, by keyed
-- hash. Single purpose; spent by a success; dead after too many wrong codes.
CREATE TABLE mfa_challenges (
    token_hash           BYTEA PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- login | step_up
    purpose              TEXT NOT NULL,
    -- step_up: the action and the session that asked
    action               TEXT,
    session_id           TEXT,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    failures             BIGINT NOT NULL DEFAULT 0,
    consumed_at          BIGINT
);
CREATE INDEX mfa_challenges_account ON mfa_challenges (account_id);

-- What a satisfied step-up allows a session: one use, or uses until expires_at.
CREATE TABLE step_up_grants (
    id                   TEXT PRIMARY KEY,
    session_id           TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    action               TEXT NOT NULL,
    expires_at           BIGINT NOT NULL,
    one_shot             BOOLEAN NOT NULL,
    -- the window a sliding grant moves forward by at each use; NULL when fixed
    sliding_seconds      BIGINT,
    used_at              BIGINT,
    auth_time            BIGINT NOT NULL,
    amr                  TEXT NOT NULL,
    acr                  TEXT NOT NULL
);
CREATE INDEX step_up_grants_session ON step_up_grants (session_id, action);

-- Devices that skip the second factor: a keyed hash of the device token, bound to the account
-- and the User-Agent it was issued to.
CREATE TABLE trusted_devices (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash           BYTEA NOT NULL UNIQUE,
    user_agent           TEXT NOT NULL,
    ip                   TEXT,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    last_used_at         BIGINT,
    revoked_at           BIGINT
);
CREATE INDEX trusted_devices_account ON trusted_devices (account_id);
