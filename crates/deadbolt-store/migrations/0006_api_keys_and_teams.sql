-- API keys (only a keyed hash of each; the first characters in the clear, to tell them apart)
-- and teams with their members.

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    shown           TEXT NOT NULL,
    key_hash        BYTEA NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

CREATE TABLE teams (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- owner | admin | member
CREATE TABLE team_members (
    team_id         TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (team_id, account_id)
);
CREATE INDEX team_members_account ON team_members (account_id);
