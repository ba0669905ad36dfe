package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Defaults of the serve command line.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultDataDir         = "./data"
	DefaultShutdownTimeout = 10 * time.Second
)

// Config is the configuration of one server process, as parsed from the
// command line and the environment.
type Config struct {
	// Addr is the TCP address to listen on; port 0 picks a free port (see
	// Main.Addr).
	Addr string
	// DataDir holds events/, readmodel/ and auth-secret.
	DataDir string
	// AuthSecret signs and verifies tokens. Empty: read from, or generated
	// into, <DataDir>/auth-secret.
	AuthSecret string
	// QueryAuth makes queries and the event feed require a valid token.
	QueryAuth bool

	// CacheBytes bounds the read model's in-memory index (0: its default).
	CacheBytes int64
	// IdleTimeout passivates comment actors idle for that long (0: default).
	IdleTimeout time.Duration
	// MaxInFlight bounds the commands in flight (0: default).
	MaxInFlight int
	// MaxActors bounds the live comment actors (0: default); beyond it the
	// least recently used idle ones are passivated.
	MaxActors int
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// ReadTimeout, WriteTimeout and ConnIdleTimeout bound how long a
	// connection may take to send a request, to take its response, and to
	// stay idle between requests (0: the HTTP layer's defaults).
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	ConnIdleTimeout time.Duration
	// MaxConns bounds the open connections (0: the HTTP layer's default).
	MaxConns int
	// LogLevel is the lowest level logged.
	LogLevel slog.Level
	// LogFormat is "json" or "text".
	LogFormat string
}

// usageError is a command-line mistake: the process exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// IsUsageError reports whether err is a command-line mistake (exit status 2).
func IsUsageError(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// envFlag ties a flag to its environment variable.
type envFlag struct {
	flag string
	env  string
}

// parseWithEnv parses args into fs. A flag given on the command line beats
// its environment variable, whose value is then not even looked at; an
// empty environment variable counts as unset. Errors are usage errors; -h
// answers flag.ErrHelp.
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string, vars []envFlag) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if getenv == nil {
		return nil
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, v := range vars {
		val := getenv(v.env)
		if val == "" || given[v.flag] {
			continue
		}
		if err := fs.Set(v.flag, val); err != nil {
			return usagef("invalid value for %s: %v", v.env, err)
		}
	}
	return nil
}

// levelFlag is a flag.Value for slog levels (debug, info, warn, error).
type levelFlag struct{ level *slog.Level }

func (l levelFlag) String() string {
	if l.level == nil {
		return "info"
	}
	return strings.ToLower(l.level.String())
}

func (l levelFlag) Set(s string) error {
	return l.level.UnmarshalText([]byte(s))
}

// formatFlag is a flag.Value accepting "json" or "text".
type formatFlag struct{ format *string }

func (f formatFlag) String() string {
	if f.format == nil {
		return "json"
	}
	return *f.format
}

func (f formatFlag) Set(s string) error {
	switch s {
	case "json", "text":
		*f.format = s
		return nil
	}
	return fmt.Errorf("log format must be json or text, not %q", s)
}

// bytesFlag is a flag.Value for a non-negative byte count.
type bytesFlag struct{ n *int64 }

func (b bytesFlag) String() string {
	if b.n == nil {
		return "0"
	}
	return strconv.FormatInt(*b.n, 10)
}

func (b bytesFlag) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b.n = n
	return nil
}

// parseBytes parses a byte count with an optional KiB/MiB/GiB suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid byte count %q", s)
	}
	return n * mult, nil
}

// serveFlagSet builds the serve command's flags writing into c.
func serveFlagSet(c *Config, output io.Writer) (*flag.FlagSet, []envFlag) {
	fs := flag.NewFlagSet("commentd serve", flag.ContinueOnError)
	fs.SetOutput(output)
	c.Addr = DefaultAddr
	c.DataDir = DefaultDataDir
	c.ShutdownTimeout = DefaultShutdownTimeout
	c.LogLevel = slog.LevelInfo
	c.LogFormat = "json"
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (`host:port`; port 0 picks a free port) [COMMENTS_ADDR]")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data `directory` holding events/, readmodel/ and auth-secret [COMMENTS_DATA]")
	fs.StringVar(&c.AuthSecret, "auth-secret", "", "HS256 `secret` for tokens (default: generated into <data>/auth-secret, mode 0600) [COMMENTS_AUTH_SECRET]")
	fs.BoolVar(&c.QueryAuth, "query-auth", false, "require a valid token for queries and the event feed [COMMENTS_QUERY_AUTH=1|true]")
	fs.Var(bytesFlag{&c.CacheBytes}, "cache-bytes", "`bytes` bounding the read model's in-memory index, e.g. 64MiB; suffixes KiB, MiB, GiB (0: 64 MiB) [COMMENTS_CACHE_BYTES]")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "passivate comment actors idle this long (0: 1m) [COMMENTS_IDLE_TIMEOUT]")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 0, "bound on commands in flight; beyond it 503 overloaded (0: 8192) [COMMENTS_MAX_IN_FLIGHT]")
	fs.IntVar(&c.MaxActors, "max-actors", 0, "bound on live comment actors; beyond it the least recently used idle ones are passivated (0: 100000) [COMMENTS_MAX_ACTORS]")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "wait at most this long for in-flight requests on shutdown [COMMENTS_SHUTDOWN_TIMEOUT]")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 0, "cut a connection that takes longer than this to send a request (0: 10s) [COMMENTS_READ_TIMEOUT]")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 0, "cut a connection that takes longer than this to take a response (0: 10s) [COMMENTS_WRITE_TIMEOUT]")
	fs.DurationVar(&c.ConnIdleTimeout, "conn-idle-timeout", 0, "close keep-alive connections idle this long (0: 60s) [COMMENTS_CONN_IDLE_TIMEOUT]")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "bound on open connections; beyond it 503 overloaded (0: 10000) [COMMENTS_MAX_CONNS]")
	fs.Var(levelFlag{&c.LogLevel}, "log-level", "lowest log `level`: debug, info, warn or error (default info) [COMMENTS_LOG_LEVEL]")
	fs.Var(formatFlag{&c.LogFormat}, "log-format", "log `format` on stderr: json or text (default json) [COMMENTS_LOG_FORMAT]")
	return fs, []envFlag{
		{"addr", "COMMENTS_ADDR"},
		{"data", "COMMENTS_DATA"},
		{"auth-secret", "COMMENTS_AUTH_SECRET"},
		{"query-auth", "COMMENTS_QUERY_AUTH"},
		{"cache-bytes", "COMMENTS_CACHE_BYTES"},
		{"idle-timeout", "COMMENTS_IDLE_TIMEOUT"},
		{"max-in-flight", "COMMENTS_MAX_IN_FLIGHT"},
		{"max-actors", "COMMENTS_MAX_ACTORS"},
		{"shutdown-timeout", "COMMENTS_SHUTDOWN_TIMEOUT"},
		{"read-timeout", "COMMENTS_READ_TIMEOUT"},
		{"write-timeout", "COMMENTS_WRITE_TIMEOUT"},
		{"conn-idle-timeout", "COMMENTS_CONN_IDLE_TIMEOUT"},
		{"max-conns", "COMMENTS_MAX_CONNS"},
		{"log-level", "COMMENTS_LOG_LEVEL"},
		{"log-format", "COMMENTS_LOG_FORMAT"},
	}
}

// validate checks the values that the flag types alone cannot.
func (c *Config) validate() error {
	switch {
	case c.Addr == "":
		return usagef("--addr must not be empty")
	case c.DataDir == "":
		return usagef("--data must not be empty")
	case c.IdleTimeout < 0:
		return usagef("--idle-timeout must not be negative")
	case c.MaxInFlight < 0:
		return usagef("--max-in-flight must not be negative")
	case c.MaxActors < 0:
		return usagef("--max-actors must not be negative")
	case c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.ConnIdleTimeout < 0:
		return usagef("--read-timeout, --write-timeout and --conn-idle-timeout must not be negative")
	case c.MaxConns < 0:
		return usagef("--max-conns must not be negative")
	case c.ShutdownTimeout <= 0:
		return usagef("--shutdown-timeout must be positive")
	}
	return nil
}
