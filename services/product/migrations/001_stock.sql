-- Products with their stock split, and reservations with their lines. The
-- CHECKs keep the split whole whatever a transaction does: stock is never
-- negative and initial = available + reserved + sold.
CREATE TABLE products (
	seq bigint GENERATED ALWAYS AS IDENTITY,
	id text PRIMARY KEY,
	name text NOT NULL,
	description text NOT NULL,
	price_cents bigint NOT NULL CHECK (price_cents > 0),
	currency text NOT NULL,
	initial bigint NOT NULL,
	available bigint NOT NULL CHECK (available >= 0),
	reserved bigint NOT NULL CHECK (reserved >= 0),
	sold bigint NOT NULL CHECK (sold >= 0),
	created_at timestamptz NOT NULL,
	CHECK (initial = available + reserved + sold)
);
CREATE UNIQUE INDEX products_seq ON products (seq);

CREATE TABLE reservations (
	id text PRIMARY KEY,
	state text NOT NULL CHECK (state IN ('reserved', 'released', 'committed', 'expired')),
	fingerprint text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX reservations_due ON reservations (expires_at) WHERE state = 'reserved';
CREATE INDEX reservations_state ON reservations (state, id);

CREATE TABLE reservation_items (
	reservation_id text NOT NULL REFERENCES reservations (id),
	line integer NOT NULL,
	product_id text NOT NULL REFERENCES products (id),
	quantity bigint NOT NULL CHECK (quantity > 0),
	unit_price_cents bigint NOT NULL,
	currency text NOT NULL,
	PRIMARY KEY (reservation_id, line)
);
