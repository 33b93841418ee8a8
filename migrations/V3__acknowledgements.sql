-- Failed or invalid rows the distributor has dealt with (`csp-onboard ack`): they no longer make
-- a run exit 1. Keyed by the row's content hash, so an acknowledgement holds for the row as it was
-- acknowledged — a row whose content changes is judged (and sent) again — and survives the
-- re-import of invalid rows, which are journaled anew at every import.
CREATE TABLE acknowledgements (
    content_hash     TEXT PRIMARY KEY,
    sheet_row        INTEGER NOT NULL,   -- where it stood when it was acknowledged
    state            TEXT NOT NULL,      -- failed or invalid, then
    acknowledged_at  TEXT NOT NULL,
    note             TEXT
);
