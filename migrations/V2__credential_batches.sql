-- Credentials sealed in batches: one age file per journal transaction instead of one per customer
-- (an X25519 key exchange each). `credentials` keeps a row per customer: its user name and the
-- batch that holds its password. Rows written before this migration keep their own age file in
-- `sealed`.

CREATE TABLE credential_batches (
    id         INTEGER PRIMARY KEY,
    sealed     BLOB NOT NULL,             -- age file: [{"row": rows.id, "userName", "password"}, ...]
    recipient  TEXT NOT NULL,
    created    TEXT NOT NULL
);

CREATE TABLE credentials_v2 (
    row_id     INTEGER PRIMARY KEY REFERENCES rows(id),
    user_name  TEXT NOT NULL,
    batch_id   INTEGER REFERENCES credential_batches(id),
    sealed     BLOB,                      -- this customer's own age file (journals from before V2)
    recipient  TEXT,
    created    TEXT NOT NULL,
    CHECK ((batch_id IS NULL) <> (sealed IS NULL))
);
INSERT INTO credentials_v2 (row_id, user_name, sealed, recipient, created)
    SELECT row_id, user_name, sealed, recipient, created FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_v2 RENAME TO credentials;
