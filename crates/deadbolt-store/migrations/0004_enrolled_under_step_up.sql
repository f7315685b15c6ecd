-- Whether a method was enrolled under a step-up (MFA already on). One enrolled while MFA was
-- off needs a step-up to be confirmed once MFA is on: a stolen password must not plant an
-- authenticator that the owner's later enrolment would arm.
ALTER TABLE mfa_methods ADD COLUMN enrolled_under_step_up BOOLEAN NOT NULL DEFAULT FALSE;
