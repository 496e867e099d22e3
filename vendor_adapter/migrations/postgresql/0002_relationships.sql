-- The person's relationship after an order (vendor_adapter/_relationships.py), as the SQLite
-- store keeps it: their signed updates of an order's details (which carry details: erased
-- and purged with the disclosure), and each erasure done, with the request and our answer.
CREATE TABLE details_updates (
    update_hash TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    update_wire BYTEA NOT NULL,
    received    TEXT NOT NULL
);
CREATE INDEX details_updates_by_order ON details_updates (order_id);
CREATE TABLE erasures (
    order_id          TEXT PRIMARY KEY,
    request_wire      BYTEA NOT NULL,
    confirmation_wire BYTEA NOT NULL,
    erased            TEXT NOT NULL
);
