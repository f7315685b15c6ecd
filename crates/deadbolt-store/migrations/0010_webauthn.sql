-- WebAuthn security keys and passkeys.

-- The WebAuthn user handle of an account: random, so that an authenticator (and whoever reads
-- it) learns nothing about the account from it; the same for every credential of the account.
CREATE TABLE webauthn_users (
    account_id           TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    user_handle          BYTEA NOT NULL UNIQUE
);

-- One registered credential per webauthn method (the method row holds its label, use and
-- failure counts).
CREATE TABLE webauthn_credentials (
    method_id            TEXT PRIMARY KEY REFERENCES mfa_methods (id) ON DELETE CASCADE,
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- found by it when an assertion arrives, and unique across accounts (WebAuthn L3 7.1 step 26)
    credential_id        BYTEA NOT NULL UNIQUE,
    -- the public key and the extensions that matter at sign-in (webauthn_rp's binary form)
    static_state         BYTEA NOT NULL,
    -- user verified, backup state, signature counter, attachment (webauthn_rp's binary form)
    dynamic_state        BYTEA NOT NULL,
    -- the last accepted signature counter: a conditional update on it lets an assertion pass once
    sign_count           BIGINT NOT NULL,
    aaguid               TEXT NOT NULL,
    -- none | self
    attestation          TEXT NOT NULL,
    -- the AuthenticatorTransport bit set the browser reported, offered back in allowCredentials
    transports           BIGINT NOT NULL,
    backup_eligible      BOOLEAN NOT NULL,
    backed_up            BOOLEAN NOT NULL,
    -- the authenticator said it keeps the credential (a passkey); NULL when it did not say
    discoverable         BOOLEAN,
    created_at           BIGINT NOT NULL,
    last_used_at         BIGINT
);
CREATE INDEX webauthn_credentials_account ON webauthn_credentials (account_id);

-- Ceremonies in progress: what the server must remember between handing out options and
-- receiving the credential, so any instance can finish what another began. Single use
-- (consumed_at), short-lived (expires_at).
CREATE TABLE webauthn_ceremonies (
    id                   TEXT PRIMARY KEY,
    -- the random challenge, hex: an assertion names its ceremony by it
    challenge            TEXT NOT NULL UNIQUE,
    -- register | second_factor | passkey
    kind                 TEXT NOT NULL,
    account_id           TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    -- register: the pending method the credential will belong to
    method_id            TEXT,
    -- second_factor: the login, step-up or reset challenge it serves (mfa_challenges.token_hash)
    challenge_hash       BYTEA,
    -- webauthn_rp's serialised server state
    state                BYTEA NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    consumed_at          BIGINT
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
