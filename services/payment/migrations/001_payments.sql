-- Payments, one row per idempotency key. The unique key makes of two
-- concurrent Begins exactly one insert (INSERT … ON CONFLICT DO NOTHING);
-- lease_until is the in-flight claim of the request charging it.
CREATE TABLE payments (
	id text PRIMARY KEY,
	idem_key text NOT NULL UNIQUE,
	fingerprint text NOT NULL,
	order_id text NOT NULL,
	user_id text NOT NULL,
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL,
	status text NOT NULL CHECK (status IN ('processing', 'succeeded', 'declined')),
	reason text NOT NULL DEFAULT '',
	resp_status integer NOT NULL DEFAULT 0,
	resp_body bytea,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	lease_until timestamptz NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);
