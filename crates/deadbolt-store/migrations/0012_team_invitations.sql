-- Team invitations: a team's owner or admin invites an email address; whoever holds that
-- address, once verified, accepts (and becomes a member) or declines. Keyed by the normalised
-- address rather than by account, so that an invitation is stored alike whether or not the
-- address has an account (the answer to the inviter cannot tell which), and reaches an account
-- made for the address later. It stands while its inviter keeps a role that may grant it.
CREATE TABLE team_invitations (
    id              TEXT PRIMARY KEY,
    team_id         TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    invited_by      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    invited_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    UNIQUE (team_id, email)
);
CREATE INDEX team_invitations_email ON team_invitations (email);
CREATE INDEX team_invitations_expiry ON team_invitations (expires_at);
