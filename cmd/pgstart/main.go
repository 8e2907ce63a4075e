// Command pgstart is the entrypoint of the local PostgreSQL image
// (docker/postgres, built by scripts/images.sh from Debian's binaries):
// on an empty data directory it runs initdb, with a password-protected
// superuser and a database for the shop, then it becomes postgres.
//
//	pgstart ──(no PG_VERSION)──► initdb -A scram-sha-256 ──► postgres --single: CREATE DATABASE
//	   └──────────────────────────────────────────────────────► exec postgres -D $PGDATA …
//
// Environment, read here and nowhere else:
//
//	PGDATA             the cluster's directory (required; created by initdb)
//	POSTGRES_PASSWORD  the superuser's password (required: the port is on a network)
//	POSTGRES_USER      the superuser (default postgres)
//	POSTGRES_DB        a database created on the first start (default: none)
//
// Arguments after the command are passed to postgres (e.g. -c
// max_connections=200). Because pgstart execs postgres, postgres is the
// container's first process and gets the stop signal itself (SIGINT is a
// fast shutdown; SIGTERM waits for clients to leave).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// bin is where Debian installs PostgreSQL 15's programs; the image keeps
// them at the same path, so that initdb finds postgres and the share dir.
const bin = "/usr/lib/postgresql/15/bin"

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "pgstart:", err)
		os.Exit(1)
	}
}

// name is what POSTGRES_USER and POSTGRES_DB may be: it goes into SQL
// unquoted.
var name = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func run(args []string, getenv func(string) string) error {
	data, password := getenv("PGDATA"), getenv("POSTGRES_PASSWORD")
	user, db := getenv("POSTGRES_USER"), getenv("POSTGRES_DB")
	if user == "" {
		user = "postgres"
	}
	switch {
	case data == "":
		return errors.New("PGDATA is not set")
	case password == "":
		return errors.New("POSTGRES_PASSWORD is not set (the superuser needs one: the port is on a network)")
	case strings.ContainsAny(password, "\r\n"):
		return errors.New("POSTGRES_PASSWORD has a line break (initdb reads one line)")
	case !name.MatchString(user):
		return fmt.Errorf("POSTGRES_USER %q: want lower-case letters, digits and _", user)
	case db != "" && !name.MatchString(db):
		return fmt.Errorf("POSTGRES_DB %q: want lower-case letters, digits and _", db)
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initCluster(data, user, password, db); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	argv := append([]string{filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=*", "-c", "unix_socket_directories=", "-c", "jit=off"}, args...)
	// argv[0] is the full path: postgres finds its share dir from it.
	return syscall.Exec(argv[0], argv, os.Environ())
}

// initCluster runs initdb into data (which must not exist or be empty),
// lets the superuser in from any address with its password, and creates
// db.
func initCluster(data, user, password, db string) error {
	pw, err := os.CreateTemp(filepath.Dir(data), ".pwfile-*")
	if err != nil {
		return fmt.Errorf("initdb: password file: %w", err)
	}
	defer os.Remove(pw.Name())
	_, err = pw.WriteString(password + "\n")
	if cerr := pw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("initdb: password file: %w", err)
	}
	if err := command("initdb", "", "-D", data, "-U", user, "--pwfile", pw.Name(),
		"-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions"); err != nil {
		return err
	}
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	_, err = hba.WriteString("# pgstart: the services connect over the network, with the password\nhost all all all scram-sha-256\n")
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	if db == "" {
		return nil
	}
	return command("postgres", "CREATE DATABASE "+db+";\n", "--single", "-D", data, "-j", "postgres")
}

// command runs one of PostgreSQL's programs with stdin, its output on
// stderr.
func command(prog, stdin string, args ...string) error {
	cmd := exec.Command(filepath.Join(bin, prog), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", prog, err)
	}
	return nil
}
