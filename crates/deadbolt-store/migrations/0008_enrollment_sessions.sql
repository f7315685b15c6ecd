-- A session of an account that policy requires to enroll a second factor before anything else.
ALTER TABLE sessions ADD COLUMN enrollment_only BOOLEAN NOT NULL DEFAULT FALSE;
