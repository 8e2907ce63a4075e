package logstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/faultlab/faultlab/internal/proc"
)

// Options configures StartVictoriaLogs and StartFilebeat. The zero value
// works for VictoriaLogs except for Bin and Dir.
type Options struct {
	// Bin is the binary to run (required; FindTool locates it).
	Bin string
	// Dir is VictoriaLogs' storage directory (required for VictoriaLogs). For
	// Filebeat it is used when DataDir is empty.
	Dir string
	// Addr is the address VictoriaLogs listens on. Empty means a free
	// loopback port.
	Addr string
	// Config is Filebeat's configuration file (required for Filebeat).
	Config string
	// DataDir is Filebeat's home: its registry and disk queue live under
	// DataDir/data. Empty means Dir.
	DataDir string
	// Env is added to the process's environment (KEY=value), for example
	// FAULTLAB_LOG_DIR and FAULTLAB_VLOGS_URL for filebeat.local.yml.
	Env []string
	// Output receives the process's stdout and stderr. Nil means a file
	// named <tool>.log in the data directory.
	Output io.Writer
	// ReadyTimeout bounds the wait for readiness. Zero means 30s.
	ReadyTimeout time.Duration
}

// Process is a running VictoriaLogs or Filebeat. Its methods are safe for
// concurrent use.
type Process struct {
	// Name is the tool's name.
	Name string
	// URL is VictoriaLogs' base URL, or Filebeat's monitoring endpoint.
	URL string

	cmd      *exec.Cmd
	done     chan struct{}
	err      error // from Wait, read after done is closed
	closer   io.Closer
	stopOnce sync.Once
	tail     *tailBuffer
}

// StartVictoriaLogs starts VictoriaLogs on o.Addr with storage in o.Dir and
// returns once /health answers OK. The process ends when ctx is done or on
// Stop.
func StartVictoriaLogs(ctx context.Context, o Options) (*Process, error) {
	if o.Dir == "" {
		return nil, errors.New("logstore: victoria-logs needs Options.Dir")
	}
	addr := o.Addr
	if addr == "" {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addr = a
	}
	args := []string{
		"-httpListenAddr=" + addr,
		"-storageDataPath=" + filepath.Join(o.Dir, "data"),
		"-loggerLevel=WARN",
		// Keep the lab's data small; a retention shorter than a day still
		// keeps everything a test or an experiment produces.
		"-retentionPeriod=7d",
	}
	return startReady(ctx, "victoria-logs", o, o.Dir, args, nil, addr, "/health")
}

// StartFilebeat starts Filebeat with o.Config and returns once its
// monitoring endpoint answers, that is, once it has loaded the config and
// started its inputs. The process ends when ctx is done or on Stop.
func StartFilebeat(ctx context.Context, o Options) (*Process, error) {
	if o.Config == "" {
		return nil, errors.New("logstore: filebeat needs Options.Config")
	}
	dir := o.DataDir
	if dir == "" {
		dir = o.Dir
	}
	if dir == "" {
		return nil, errors.New("logstore: filebeat needs Options.DataDir")
	}
	cfg, err := filepath.Abs(o.Config)
	if err != nil {
		return nil, fmt.Errorf("logstore: filebeat config: %w", err)
	}
	if _, err := os.Stat(cfg); err != nil {
		return nil, fmt.Errorf("logstore: filebeat config: %w", err)
	}
	mon, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(mon)
	args := []string{
		"-e", // log to stderr, that is Output
		"-c", cfg,
		"--path.home", dir,
		"--path.data", filepath.Join(dir, "data"),
		"--path.logs", filepath.Join(dir, "logs"),
		// A config from a git checkout may be group-writable.
		"--strict.perms=false",
		// The monitoring endpoint tells us when Filebeat is up.
		"-E", "http.enabled=true",
		"-E", "http.host=" + host,
		"-E", "http.port=" + port,
	}
	return startReady(ctx, "filebeat", o, dir, args, o.Env, mon, "/")
}

// startReady starts the process and returns once http://addr+health
// answers; the Process's URL is http://addr.
func startReady(ctx context.Context, name string, o Options, dir string, args, env []string, addr, health string) (*Process, error) {
	p, err := start(ctx, name, o, dir, args, env)
	if err != nil {
		return nil, err
	}
	p.URL = "http://" + addr
	if err := p.waitReady(ctx, o.ReadyTimeout, p.URL+health); err != nil {
		return nil, err
	}
	return p, nil
}

func start(ctx context.Context, name string, o Options, dir string, args, env []string) (*Process, error) {
	bin := o.Bin
	if bin == "" {
		return nil, fmt.Errorf("logstore: %s: Options.Bin is empty (FindTool locates it)", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: %s: %w", name, err)
	}
	p := &Process{Name: name, done: make(chan struct{}), tail: &tailBuffer{max: 4096}}
	out := o.Output
	if out == nil {
		f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("logstore: %s: %w", name, err)
		}
		p.closer = f
		out = f
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.MultiWriter(out, p.tail)
	cmd.Stderr = cmd.Stdout
	// Stop gently on context cancellation: both tools flush on SIGTERM.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		if p.closer != nil {
			p.closer.Close()
		}
		return nil, fmt.Errorf("logstore: start %s: %w", name, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		if p.closer != nil {
			p.closer.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// waitReady polls url until it answers 200, the process exits, ctx ends or
// the timeout passes. On failure it stops the process.
func (p *Process) waitReady(ctx context.Context, timeout time.Duration, url string) error {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := proc.WaitHTTP(ctx, url, 100*time.Millisecond, p.done)
	switch {
	case errors.Is(err, proc.ErrExited):
		return fmt.Errorf("logstore: %s exited before it was ready: %v\n%s", p.Name, p.err, p.tail.String())
	case err != nil:
		p.Stop()
		return fmt.Errorf("logstore: %s not ready at %s: %w\n%s", p.Name, url, err, p.tail.String())
	}
	return nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 10s) and waits for it.
// It is safe to call more than once.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { proc.Stop(p.cmd.Process, p.done, syscall.SIGTERM, 10*time.Second) })
	<-p.done
	return nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Output returns the last few KiB the process wrote, for error messages.
func (p *Process) Output() string { return p.tail.String() }

// freeAddr returns a loopback address with a port that was free a moment
// ago. The tools take an address, not a listener, so a small race remains.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("logstore: free port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = bytes.Clone(t.b[len(t.b)-t.max:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
