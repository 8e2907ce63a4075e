package user

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/faultlab/faultlab/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// pgStore keeps accounts in PostgreSQL, schema "users" ("user" is a
// reserved word). Each method is one statement at READ COMMITTED.
type pgStore struct{ store.PG }

// OpenPGStore opens the PostgreSQL store at url (postgres://…), applying
// the embedded migrations to schema "users".
func OpenPGStore(ctx context.Context, url string) (Store, error) {
	return store.OpenPGWith(ctx, url, "users", migrations, func(db store.PG) Store { return &pgStore{db} })
}

func (s *pgStore) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.DB.QueryRow(ctx, `SELECT id, email, password_hash, roles, created_at FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Roles, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, store.ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user by email: %w", store.PGError(err))
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

func (s *pgStore) CreateUser(ctx context.Context, u User) error {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	_, err := s.DB.Exec(ctx, `INSERT INTO users (id, email, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.Email, u.PasswordHash, roles, store.Millis(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user: %w", store.PGError(err))
	}
	return nil
}

func (s *pgStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", store.PGError(err))
	}
	return n, nil
}
