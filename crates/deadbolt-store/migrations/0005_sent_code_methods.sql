-- Second factors whose code we send (email, SMS, voice), changing an address, devices seen, and
-- indexes for housekeeping.

-- Where a sent-code method delivers: an E.164 number for sms and voice; NULL for email, which
-- always goes to the account's verified address.
ALTER TABLE mfa_methods ADD COLUMN destination TEXT;

-- What a code is bound to beyond its purpose: the method being enrolled, or the method and the
-- challenge it was sent for. NULL for codes that prove an account's own channels.
ALTER TABLE verification_codes ADD COLUMN scope TEXT;

-- Devices an account signed in from, by keyed hash of the User-Agent: a sign-in from one not
-- seen before is told to the user.
CREATE TABLE known_devices (
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    device_key      BYTEA NOT NULL,
    first_seen_at   BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, device_key)
);

-- Housekeeping deletes by expiry; the dead-letter list reads by status.
CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_at);
CREATE INDEX verification_codes_expires ON verification_codes (expires_at);
CREATE INDEX auth_failures_at ON auth_failures (at);
CREATE INDEX step_up_grants_expires ON step_up_grants (expires_at);
CREATE INDEX trusted_devices_expires ON trusted_devices (expires_at);
CREATE INDEX outbox_status_created ON outbox (status, created_at);
CREATE INDEX known_devices_seen ON known_devices (last_seen_at);
