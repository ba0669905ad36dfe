package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/commentd/commentd/comment"
)

func TestOps(t *testing.T) {
	e := startEnv(t, nil)
	r := e.do(req{method: "GET", path: "/healthz"})
	wantStatus(t, r, 200)
	if string(r.body) != `{"status":"ok"}` {
		t.Errorf("healthz = %s", r.body)
	}
	r = e.do(req{method: "GET", path: "/readyz"})
	wantStatus(t, r, 200)
	if string(r.body) != `{"status":"ready"}` {
		t.Errorf("readyz = %s", r.body)
	}
	if r.header.Get("Server") != "" && r.header.Get("Server") != "commentd" {
		t.Errorf("Server = %q", r.header.Get("Server"))
	}
}

func TestMetrics(t *testing.T) {
	e := startEnv(t, nil)
	wantStatus(t, e.create("alice", "p1", "c1", "x"), 201)
	wantError(t, e.do(req{method: "GET", path: "/nope/" + strings.Repeat("x", 50)}), 404, comment.CodeNotFound)
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments"}), 200)
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p2/comments"}), 200)
	r := e.do(req{method: "GET", path: "/metrics"})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %q", r.status, r.header.Get("Content-Type"))
	}
	body := string(r.body)
	for _, want := range []string{
		`commentd_http_requests_total{code="201",method="POST",route="/v1/pictures/{pictureId}/comments"} 1`,
		`commentd_http_requests_total{code="200",method="GET",route="/v1/pictures/{pictureId}/comments"} 2`,
		`commentd_http_requests_total{code="404",method="GET",route="unknown"} 1`,
		`commentd_http_request_duration_seconds_bucket{method="POST",route="/v1/pictures/{pictureId}/comments",le="+Inf"} 1`,
		`commentd_http_connections_open 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "xxxxxxxx") {
		t.Errorf("a raw path leaked into a label")
	}
}

// TestRequestDataCopied checks that commands hold no reference to fasthttp's
// buffers: commands kept by the bus must still read as sent after many more
// requests have reused those buffers.
func TestRequestDataCopied(t *testing.T) {
	e := startEnv(t, nil)
	const n = 60
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := token(t, fmt.Sprintf("user%d", w))
			for i := range n {
				id := fmt.Sprintf("w%dc%03d", w, i)
				body := fmt.Sprintf(`{"text":"text %s %s","id":"%s"}`, id, strings.Repeat("z", i), id)
				r, err := e.try(req{method: "POST", path: "/v1/pictures/pic" + id + "/comments", body: body, token: tok})
				if err != nil || r.status != 201 {
					t.Errorf("create %s: %s %v", id, r, err)
				}
			}
		}()
	}
	wg.Wait()
	e.bus.mu.Lock()
	defer e.bus.mu.Unlock()
	if len(e.bus.sent) != 3*n {
		t.Fatalf("sent %d commands", len(e.bus.sent))
	}
	for _, cmd := range e.bus.sent {
		c := cmd.(comment.Create)
		var w, i int
		if _, err := fmt.Sscanf(c.ID, "w%dc%03d", &w, &i); err != nil {
			t.Fatalf("id %q", c.ID)
		}
		if c.PictureID != "pic"+c.ID || c.Text != fmt.Sprintf("text %s %s", c.ID, strings.Repeat("z", i)) || c.User != fmt.Sprintf("user%d", w) {
			t.Errorf("command changed after the request: %+v", c)
		}
	}
}

func TestConnectionLimit(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxConns = 2 })
	addr := strings.TrimPrefix(e.base, "http://")
	get := func(c net.Conn, br *bufio.Reader) *http.Response {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(res.Body)
		res.Body.Close()
		return res
	}
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if res := get(c, bufio.NewReader(c)); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// A real client sends its request at once; it must still read the answer.
	if _, err := io.WriteString(c, "POST /v1/pictures/p1/comments HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("x", 5000)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	c.Close()
	wantError(t, resp{status: res.StatusCode, header: res.Header, body: b}, 503, comment.CodeOverloaded)
	if got := testutil.ToFloat64(e.srv.metrics.rejected); got != 1 {
		t.Errorf("rejected connections = %v, want 1", got)
	}

	// Closing one makes room again.
	conns[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		res := get(c, bufio.NewReader(c))
		c.Close()
		if res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after closing a connection: %d", res.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conns[1].Close()
}

// TestShutdownFinishesCommands checks that Shutdown lets a command in flight
// answer, and ends a long poll.
func TestShutdownFinishesCommands(t *testing.T) {
	e := startEnv(t, nil)
	block, entered, polling := make(chan struct{}), make(chan struct{}, 1), make(chan struct{}, 1)
	e.bus.mu.Lock()
	e.bus.block, e.bus.entered, e.bus.polling = block, entered, polling
	e.bus.mu.Unlock()

	created := e.async(e.createReq("alice", "p1", "c1", "x"))
	polled := e.async(req{method: "GET", path: "/v1/events?wait=30s"})
	// Wait for the command to be in the bus and the poll to be waiting.
	<-entered
	<-polling

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- e.srv.Shutdown(ctx)
	}()
	r := <-polled
	wantError(t, r, 503, comment.CodeNotReady)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a command in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(block)
	wantStatus(t, <-created, 201)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(e.base, "http://"), time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
}

func TestPanicIsInternal(t *testing.T) {
	e := startEnv(t, nil)
	e.queries.list = func([]byte, string, int, string) ([]byte, uint64, error) { panic("boom /secret/path") }
	r := e.do(req{method: "GET", path: "/v1/pictures/p1/comments"})
	wantError(t, r, 500, comment.CodeInternal)
	if strings.Contains(string(r.body), "secret") {
		t.Errorf("panic text leaked: %s", r.body)
	}
	wantStatus(t, e.do(req{method: "GET", path: "/healthz"}), 200)
}

func TestNewValidates(t *testing.T) {
	bus := newMemBus()
	q := newFakeQueries()
	for name, cfg := range map[string]Config{
		"no bus":     {Queries: q, Events: bus, Secret: testSecret},
		"no queries": {Bus: bus, Events: bus, Secret: testSecret},
		"no events":  {Bus: bus, Queries: q, Secret: testSecret},
		"no secret":  {Bus: bus, Queries: q, Events: bus},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := New(Config{Bus: bus, Queries: q, Events: bus, Secret: testSecret}); err != nil {
		t.Errorf("New with its own registry: %v", err)
	}
}

func TestRedact(t *testing.T) {
	tok := mustSign(t, "alice")
	for _, msg := range []string{
		"error when reading request headers: bad: buffer size=100, contents: GET / HTTP/1.1\r\nAuthorization: Bearer " + tok,
		"something Bearer " + tok + " else",
		"token " + tok,
		"x buf=\"Authorization: bearer secret-ish\"",
	} {
		got := redact(msg)
		if strings.Contains(got, tok) || strings.Contains(got, "secret-ish") || strings.Contains(got, "eyJ") {
			t.Errorf("redact(%q) = %q", msg, got)
		}
	}
	if got := redact("plain message"); got != "plain message" {
		t.Errorf("redact changed a plain message: %q", got)
	}
}

// TestNoTokenInLogs sends hostile requests carrying tokens and checks that
// no log line repeats one.
func TestNoTokenInLogs(t *testing.T) {
	var logs syncBuffer
	e := startEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tok := mustSign(t, "alice")
	e.bus.fail = func(comment.Command) error { return errors.New("disk on fire") }
	wantError(t, e.create("alice", "p1", "c1", "x"), 500, comment.CodeInternal)
	e.raw("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nBad Header Line\r\n\r\n")
	e.raw("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n")
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), string(testSecret)) {
		t.Fatalf("a token or the secret reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the internal error was not logged:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestShutdownClosesIdleConnections checks that Shutdown closes at once a
// connection that never sent a byte and a keep-alive connection between
// requests, while a command in flight still answers, and that it then
// returns without waiting for its deadline. fasthttp alone treats a
// connection that has sent nothing as busy for its first five seconds, so
// the raw connection's 3 s read deadline fails this test without the
// server's own sweep.
func TestShutdownClosesIdleConnections(t *testing.T) {
	e := startEnv(t, nil)
	addr := strings.TrimPrefix(e.base, "http://")

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	keepAlive, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer keepAlive.Close()
	_, _ = io.WriteString(keepAlive, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	kr := bufio.NewReader(keepAlive)
	res, err := http.ReadResponse(kr, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()

	block, entered := make(chan struct{}), make(chan struct{}, 1)
	e.bus.mu.Lock()
	e.bus.block, e.bus.entered = block, entered
	e.bus.mu.Unlock()
	created := e.async(e.createReq("alice", "p1", "c1", "x"))
	<-entered

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- e.srv.Shutdown(ctx)
	}()

	// Both idle connections are closed while the command is still held.
	for _, idle := range []struct {
		name string
		c    net.Conn
		r    io.Reader
	}{{"silent", silent, silent}, {"keep-alive", keepAlive, kr}} {
		_ = idle.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := idle.r.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s connection: read %d bytes, %v; want it closed by Shutdown", idle.name, n, err)
		}
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a command in flight", err)
	default:
	}

	close(block)
	wantStatus(t, <-created, 201)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v, want nil before its deadline", err)
	}
}
