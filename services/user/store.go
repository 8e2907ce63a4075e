package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultlab/faultlab/internal/store"
)

// User is an account.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	Roles        []string
	CreatedAt    time.Time
}

// Store keeps accounts. Implementations must be safe for concurrent use and
// return store.ErrNotFound for a missing user.
type Store interface {
	UserByEmail(ctx context.Context, email string) (User, error)
	CreateUser(ctx context.Context, u User) error
	CountUsers(ctx context.Context) (int, error)
	store.Conn
}

type sqliteStore struct{ store.SQLite }

// OpenStore opens the SQLite store in dir (empty: in memory).
func OpenStore(ctx context.Context, dir string) (Store, error) {
	return store.OpenWith(ctx, dir, "user", migrate, func(db store.SQLite) Store { return &sqliteStore{db} })
}

// migrate creates or updates the schema of db.
func migrate(ctx context.Context, db *sql.DB) error {
	if err := store.Migrate(ctx, db, `CREATE TABLE IF NOT EXISTS users (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL,
		roles TEXT NOT NULL,
		created_at INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	return nil
}

func (s *sqliteStore) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	var roles string
	var created int64
	err := s.DB.QueryRowContext(ctx,
		`SELECT id, email, password_hash, roles, created_at FROM users WHERE email = ?`, email).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &roles, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, store.ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user by email: %w", err)
	}
	u.Roles = strings.Split(roles, ",")
	u.CreatedAt = time.UnixMilli(created).UTC()
	return u, nil
}

func (s *sqliteStore) CreateUser(ctx context.Context, u User) error {
	_, err := s.DB.ExecContext(ctx,
		`INSERT INTO users (id, email, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, strings.Join(u.Roles, ","), u.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

func (s *sqliteStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}
