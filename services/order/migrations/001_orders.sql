-- Orders, their transition log and the outbox of upstream calls that must
-- land. A transition is one conditional UPDATE (status, version and lease
-- in its WHERE); its event and outbox rows are written in the same
-- transaction.
CREATE TABLE orders (
	id text PRIMARY KEY,
	user_id text NOT NULL,
	idem_key text NOT NULL,
	fingerprint text NOT NULL,
	status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'failed', 'interrupted')),
	reason text NOT NULL DEFAULT '',
	items jsonb NOT NULL,
	total_cents bigint NOT NULL DEFAULT 0,
	currency text NOT NULL DEFAULT '',
	payment_id text NOT NULL DEFAULT '',
	attempt integer NOT NULL DEFAULT 1,
	version integer NOT NULL DEFAULT 1,
	lease_owner text NOT NULL DEFAULT '',
	lease_until timestamptz NOT NULL DEFAULT 'epoch',
	resp_status integer NOT NULL DEFAULT 0,
	resp_body bytea,
	retry_after_ms bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	UNIQUE (user_id, idem_key)
);
CREATE INDEX orders_pending ON orders (created_at, id) WHERE status = 'pending';
CREATE INDEX orders_user ON orders (user_id, created_at);

CREATE TABLE order_events (
	seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	order_id text NOT NULL REFERENCES orders (id),
	from_status text NOT NULL,
	to_status text NOT NULL,
	attempt integer NOT NULL,
	version integer NOT NULL,
	at timestamptz NOT NULL,
	actor text NOT NULL,
	trace_id text NOT NULL DEFAULT ''
);
CREATE INDEX order_events_order ON order_events (order_id, seq);

CREATE TABLE order_outbox (
	reservation_id text NOT NULL,
	op text NOT NULL,
	order_id text NOT NULL,
	tries integer NOT NULL DEFAULT 0,
	last_error text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL,
	PRIMARY KEY (reservation_id, op)
);
