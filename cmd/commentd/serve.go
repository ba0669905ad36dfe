package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/commentd/commentd/actors"
	"github.com/commentd/commentd/httpapi"
	"github.com/commentd/commentd/readmodel"
	"github.com/commentd/commentd/store"
)

// Main is one server process: the event store, the read model, the actor
// system and the HTTP server, wired together. It is the only place that
// knows all the concrete types; the end-to-end tests drive it exactly as
// main does:
//
//	m := NewMain()
//	err := m.ParseFlags(args, os.Getenv) // or set m.Config directly
//	err = m.Run(ctx)                     // opens everything, serves in the background
//	...                                  // until a signal or m.Done()
//	err = m.Close()                      // graceful: stop accepting, finish, flush
//
// Close undoes whatever Run completed, so it is safe after a failed Run, and
// idempotent.
type Main struct {
	// Config is filled by ParseFlags, or directly by a caller.
	Config Config
	// Stderr receives the logs (os.Stderr by default).
	Stderr io.Writer

	logger   *slog.Logger
	registry *prometheus.Registry
	store    *store.Store
	model    *readmodel.Model
	system   *actors.System
	server   *httpapi.Server
	ln       net.Listener
	closing  atomic.Bool

	serveDone chan struct{} // closed when Serve returned
	serveErr  error         // what Serve returned; read after serveDone
	stopping  chan struct{} // closed when Close begins

	closeOnce sync.Once
	closeErr  error
}

// NewMain returns a Main with the defaults of the serve command and logs to
// os.Stderr.
func NewMain() *Main {
	m := &Main{Stderr: os.Stderr}
	serveFlagSet(&m.Config, io.Discard)
	return m
}

// ParseFlags parses the serve command's arguments (without "serve") and the
// environment, read through getenv (nil: no environment), into m.Config. A
// flag beats its environment variable; an empty variable counts as unset.
// Mistakes are usage errors (see IsUsageError); "-h" answers flag.ErrHelp
// after printing the usage to m.Stderr.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	out := m.Stderr
	if out == nil {
		out = io.Discard
	}
	fs, vars := serveFlagSet(&m.Config, out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: commentd serve [flags]\n\nRuns the comment service. Every flag may also be given as the environment\nvariable in brackets; a flag beats its variable, an empty variable counts as unset.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args, getenv, vars); err != nil {
		return err
	}
	return m.Config.validate()
}

// Run opens the stores, starts the actors and the projection, binds the
// listener and starts serving in the background. It returns once the
// listener is bound (see Addr); the service answers 503 not_ready until the
// read model has caught up with the log. ctx bounds only the start.
func (m *Main) Run(ctx context.Context) (err error) {
	c := m.Config
	if err := c.validate(); err != nil {
		return err
	}
	if m.Stderr == nil {
		m.Stderr = os.Stderr
	}
	m.logger = newLogger(m.Stderr, c.LogFormat, c.LogLevel)
	m.stopping = make(chan struct{})
	log := m.logger

	loose, err := ensureDataDir(c.DataDir)
	if err != nil {
		return err
	}
	if loose {
		log.Warn("data directory is readable by others than its owner; chmod 700 it", "dir", c.DataDir)
	}
	secret := []byte(c.AuthSecret)
	if len(secret) == 0 {
		var created bool
		secret, created, loose, err = loadOrCreateSecret(c.DataDir)
		if err != nil {
			return err
		}
		switch {
		case created:
			log.Info("generated token secret", "file", filepath.Join(c.DataDir, SecretFile))
		case loose:
			log.Warn("token secret file is readable by others than its owner; chmod 600 it", "file", filepath.Join(c.DataDir, SecretFile))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	m.registry = prometheus.NewRegistry()
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	m.store, err = store.Open(filepath.Join(c.DataDir, "events"), store.Options{
		Registerer: m.registry,
		Logger:     log.With("db", "events"),
	})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	m.model, err = readmodel.Open(filepath.Join(c.DataDir, "readmodel"), readmodel.Options{
		CacheBytes: c.CacheBytes,
		Registerer: m.registry,
		Logger:     log,
	})
	if err != nil {
		return fmt.Errorf("open read model: %w", err)
	}
	log.Info("stores open", "log_position", m.store.LastPosition(), "readmodel_position", m.model.Position())
	m.system, err = actors.Start(actors.Config{
		Store:       m.store,
		ReadModel:   m.model,
		Logger:      log.With("component", "actors"),
		Registerer:  m.registry,
		IdleTimeout: c.IdleTimeout,
		MaxInFlight: c.MaxInFlight,
		MaxActors:   c.MaxActors,
	})
	if err != nil {
		return fmt.Errorf("start actors: %w", err)
	}

	m.server, err = httpapi.New(m.httpConfig(secret))
	if err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	var lc net.ListenConfig
	m.ln, err = lc.Listen(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.serveDone = make(chan struct{})
	go func() {
		defer close(m.serveDone)
		m.serveErr = m.server.Serve(m.ln)
	}()
	log.Info("listening", "addr", m.Addr(), "data", c.DataDir, "query_auth", c.QueryAuth)
	go m.logCaughtUp()
	return nil
}

// logCaughtUp logs when the service turns ready; it ends then or when
// Close begins.
func (m *Main) logCaughtUp() {
	select {
	case <-m.system.CaughtUp():
		m.logger.Info("ready", "readmodel_position", m.model.Position())
	case <-m.stopping:
	}
}

// Ready reports whether the service answers /v1 requests: the read model
// has caught up with the log as it was at start, the write side has not
// failed, and the process is not shutting down.
func (m *Main) Ready() bool {
	return !m.closing.Load() && m.caughtUp() && m.store.Err() == nil
}

// caughtUp reports whether the projection applied the log as it was at
// start.
func (m *Main) caughtUp() bool {
	if m.system == nil {
		return false
	}
	select {
	case <-m.system.CaughtUp():
		return true
	default:
		return false
	}
}

// Addr is the address the server listens on (with the port picked when
// Config.Addr asked for port 0), or "" before Run bound it.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Registry is the process's own Prometheus registry, served on /metrics.
func (m *Main) Registry() *prometheus.Registry { return m.registry }

// Done is closed when the HTTP server stopped serving on its own (a listener
// failure) or after Close. Before Run it is nil.
func (m *Main) Done() <-chan struct{} { return m.serveDone }

// Close shuts down gracefully: it turns not ready, stops accepting
// connections and waits (up to Config.ShutdownTimeout) for in-flight
// requests, then closes the actors (finishing in-flight commands), the read
// model and the event store (flushing what was acknowledged). It returns the
// first error and is idempotent.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	m.closing.Store(true)
	if m.stopping != nil {
		close(m.stopping)
	}
	log := m.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("shutting down")
	var errs []error
	step := func(what string, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		log.Debug("shutdown step done", "step", what, "took", time.Since(start).String())
	}
	if m.server != nil && m.ln != nil {
		step("stop http server", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
			defer cancel()
			if err := m.server.Shutdown(ctx); err != nil {
				log.Warn("open connections did not finish in time", "timeout", m.Config.ShutdownTimeout, "err", err)
			}
			<-m.serveDone
			if m.serveErr != nil && !errors.Is(m.serveErr, net.ErrClosed) {
				return m.serveErr
			}
			return nil
		})
	} else if m.ln != nil {
		m.ln.Close()
	}
	if m.system != nil {
		step("close actors", m.system.Close)
	}
	if m.model != nil {
		step("close read model", m.model.Close)
	}
	if m.store != nil {
		step("close event store", m.store.Close)
	}
	err := errors.Join(errs...)
	if err != nil {
		log.Error("shutdown failed", "err", err)
	} else {
		log.Info("stopped")
	}
	return err
}

// ServeErr is what the HTTP server's Serve returned, once Done is closed.
func (m *Main) ServeErr() error {
	if m.serveDone == nil {
		return nil
	}
	select {
	case <-m.serveDone:
		return m.serveErr
	default:
		return nil
	}
}
