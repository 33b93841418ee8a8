-- The csp-onboard journal: one file per job. Every row's progress, every attempt, the ids Partner
-- Center returned and the sealed one-time credentials. No token is ever stored here.

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    started     TEXT NOT NULL,            -- RFC 3339
    finished    TEXT,
    command     TEXT NOT NULL,            -- run | resume
    sheet       TEXT,                     -- path as given
    sheet_hash  TEXT,                     -- xxh3-128 of the file's bytes
    template    TEXT,
    options     TEXT NOT NULL,            -- JSON: the settings resume reuses (never secrets)
    requests    INTEGER NOT NULL DEFAULT 0,
    throttled   INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER
);

CREATE TABLE rows (
    id                     INTEGER PRIMARY KEY,
    domain                 TEXT UNIQUE,   -- full lowercase; NULL for a row without a usable domain
    sheet_row              INTEGER NOT NULL,
    import_run             INTEGER NOT NULL REFERENCES runs(id),
    external_id            TEXT,
    reseller               TEXT,
    company_name           TEXT,
    content_hash           TEXT NOT NULL,
    request_body           TEXT,          -- the JSON sent (NULL for invalid rows)
    state                  TEXT NOT NULL CHECK (state IN
                             ('pending', 'in_flight', 'retry_wait', 'in_doubt', 'created', 'failed', 'invalid')),
    credentials_lost       INTEGER NOT NULL DEFAULT 0,
    changed_after_creation INTEGER NOT NULL DEFAULT 0,
    attempts               INTEGER NOT NULL DEFAULT 0,
    request_id             TEXT,          -- the MS-RequestId to use: reused after an ambiguous attempt
    ambiguous              INTEGER NOT NULL DEFAULT 0,   -- an attempt's outcome was unknown
    in_doubt_since         TEXT,
    not_before             TEXT,          -- retry_wait: not before this time
    last_error_code        TEXT,
    last_error_message     TEXT,
    customer_id            TEXT,          -- the customer's tenant id
    commerce_id            TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX rows_state ON rows(state);
CREATE INDEX rows_sheet_row ON rows(sheet_row);

CREATE TABLE row_errors (
    row_id  INTEGER NOT NULL REFERENCES rows(id) ON DELETE CASCADE,
    col     TEXT,
    field   TEXT,
    value   TEXT,
    message TEXT NOT NULL
);
CREATE INDEX row_errors_row ON row_errors(row_id);

CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    row_id          INTEGER NOT NULL REFERENCES rows(id),
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    kind            TEXT NOT NULL,        -- create | lookup_domain | lookup_customer
    request_id      TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    started         TEXT NOT NULL,
    finished        TEXT,
    http_status     INTEGER,
    error_code      TEXT,
    latency_ms      INTEGER,
    outcome         TEXT
);
CREATE INDEX attempts_row ON attempts(row_id);

-- The userCredentials of a 201, encrypted to an age X25519 recipient. Committed in the same
-- transaction that marks the row created.
CREATE TABLE credentials (
    row_id     INTEGER PRIMARY KEY REFERENCES rows(id),
    user_name  TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    recipient  TEXT NOT NULL,
    created    TEXT NOT NULL
);
