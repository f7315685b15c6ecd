-- Which claim holds a pending message. A worker renews its lease and records a failure only for
-- messages its claim still holds, so a worker whose lease ran out (it stalled, and another
-- worker took the message over) cannot put back to pending a message the other one delivered.
ALTER TABLE outbox ADD COLUMN claim TEXT;
