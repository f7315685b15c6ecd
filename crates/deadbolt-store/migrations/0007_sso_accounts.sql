-- Accounts that sign in through an external identity provider: no password login here.
ALTER TABLE accounts ADD COLUMN sso_provider TEXT;
