-- A step-up can be asked for one target (the account an administrator resets, say): the
-- challenge carries it to the grant, and the grant serves only requests on that target, so a
-- grant asked for one account cannot be spent on whichever account is named next.
ALTER TABLE mfa_challenges ADD COLUMN target TEXT;
ALTER TABLE step_up_grants ADD COLUMN target TEXT;
