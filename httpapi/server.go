package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/commentd/commentd/comment"
)

// CommandBus executes commands on the write side. Send must be safe for
// concurrent use; it answers after the command's events are durable. Its
// errors are *comment.Error values (domain rejections, overloaded,
// not_ready) or internal errors. The command it receives owns all its
// strings: none alias request buffers.
type CommandBus interface {
	Send(ctx context.Context, cmd comment.Command) (comment.Result, error)
}

// Queries reads the read model. All methods must be safe for concurrent use
// and must not retain dst or the string arguments beyond the call.
type Queries interface {
	// AppendList appends the JSON body of a page of a picture's comments to
	// dst and returns it with the read position it reflects. A bad cursor is
	// an invalid_argument *comment.Error.
	AppendList(dst []byte, pictureID string, limit int, cursor string) ([]byte, uint64, error)
	// AppendComment appends the JSON body of one comment; not_found if it is
	// unknown, under another picture or deleted.
	AppendComment(dst []byte, pictureID, commentID string) ([]byte, uint64, error)
	// WaitForPosition blocks until the read model reflects pos and returns
	// its position then, or returns ctx's error.
	WaitForPosition(ctx context.Context, pos uint64) (uint64, error)
	// Position is the position the read model reflects now.
	Position() uint64
}

// EventLog reads the event log. Methods must be safe for concurrent use.
type EventLog interface {
	// History returns a comment's events in version order (none if it was
	// never created), with Version, Position and At set.
	History(ctx context.Context, commentID string) ([]comment.Event, error)
	// Events returns up to limit events with positions after after, waiting
	// up to wait for the first one, and the newest committed position.
	Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]comment.Event, uint64, error)
}

// Config configures a Server. Bus, Queries, Events and Secret are required.
type Config struct {
	Bus     CommandBus
	Queries Queries
	Events  EventLog

	// Ready reports that the stores are open and the read model has caught
	// up with the log as it was at start. Until it first returns true every
	// /v1 route answers 503 not_ready; after that it is no longer asked.
	// nil: always ready.
	Ready func() bool
	// WriteFailed reports that the write side has stopped after a storage
	// failure: commands then answer 503 not_ready before any other check,
	// and /readyz reports not ready. nil: never.
	WriteFailed func() bool

	// Secret is the HS256 key of bearer tokens.
	Secret []byte
	// QueryAuth makes queries and the event feed require a valid token too.
	QueryAuth bool

	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics (and the Go and process
	// collectors unless already there); Gatherer serves /metrics. nil
	// Registerer: a private registry, which also serves as the Gatherer. A
	// nil Gatherer with a Registerer that is also a Gatherer uses that.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer

	// ReadTimeout bounds reading one request (headers and body); 0: 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response; 0: 10s. Long polls wait
	// before writing, so they are not cut short by it.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long; 0: 60s.
	IdleTimeout time.Duration
	// CommandTimeout is the deadline of a command sent to the bus; 0: none
	// of this package's own (the bus applies its default).
	CommandTimeout time.Duration
	// MaxConns bounds open connections; more are answered 503 overloaded
	// and closed. 0: 10000.
	MaxConns int
	// ReadBufferSize bounds the request line and headers; 0: 16 KiB.
	ReadBufferSize int
	// WriteBufferSize is the size of a connection's response buffer; 0:
	// 16 KiB. A response (headers and body) that fits is sent with one
	// write: a page of 50 comments of ordinary length does, where a 4 KiB
	// buffer would take two writes and so two system calls.
	WriteBufferSize int
}

// MaxBodySize is the largest request body accepted; larger ones get 413.
const MaxBodySize = 64 << 10

const contentTypeJSON = "application/json"

// Server is the HTTP API. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	verify  *Verifier
	metrics *metrics
	srv     *fasthttp.Server
	prom    fasthttp.RequestHandler

	ready    atomic.Bool  // Ready has returned true once
	stopping atomic.Bool  // Shutdown has begun
	conns    atomic.Int64 // open connections
	// lingering counts connections being closed gracefully.
	lingering atomic.Int64

	// fresh holds the open connections that have not yet received a byte
	// (see countedConn.claim); Shutdown closes them at once. Guarded by
	// freshMu, which also orders registration against Shutdown.
	freshMu sync.Mutex
	fresh   map[*countedConn]struct{}

	// waitCtx is the parent of every wait (minPosition, long poll); it is
	// cancelled by Shutdown so that waits end instead of holding it up.
	// Commands do not use it: they are allowed to finish.
	waitCtx    context.Context
	cancelWait context.CancelFunc
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Bus == nil || cfg.Queries == nil || cfg.Events == nil {
		return nil, errors.New("httpapi: Bus, Queries and Events are required")
	}
	verify, err := NewVerifier(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
	}
	if cfg.Gatherer == nil {
		g, ok := cfg.Registerer.(prometheus.Gatherer)
		if !ok {
			return nil, errors.New("httpapi: Gatherer is required with a Registerer that is not one")
		}
		cfg.Gatherer = g
	}
	setDefault(&cfg.ReadTimeout, 10*time.Second)
	setDefault(&cfg.WriteTimeout, 10*time.Second)
	setDefault(&cfg.IdleTimeout, 60*time.Second)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 16 << 10
	}
	if cfg.WriteBufferSize <= 0 {
		cfg.WriteBufferSize = 16 << 10
	}

	s := &Server{cfg: cfg, log: cfg.Logger, verify: verify, fresh: make(map[*countedConn]struct{})}
	s.waitCtx, s.cancelWait = context.WithCancel(context.Background())
	s.metrics, err = newMetrics(cfg.Registerer, func() float64 { return float64(s.conns.Load()) })
	if err != nil {
		return nil, err
	}
	s.prom = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
	}))
	s.srv = &fasthttp.Server{
		Handler:      s.handle,
		ErrorHandler: s.handleParseError,
		// The connection limit is enforced by the listener (see Serve), which
		// answers with the contract's JSON error; this is only a backstop.
		Concurrency:           cfg.MaxConns + 64,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        cfg.ReadBufferSize,
		WriteBufferSize:       cfg.WriteBufferSize,
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
		CloseOnShutdown:       true,
		// The body is streamed so that the handler, not fasthttp, decides
		// what an oversized body gets: the contract puts 401 before 413, and
		// wants 413 as a JSON answer rather than a closed connection. The
		// handler never reads more than MaxBodySize+1 bytes; fasthttp drains
		// or closes after what is left.
		StreamRequestBody:  true,
		MaxRequestBodySize: MaxBodySize,
		// The API takes no form bodies; never parse one.
		DisablePreParseMultipartForm: true,
		Logger:                       fasthttpLogger{cfg.Logger},
	}
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Handler returns the request handler, for serving on a listener of the
// caller's (or in tests, on a constructed RequestCtx).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown, an error otherwise. Connections beyond MaxConns are answered
// 503 overloaded and closed at once.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(&limitListener{Listener: ln, s: s})
}

// Shutdown stops accepting connections, ends waiting queries and long polls
// (they answer 503 not_ready), lets in-flight requests finish, closes idle
// connections at once, and returns once every connection is closed or ctx
// is done.
//
// Idle connections are of two kinds. A keep-alive connection between
// requests is closed by fasthttp's own shutdown sweep as soon as it is idle.
// A connection that has not sent a byte yet is one fasthttp treats as busy
// for its first five seconds (like net/http), which would hold Shutdown up
// that long: Shutdown closes those itself, claiming each one first so that a
// request whose first bytes arrive at the same moment is dropped whole
// rather than served on a closed connection (see countedConn.claim).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.cancelWait()
	s.closeFresh()
	return s.srv.ShutdownWithContext(ctx)
}

// closeFresh claims and closes every connection that has not received a
// byte. Connections accepted from now on are closed at once (see track).
func (s *Server) closeFresh() {
	s.freshMu.Lock()
	var closing []*countedConn
	for c := range s.fresh {
		if c.state.CompareAndSwap(connFresh, connClaimed) {
			closing = append(closing, c)
		}
		delete(s.fresh, c)
	}
	s.freshMu.Unlock()
	for _, c := range closing {
		_ = c.Close()
	}
}

// track registers a newly accepted connection as fresh. It reports false,
// having closed c, when Shutdown has begun.
func (s *Server) track(c *countedConn) bool {
	s.freshMu.Lock()
	stopping := s.stopping.Load()
	if !stopping {
		s.fresh[c] = struct{}{}
	}
	s.freshMu.Unlock()
	if stopping {
		c.state.Store(connClaimed)
		_ = c.Close()
		return false
	}
	return true
}

// untrack forgets c (it received its first byte, or closed).
func (s *Server) untrack(c *countedConn) {
	s.freshMu.Lock()
	delete(s.fresh, c)
	s.freshMu.Unlock()
}

// handleParseError answers requests fasthttp could not read or parse, in the
// contract's error shape. fasthttp closes the connection afterwards.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeErrorCode(ctx, comment.CodePayloadTooLarge, errTooLarge.Message)
		return
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		writeErrorCode(ctx, comment.CodeInvalidArgument, "request not received in time")
		return
	}
	writeErrorCode(ctx, comment.CodeInvalidArgument, "malformed HTTP request")
}

// fasthttpLogger routes fasthttp's own log lines into slog. Those lines can
// quote raw request bytes, which may hold a bearer token: they are cut
// before any quoted contents and stripped of anything token-like.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn("fasthttp", slog.String("msg", redact(fmt.Sprintf(format, args...))))
}

// redact removes what could be a credential from a log message: everything
// after a "contents:" or "buf=" dump, and every word after "Bearer" or
// starting like a JWT ("eyJ").
func redact(msg string) string {
	for _, marker := range []string{"contents:", "buf=", "Buffer:"} {
		if i := strings.Index(msg, marker); i >= 0 {
			msg = msg[:i] + marker + " [redacted]"
		}
	}
	words := strings.Fields(msg)
	for i, w := range words {
		if strings.Contains(w, "eyJ") || (i > 0 && strings.EqualFold(strings.Trim(words[i-1], `"'`), "bearer")) {
			words[i] = "[redacted]"
		}
	}
	return strings.Join(words, " ")
}

// limitListener counts open connections and answers those over the limit
// with a JSON 503 instead of queueing them.
type limitListener struct {
	net.Listener
	s *Server
}

var overloadedConnResponse = func() []byte {
	body := `{"error":{"code":"overloaded","message":"too many connections"}}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json\r\nRetry-After: " + retryAfterSeconds + "\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.conns.Add(1) > int64(l.s.cfg.MaxConns) {
			l.s.conns.Add(-1)
			l.s.metrics.rejected.Inc()
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write(overloadedConnResponse)
			// The client has probably sent its request already: read it
			// before closing, or the answer may be lost to a reset.
			l.s.lingerClose(c)
			continue
		}
		cc := &countedConn{Conn: c, s: l.s}
		if !l.s.track(cc) {
			continue
		}
		return cc, nil
	}
}

// countedConn decrements the open-connection count once, on its first Close.
//
// A connection marked to linger (see markLinger) is closed gracefully: its
// write side is shut first and what the client still sends is read and
// discarded for a short while, so that a client busy uploading a body the
// server refused sees the answer instead of a connection reset.
//
// It also tells a connection that has not yet received a byte from one that
// has, for Shutdown: state moves from connFresh to connUsed on the first
// read that returns data, or to connClaimed when Shutdown takes the fresh
// connection to close it; the first move wins. A read whose data arrives
// after the claim reports the connection closed, so a request racing
// Shutdown is dropped whole, never half-served.
type countedConn struct {
	net.Conn
	s      *Server
	once   sync.Once
	linger atomic.Bool
	state  atomic.Int32
}

// The states of countedConn.state.
const (
	connFresh   int32 = iota // no byte received yet
	connUsed                 // a request has started on it
	connClaimed              // Shutdown is closing it
)

// Read claims a fresh connection on its first data.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.state.Load() != connUsed {
		return c.claim(n, err)
	}
	return n, err
}

// claim is Read's slow path, taken until the connection is used.
func (c *countedConn) claim(n int, err error) (int, error) {
	if n == 0 {
		if c.state.Load() == connClaimed {
			return 0, net.ErrClosed
		}
		return n, err
	}
	if !c.state.CompareAndSwap(connFresh, connUsed) && c.state.Load() == connClaimed {
		return 0, net.ErrClosed
	}
	c.s.untrack(c)
	return n, err
}

// Bounds of lingering closes.
const (
	lingerTimeout  = 500 * time.Millisecond
	lingerMaxBytes = 16 << 20
	maxLingering   = 256
)

func (c *countedConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		if c.state.Load() == connFresh {
			c.s.untrack(c)
		}
		c.s.conns.Add(-1)
		if c.linger.Load() {
			c.s.lingerClose(c.Conn)
			err = nil
			return
		}
		err = c.Conn.Close()
	})
	return err
}

// lingerClose closes c gracefully when it can: it shuts the write side
// (the client sees the end of the answer), then reads and discards what the
// client still sends for a short while before closing. At most maxLingering
// connections linger at once; others are closed at once.
func (s *Server) lingerClose(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok || s.lingering.Add(1) > maxLingering {
		if ok {
			s.lingering.Add(-1)
		}
		_ = c.Close()
		return
	}
	if tc.CloseWrite() != nil {
		s.lingering.Add(-1)
		_ = tc.Close()
		return
	}
	go func() {
		defer s.lingering.Add(-1)
		_ = tc.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, tc, lingerMaxBytes)
		_ = tc.Close()
	}()
}

// markLinger asks for a graceful close of the request's connection, used
// when the answer leaves a large request body unread.
func markLinger(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(*countedConn); ok {
		c.linger.Store(true)
	}
}

// buffer is a pooled response buffer.
type buffer struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 4096)} }}

func getBuf() *buffer { return bufPool.Get().(*buffer) }

// putBuf returns buf to the pool unless it grew too large to keep.
func putBuf(buf *buffer) {
	if cap(buf.b) > 1<<20 {
		return
	}
	buf.b = buf.b[:0]
	bufPool.Put(buf)
}
