-- The counter (vendor_adapter/_counter.py) and the order feed (_feed.py), as the SQLite store
-- keeps them: what a shipped order's carrier said, every status the vendor signed (the exact
-- bytes, with the sealed box its mailbox gets), and every change of an order's state, written
-- by triggers in the transaction that makes the change.
ALTER TABLE orders ADD COLUMN carrier TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN tracking TEXT NOT NULL DEFAULT '';

CREATE TABLE order_statuses (
    order_id     TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    state        TEXT NOT NULL,
    created      TEXT NOT NULL,
    wire         BYTEA NOT NULL,
    sealed       BYTEA NOT NULL,
    mailbox_days INTEGER,
    subject      TEXT,                    -- NULL: the terms allow no mailbox, never sent
    sent         BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (order_id, seq)
);
CREATE INDEX order_statuses_unsent ON order_statuses (created, seq)
    WHERE NOT sent AND subject IS NOT NULL;

-- ``id`` is the event's number: it grows with every event, with gaps where a transaction
-- that made one rolled back.
CREATE TABLE feed_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id     TEXT NOT NULL,
    state        TEXT NOT NULL,
    at           TEXT NOT NULL,
    sku          TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    total_amount BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    carrier      TEXT NOT NULL,
    tracking     TEXT NOT NULL,
    sent         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX feed_events_unsent ON feed_events (order_id, id) WHERE NOT sent;
CREATE INDEX feed_events_by_time ON feed_events (at) WHERE sent;

-- The counter's name for a stored status (vendor_adapter/_counter.py, counter_state).
CREATE FUNCTION counter_state(status TEXT, held_until TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'unheld' OR (status = 'confirmed' AND held_until IS NOT NULL)
                THEN 'open' ELSE status END
$$;

CREATE FUNCTION feed_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feed_events (order_id, state, at, sku, quantity, total_amount, currency,
                             reason, carrier, tracking)
    VALUES (NEW.order_id, counter_state(NEW.status, NEW.held_until),
            to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            NEW.sku, NEW.quantity, NEW.total_amount, NEW.currency, NEW.reason, NEW.carrier,
            NEW.tracking);
    RETURN NULL;
END
$$;

CREATE TRIGGER feed_on_insert AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION feed_record();
CREATE TRIGGER feed_on_change AFTER UPDATE OF status, held_until ON orders
    FOR EACH ROW
    WHEN (counter_state(OLD.status, OLD.held_until)
          IS DISTINCT FROM counter_state(NEW.status, NEW.held_until))
    EXECUTE FUNCTION feed_record();
