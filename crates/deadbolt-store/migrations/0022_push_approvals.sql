-- Push approval with number matching. A push method's approver is one signed-in session: only
-- that session is shown its requests and may answer them; once it ends, nobody can.
CREATE TABLE push_methods (
    method_id            TEXT PRIMARY KEY REFERENCES mfa_methods (id) ON DELETE CASCADE,
    session_id           TEXT NOT NULL,
    -- an Ed25519 public key (raw 32 bytes): when present every answer must be signed with it
    public_key           BYTEA,
    -- the push gateway's address for the approver, sealed under the master key (the method id
    -- is the associated data); NULL when the approver only polls
    token_key_id         TEXT,
    token_nonce          BYTEA,
    token_ciphertext     BYTEA
);

-- One push request: the number the requesting screen shows (two digits, alive two minutes),
-- who asked from where, and the answer. `challenge_hash` ties it to the one challenge it was
-- asked for, so no other sign-in can spend it.
CREATE TABLE push_approvals (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    method_id            TEXT NOT NULL REFERENCES mfa_methods (id) ON DELETE CASCADE,
    challenge_hash       BYTEA NOT NULL,
    number               BIGINT NOT NULL,
    -- pending | approved | denied | expired | used
    state                TEXT NOT NULL,
    -- a denial's reason: wrong_number | user_denied
    reason               TEXT,
    -- approved with a signature of the approver's key
    bound                BOOLEAN NOT NULL DEFAULT FALSE,
    purpose              TEXT NOT NULL,
    action               TEXT,
    ip                   TEXT,
    place                TEXT,
    user_agent           TEXT,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    decided_at           BIGINT
);
-- Push bombing: at most one request waits per account, whatever the number of instances and
-- parallel sign-ins (the second insert is a uniqueness conflict, not a race).
CREATE UNIQUE INDEX push_approvals_one_pending ON push_approvals (account_id) WHERE state = 'pending';
CREATE INDEX push_approvals_account ON push_approvals (account_id, created_at);
CREATE INDEX push_approvals_expiry ON push_approvals (expires_at);
