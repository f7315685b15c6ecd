-- OpenID Connect relying parties. A confidential client's secret is kept only as a keyed hash
-- (with the id of the hashing key it was made with); a public client has none. The lists are
-- JSON arrays of strings, each redirect URI exactly as registered (they are matched exactly).
-- A deleted client keeps its row (so that its id is never given out again) without its hash.

CREATE TABLE oidc_clients (
    client_id                   TEXT PRIMARY KEY,
    name                        TEXT NOT NULL,
    redirect_uris               TEXT NOT NULL,
    post_logout_redirect_uris   TEXT NOT NULL,
    public                      BOOLEAN NOT NULL,
    first_party                 BOOLEAN NOT NULL,
    grants                      TEXT NOT NULL,
    scopes                      TEXT NOT NULL,
    id_token_alg                TEXT NOT NULL,
    secret_hash                 BYTEA UNIQUE,
    hash_key_id                 TEXT,
    created_at                  BIGINT NOT NULL,
    created_by                  TEXT,
    secret_rotated_at           BIGINT,
    deleted_at                  BIGINT
);
CREATE INDEX oidc_clients_created ON oidc_clients (created_at, client_id);
