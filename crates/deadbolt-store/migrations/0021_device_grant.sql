-- The device authorization grant (RFC 8628). A device with no keyboard asks for a sign-in and
-- polls with its device code; its person types the short user code on the device page and
-- approves or denies it there. Both codes are kept only as keyed hashes. The approval records
-- the approving sign-in (its account, session, time and methods), which the device's tokens
-- carry; the device's own session is made when it collects them.
CREATE TABLE device_authorizations (
    device_code_hash  BYTEA PRIMARY KEY,
    user_code_hash    BYTEA NOT NULL UNIQUE,
    client_id         TEXT NOT NULL,
    scope             TEXT NOT NULL,
    -- pending, approved, denied, expired (its end was recorded), used (tokens collected)
    state             TEXT NOT NULL,
    interval_seconds  BIGINT NOT NULL,
    last_polled_at    BIGINT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    -- the device that asked, as the approver is shown it
    ip                TEXT,
    user_agent        TEXT,
    place             TEXT,
    -- the approving (or denying) person and sign-in
    account_id        TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    session_id        TEXT,
    auth_time         BIGINT,
    amr               TEXT,
    acr               TEXT,
    decided_at        BIGINT
);
CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
