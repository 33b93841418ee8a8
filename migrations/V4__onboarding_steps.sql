-- What onboarding does around the create (issue "Finish the onboarding"):
-- 1. Customers that already existed: a row whose domain turned out to be one of this partner's own
--    customers, with this row's reseller, is adopted as `created` with this flag — not failed, and
--    not `credentials_lost` (its password was issued to whoever created it; resetting it could lock
--    out a customer already at work).
-- 2. The provider's indirect resellers, as Partner Center last listed them: their names are shown
--    everywhere ids are.
-- 3. Steps after the create, each with its own state and attempts: the attestation of the
--    Microsoft Customer Agreement. A step is `pending` until its request is about to leave, then
--    `in_flight` (the write-ahead intent), then `done`, `in_doubt` (reconciled before it is sent
--    again) or `failed`.
ALTER TABLE rows ADD COLUMN already_existed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE resellers (
    id          TEXT PRIMARY KEY,   -- the reseller's tenant id (associatedPartnerId)
    name        TEXT NOT NULL,
    state       TEXT NOT NULL,      -- Active, Inactive, ...
    listed_at   TEXT NOT NULL
);

CREATE TABLE steps (
    row_id      INTEGER NOT NULL REFERENCES rows(id),
    step        TEXT NOT NULL CHECK (step = 'attest_mca'),
    state       TEXT NOT NULL CHECK (
                  state = 'pending' OR state = 'in_flight' OR state = 'in_doubt'
                  OR state = 'done' OR state = 'failed'),
    request_id  TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,                -- for attest_mca: the agreement as sent (JSON)
    last_error  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (row_id, step)
);
