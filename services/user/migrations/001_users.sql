-- Accounts. The unique email makes of two sign-ups with one address one
-- account.
CREATE TABLE users (
	id text PRIMARY KEY,
	email text NOT NULL UNIQUE,
	password_hash text NOT NULL,
	roles text[] NOT NULL,
	created_at timestamptz NOT NULL
);
