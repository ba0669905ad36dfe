package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// SpawnOptions tells Spawn how to start a server.
type SpawnOptions struct {
	Path    string    // the commentd binary
	DataDir string    // "": a new temporary directory, removed by Close
	Args    []string  // extra arguments after "serve --addr A --data D"
	Output  io.Writer // the server's stdout and stderr; nil: discarded
	Env     []string  // extra environment, KEY=VALUE
	// ReadyTimeout bounds the wait for /readyz; 0: 60s.
	ReadyTimeout time.Duration
}

// Spawned is a server process started by Spawn. Close stops it.
type Spawned struct {
	URL     string // http://127.0.0.1:<port>
	DataDir string
	Secret  []byte // read from <DataDir>/auth-secret

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	tmp     bool
}

// Spawn starts `<Path> serve --addr 127.0.0.1:<free port> --data <dir>`,
// waits until GET /readyz answers 200 and reads the auth secret the server
// keeps in its data directory.
func Spawn(ctx context.Context, o SpawnOptions) (*Spawned, error) {
	s := &Spawned{DataDir: o.DataDir, exited: make(chan struct{})}
	if s.DataDir == "" {
		d, err := os.MkdirTemp("", "commentbench-data-")
		if err != nil {
			return nil, fmt.Errorf("bench: spawn: %w", err)
		}
		s.DataDir, s.tmp = d, true
	}
	addr, err := freeAddr()
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.URL = "http://" + addr
	s.cmd = exec.Command(o.Path, append([]string{"serve", "--addr", addr, "--data", s.DataDir}, o.Args...)...)
	s.cmd.Stdout, s.cmd.Stderr = o.Output, o.Output
	s.cmd.Env = append(os.Environ(), o.Env...)
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("bench: spawn %s: %w", o.Path, err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()

	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Close()
		return nil, err
	}
	if s.Secret, err = ReadSecret(s.DataDir); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *Spawned) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := s.URL + "/readyz"
	for {
		status, _, err := fasthttp.GetTimeout(nil, url, time.Second)
		if err == nil && status == fasthttp.StatusOK {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("bench: spawned server exited before it was ready: %v", s.exitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: spawned server not ready after %v (last: status %d, %v)", timeout, status, err)
		}
	}
}

// Close stops the server with SIGTERM (SIGKILL after 15 s), waits for it
// and removes a temporary data directory. It is idempotent.
func (s *Spawned) Close() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(15 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exited
				err = errors.New("bench: spawned server did not stop within 15s; killed")
			}
		}
		var ee *exec.ExitError
		if err == nil && s.exitErr != nil && !errors.As(s.exitErr, &ee) {
			err = fmt.Errorf("bench: spawned server: %w", s.exitErr)
		} else if err == nil && errors.As(s.exitErr, &ee) && ee.ExitCode() != 0 {
			err = fmt.Errorf("bench: spawned server exited: %w", s.exitErr)
		}
	}
	s.cleanup()
	return err
}

func (s *Spawned) cleanup() {
	if s.tmp {
		os.RemoveAll(s.DataDir)
		s.tmp = false
	}
}
