package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/comment"
)

var testSecret = []byte("test-secret-0123456789abcdef")

// memBus is a command bus over an in-memory event log that applies the real
// domain rules (comment.Decide), so that the HTTP layer's answers can be
// checked against the contract's precedence end to end. fail, when set,
// answers instead.
type memBus struct {
	mu      sync.Mutex
	states  map[string]comment.State
	log     []comment.Event
	sent    []comment.Command
	nextID  int
	fail    func(cmd comment.Command) error
	block   chan struct{} // when set, Send waits for it to be closed
	entered chan struct{} // when set, Send signals it before waiting on block
	polling chan struct{} // when set, a waiting Events signals it
}

func newMemBus() *memBus { return &memBus{states: map[string]comment.State{}} }

func (b *memBus) Send(ctx context.Context, cmd comment.Command) (comment.Result, error) {
	b.mu.Lock()
	block, entered := b.block, b.entered
	b.mu.Unlock()
	if block != nil {
		if entered != nil {
			entered <- struct{}{}
		}
		select {
		case <-block:
		case <-ctx.Done():
			return comment.Result{}, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, cmd)
	if b.fail != nil {
		if err := b.fail(cmd); err != nil {
			return comment.Result{}, err
		}
	}
	if c, ok := cmd.(comment.Create); ok && c.ID == "" {
		b.nextID++
		c.ID = fmt.Sprintf("srv%06d", b.nextID)
		cmd = c
	}
	s := b.states[cmd.CommentID()]
	events, err := comment.Decide(s, cmd)
	if err != nil {
		return comment.Result{}, err
	}
	if len(events) == 0 {
		return comment.Unchanged(s, cmd), nil
	}
	var res comment.Result
	for _, e := range events {
		e.Position = uint64(len(b.log) + 1)
		e.At = time.Unix(0, int64(e.Position)*1e6).UTC()
		b.log = append(b.log, e)
		s = comment.Evolve(s, e)
		res = comment.Result{PictureID: e.PictureID, ID: e.CommentID, Version: e.Version, Position: e.Position}
	}
	_, res.Created = cmd.(comment.Create)
	b.states[cmd.CommentID()] = s
	return res, nil
}

func (b *memBus) sentCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sent)
}

func (b *memBus) lastSent() comment.Command {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sent) == 0 {
		return nil
	}
	return b.sent[len(b.sent)-1]
}

// History implements EventLog over the bus's log.
func (b *memBus) History(_ context.Context, id string) ([]comment.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []comment.Event
	for _, e := range b.log {
		if e.CommentID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

// Events implements EventLog over the bus's log; it polls for the wait,
// which is good enough for a fake.
func (b *memBus) Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]comment.Event, uint64, error) {
	deadline := time.Now().Add(wait)
	b.mu.Lock()
	polling := b.polling
	b.mu.Unlock()
	if polling != nil && wait > 0 {
		polling <- struct{}{}
	}
	for {
		b.mu.Lock()
		last := uint64(len(b.log))
		var out []comment.Event
		for _, e := range b.log {
			if e.Position > after && len(out) < limit {
				out = append(out, e)
			}
		}
		b.mu.Unlock()
		if len(out) > 0 || !time.Now().Before(deadline) {
			return out, last, nil
		}
		select {
		case <-ctx.Done():
			return nil, last, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// fakeQueries is a function-field fake of Queries; nil fields have simple
// defaults.
type fakeQueries struct {
	mu       sync.Mutex
	pos      uint64
	waitCond *sync.Cond
	list     func(dst []byte, picture string, limit int, cursor string) ([]byte, uint64, error)
	get      func(dst []byte, picture, id string) ([]byte, uint64, error)
}

func newFakeQueries() *fakeQueries {
	q := &fakeQueries{}
	q.waitCond = sync.NewCond(&q.mu)
	return q
}

func (q *fakeQueries) AppendList(dst []byte, picture string, limit int, cursor string) ([]byte, uint64, error) {
	if q.list != nil {
		return q.list(dst, picture, limit, cursor)
	}
	dst = append(dst, `{"pictureId":"`...)
	dst = append(dst, picture...)
	dst = append(dst, `","comments":[],"next":null}`...)
	return dst, q.Position(), nil
}

func (q *fakeQueries) AppendComment(dst []byte, picture, id string) ([]byte, uint64, error) {
	if q.get != nil {
		return q.get(dst, picture, id)
	}
	return dst, q.Position(), comment.Errorf(comment.CodeNotFound, "comment not found")
}

func (q *fakeQueries) Position() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pos
}

func (q *fakeQueries) setPosition(p uint64) {
	q.mu.Lock()
	q.pos = p
	q.mu.Unlock()
	q.waitCond.Broadcast()
}

func (q *fakeQueries) WaitForPosition(ctx context.Context, pos uint64) (uint64, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.waitCond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.pos < pos {
		if ctx.Err() != nil {
			return q.pos, ctx.Err()
		}
		q.waitCond.Wait()
	}
	return q.pos, nil
}

// env is a running server with its fakes.
type env struct {
	t       *testing.T
	srv     *Server
	bus     *memBus
	queries *fakeQueries
	reg     *prometheus.Registry
	base    string
	client  *http.Client
}

// startEnv starts a server on 127.0.0.1:0; edit adjusts the config.
func startEnv(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	bus := newMemBus()
	q := newFakeQueries()
	reg := prometheus.NewRegistry()
	cfg := Config{Bus: bus, Queries: q, Events: bus, Secret: testSecret, Registerer: reg}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}
	e := &env{t: t, srv: srv, bus: bus, queries: q, reg: reg,
		base: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// resp is a response read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// req is a request to send; hdr values are set as given.
type req struct {
	method string
	path   string
	body   string
	hdr    map[string]string
	token  string // "Bearer <token>" when set
}

func (e *env) do(r req) resp {
	e.t.Helper()
	res, err := e.try(r)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// try is do for goroutines other than the test's: it returns its error.
func (e *env) try(r req) (resp, error) {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.base+r.path, body)
	if err != nil {
		return resp{}, err
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.hdr {
		if v == "<none>" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	res, err := e.client.Do(hr)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := SignToken(testSecret, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError checks status, code, content type, shape and, for 503, Retry-After.
func wantError(t *testing.T, r resp, status int, code comment.Code) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var eb errorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if eb.Error.Code != string(code) {
		t.Errorf("code = %q, want %q (message %q)", eb.Error.Code, code, eb.Error.Message)
	}
	if eb.Error.Message == "" {
		t.Errorf("empty error message")
	}
	if status == 503 && r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}

func wantStatus(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// create creates a comment as user.
func (e *env) create(user, picture, id, text string) resp {
	e.t.Helper()
	return e.do(e.createReq(user, picture, id, text))
}

func (e *env) createReq(user, picture, id, text string) req {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text, "id": id})
	if id == "" {
		body, _ = json.Marshal(map[string]string{"text": text})
	}
	return req{method: "POST", path: "/v1/pictures/" + picture + "/comments", body: string(body), token: token(e.t, user)}
}

// async sends r from another goroutine; the answer (or an error status 0
// with the error as body) arrives on the channel.
func (e *env) async(r req) <-chan resp {
	ch := make(chan resp, 1)
	go func() {
		res, err := e.try(r)
		if err != nil {
			res = resp{body: []byte(err.Error())}
		}
		ch <- res
	}()
	return ch
}

// raw sends a raw HTTP/1.1 request on a new connection and reads one response.
func (e *env) raw(request string) resp {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(c, request) }()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatalf("reading response: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}
