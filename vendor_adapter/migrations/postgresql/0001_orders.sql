-- The vendor's orders, as vendor_adapter/_store.py keeps them in SQLite: the same columns in
-- the same order, times as fixed-width UTC text that sorts as the time does (see stamp()).
CREATE TABLE orders (
    order_id      TEXT PRIMARY KEY,
    offer_id      TEXT NOT NULL UNIQUE,
    intent_id     TEXT NOT NULL,
    intent_key    TEXT NOT NULL,
    sku           TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    total_amount  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,          -- confirmed | unheld | lapsed | rejected | cancelled
    reason        TEXT NOT NULL DEFAULT '',
    created       TEXT NOT NULL,
    intent_wire   BYTEA NOT NULL,
    offer_wire    BYTEA NOT NULL,
    accept_wire   BYTEA NOT NULL,
    confirmation_wire BYTEA NOT NULL,
    receipt_wire  BYTEA,
    receipt_id    TEXT,
    receipt_hash  TEXT,
    reply_sealed  BYTEA NOT NULL,         -- the exact reply, re-sent on a repeated acceptance
    countersignature_wire BYTEA,
    disclosure    TEXT,                   -- purged after purge_after
    purge_after   TEXT NOT NULL,
    cancel_wire   BYTEA,
    held_until    TEXT                    -- when an unconfirmed order's hold ends; NULL once confirmed
);
CREATE INDEX orders_by_intent_key ON orders (intent_key);
CREATE INDEX orders_by_sku ON orders (sku, status);
CREATE INDEX orders_by_purge ON orders (purge_after) WHERE disclosure IS NOT NULL;
CREATE INDEX orders_by_hold ON orders (held_until) WHERE held_until IS NOT NULL;
CREATE INDEX orders_by_receipt ON orders (receipt_id);
CREATE INDEX orders_by_countersignature ON orders USING hash (countersignature_wire);

-- One row per item: the row every reservation of that item locks (SELECT ... FOR UPDATE), so
-- that replicas on any number of hosts check and take its stock one at a time.
CREATE TABLE stock_locks (
    sku TEXT PRIMARY KEY
);

-- Whose orders these are: one vendor per database, checked by every replica that opens it.
CREATE TABLE store_owner (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    vendor_id TEXT NOT NULL
);
