-- Where each code was sent, so that sends can be capped per destination as well as per account
-- (a defence against pumping messages to numbers or addresses at the service's cost).
ALTER TABLE verification_codes ADD COLUMN destination TEXT;
CREATE INDEX verification_codes_destination ON verification_codes (destination, created_at);
CREATE INDEX verification_codes_account_created ON verification_codes (account_id, created_at);
