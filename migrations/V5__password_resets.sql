-- Credential recovery (`recover-credentials`): a customer whose one-time password never reached
-- the journal gets its admin's password reset. That is a step of its own, `reset_password`, with
-- the same rules as every step: its new password is chosen here and sealed into a credential batch
-- in the same transaction as its write-ahead intent (`credential_batch`), so a crash after
-- Partner Center applied it loses nothing; the row takes that batch only once the reset is
-- confirmed. `detail` holds the admin's user id.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt (foreign keys are off
-- while migrations run, and checked after).
CREATE TABLE steps_v5 (
    row_id           INTEGER NOT NULL REFERENCES rows(id),
    step             TEXT NOT NULL CHECK (step = 'attest_mca' OR step = 'reset_password'),
    state            TEXT NOT NULL CHECK (
                       state = 'pending' OR state = 'in_flight' OR state = 'in_doubt'
                       OR state = 'done' OR state = 'failed'),
    request_id       TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    detail           TEXT,           -- attest_mca: the agreement as sent; reset_password: {"user_id"}
    last_error       TEXT,
    updated_at       TEXT NOT NULL,
    credential_batch INTEGER REFERENCES credential_batches(id),  -- reset_password: the new password
    PRIMARY KEY (row_id, step)
);
INSERT INTO steps_v5 (row_id, step, state, request_id, attempts, detail, last_error, updated_at)
    SELECT row_id, step, state, request_id, attempts, detail, last_error, updated_at FROM steps;
DROP TABLE steps;
ALTER TABLE steps_v5 RENAME TO steps;
