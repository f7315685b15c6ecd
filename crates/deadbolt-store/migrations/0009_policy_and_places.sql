-- The central policy: one row holding a JSON document, and a version every change moves on, so
-- that every instance notices a change and applies it.
CREATE TABLE policy (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    version         BIGINT NOT NULL,
    document        TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT
);

-- The networks (/24, /48) and countries each account has signed in from, for risk signals.
-- `place` is 'net:203.0.113.0/24' or 'country:DE'.
CREATE TABLE known_places (
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    place           TEXT NOT NULL,
    first_seen_at   BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, place)
);
CREATE INDEX known_places_seen ON known_places (last_seen_at);

-- When and where (GeoIP coordinates in microdegrees) each account last signed in from a place
-- GeoIP knows, for impossible travel.
CREATE TABLE last_sign_ins (
    account_id      TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    at              BIGINT NOT NULL,
    latitude_e6     BIGINT NOT NULL,
    longitude_e6    BIGINT NOT NULL
);
