package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing means PostgreSQL's binaries are not installed here.
var ErrMissing = errors.New("postgresql is not installed (apt-get install -y postgresql, or bash scripts/tools.sh postgres)")

// Server is a running PostgreSQL.
type Server struct {
	// URL is the superuser's URL of the "postgres" database.
	URL string
	// Port is the loopback port it listens on.
	Port int

	dir    string
	binDir string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	done   chan struct{}
	log    *bytes.Buffer
	mu     sync.Mutex
	seq    atomic.Int64
}

// FindBin returns the directory that holds initdb and postgres: the
// FAULTLAB_TOOLS links scripts/tools.sh makes, then Debian's
// /usr/lib/postgresql/<major>/bin (the newest), then PATH.
func FindBin(toolsDirs ...string) (string, error) {
	ok := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	for _, d := range toolsDirs {
		if ok(d) {
			return resolved(d, ok), nil
		}
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(debian, func(i, j int) bool { return major(debian[i]) > major(debian[j]) })
	for _, d := range debian {
		if ok(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && ok(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrMissing
}

// resolved is the directory the links in dir point to, when both
// binaries resolve there: the links scripts/tools.sh makes live under
// $HOME/.cache, which the user "postgres" that runs them as root's child
// cannot traverse (/root is 0700), while Debian's own directory is open.
func resolved(dir string, ok func(string) bool) string {
	real, err := filepath.EvalSymlinks(filepath.Join(dir, "initdb"))
	if err != nil {
		return dir
	}
	if d := filepath.Dir(real); ok(d) {
		if pg, err := filepath.EvalSymlinks(filepath.Join(dir, "postgres")); err == nil && filepath.Dir(pg) == d {
			return d
		}
	}
	return dir
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start runs initdb in a new temporary directory and starts postgres on a
// free loopback port, waiting until it accepts connections.
func Start(ctx context.Context, binDir string) (*Server, error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "faultlab-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", filepath.Join(dir, "data"),
		"-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 3 { // a free port may be taken between probe and bind
		s, err := start(ctx, binDir, dir, cred)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// credential returns nil when this process is not root, else the
// credentials of the user "postgres".
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root and there is no user postgres to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, binDir, dir string, cred *syscall.Credential) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{Port: port, dir: dir, binDir: binDir, cred: cred, log: &bytes.Buffer{},
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if err := s.launch(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// launch starts postgres on s.Port with the data in s.dir and waits until
// it accepts connections.
func (s *Server) launch(ctx context.Context) error {
	// Not CommandContext: the server outlives the start-up context.
	s.cmd = exec.Command(filepath.Join(s.binDir, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.Port), "-k", s.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB",
		"-c", "log_lock_waits=on", "-c", "deadlock_timeout=200ms")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: s.log}, &lockedWriter{mu: &s.mu, w: s.log}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			_ = c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited: %s", s.Output())
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("pgtest: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("pgtest: postgres not ready after 30s: %v\n%s", err, s.Output())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		l.w.Reset()
	}
	return l.w.Write(p)
}

// Output returns what the server logged.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() {
	s.Halt()
	_ = os.RemoveAll(s.dir)
}

// Halt shuts the server down (fast shutdown: open sessions are ended) and
// keeps its data: the database is down until Restart.
func (s *Server) Halt() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
}

// Restart starts a halted server again on the same port with the same
// data.
func (s *Server) Restart(ctx context.Context) error { return s.launch(ctx) }

// Pause stops the server from answering (SIGSTOP to the postmaster and
// its children), and Resume lets it go on: a database that hangs.
func (s *Server) Pause() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.seq.Add(1))
	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name), nil
}
