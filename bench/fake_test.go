package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"
)

// fakeServer is a test double of commentd: the routes the load generator
// drives, over an in-memory map, with the status codes of API.md. It can
// stall every request once (to show coordinated omission) and delay the
// visibility of new comments to queries (to show read-your-writes lag).
type fakeServer struct {
	secret []byte
	// stallAt is the request number (from 1) that stalls the whole server for stall; 0: never.
	stallAt int64
	stall   time.Duration
	// lag delays the visibility of a created comment to queries.
	lag time.Duration

	requests atomic.Int64
	byOp     [numOps]atomic.Int64
	gate     sync.RWMutex

	mu       sync.Mutex
	pos      uint64
	nextID   int
	comments map[string]*fakeComment // by id
	order    map[string][]string     // picture -> ids in creation order
	listed   map[string]int          // picture -> list requests
}

type fakeComment struct {
	ID, PictureID, Author, Text string
	Version                     uint64
	Position                    uint64
	deleted                     bool
	visible                     time.Time
}

func newFake(secret string) *fakeServer {
	return &fakeServer{secret: []byte(secret), comments: map[string]*fakeComment{},
		order: map[string][]string{}, listed: map[string]int{}}
}

// start serves the fake on 127.0.0.1:0 until the test ends; it returns the base URL.
func (f *fakeServer) start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: f.handle}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Shutdown(); ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func fakeError(c *fasthttp.RequestCtx, status int, code string) {
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	fmt.Fprintf(c, `{"error":{"code":%q,"message":%q}}`, code, code)
}

func (f *fakeServer) user(c *fasthttp.RequestCtx) (string, bool) {
	h := string(c.Request.Header.Peek("Authorization"))
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", false
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return f.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		return "", false
	}
	sub, err := parsed.Claims.GetSubject()
	return sub, err == nil && sub != ""
}

// waitStall blocks while a stall holds the gate.
func (f *fakeServer) waitStall() {
	f.gate.RLock()
	defer f.gate.RUnlock()
	_ = f.stall
}

func (f *fakeServer) handle(c *fasthttp.RequestCtx) {
	if n := f.requests.Add(1); n == f.stallAt {
		f.gate.Lock()
		time.Sleep(f.stall)
		f.gate.Unlock()
	} else {
		f.waitStall()
	}
	path := string(c.Path())
	if path == "/readyz" {
		c.SetContentType("application/json")
		c.SetBodyString(`{"status":"ready"}`)
		return
	}
	rest, ok := strings.CutPrefix(path, "/v1/pictures/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 2 || parts[1] != "comments" || len(parts) > 3 {
		fakeError(c, 404, "not_found")
		return
	}
	pic := parts[0]
	method := string(c.Method())
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(parts) == 2 {
		switch method {
		case "POST":
			f.byOp[OpCreate].Add(1)
			f.create(c, pic)
		case "GET":
			f.byOp[OpList].Add(1)
			f.list(c, pic)
		default:
			fakeError(c, 405, "method_not_allowed")
		}
		return
	}
	cm := f.comments[parts[2]]
	switch method {
	case "GET":
		f.byOp[OpGet].Add(1)
		f.get(c, pic, cm)
	case "PATCH", "DELETE":
		op := OpUpdate
		if method == "DELETE" {
			op = OpDelete
		}
		f.byOp[op].Add(1)
		f.command(c, op, pic, cm)
	default:
		fakeError(c, 405, "method_not_allowed")
	}
}

func (f *fakeServer) answer(c *fasthttp.RequestCtx, status int, cm *fakeComment) {
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	c.Response.Header.Set("ETag", strconv.Quote(strconv.FormatUint(cm.Version, 10)))
	fmt.Fprintf(c, `{"pictureId":%q,"id":%q,"version":%d,"position":%d}`, cm.PictureID, cm.ID, cm.Version, f.pos)
}

func (f *fakeServer) create(c *fasthttp.RequestCtx, pic string) {
	user, ok := f.user(c)
	if !ok {
		fakeError(c, 401, "unauthenticated")
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(c.PostBody(), &body); err != nil || body.Text == "" {
		fakeError(c, 400, "invalid_argument")
		return
	}
	f.nextID++
	f.pos++
	cm := &fakeComment{ID: fmt.Sprintf("c%08d", f.nextID), PictureID: pic, Author: user, Text: body.Text,
		Version: 1, Position: f.pos, visible: time.Now().Add(f.lag)}
	f.comments[cm.ID] = cm
	f.order[pic] = append(f.order[pic], cm.ID)
	c.Response.Header.Set("Location", "/v1/pictures/"+pic+"/comments/"+cm.ID)
	f.answer(c, 201, cm)
}

func (f *fakeServer) command(c *fasthttp.RequestCtx, op Op, pic string, cm *fakeComment) {
	user, ok := f.user(c)
	switch {
	case !ok:
		fakeError(c, 401, "unauthenticated")
	case cm == nil || cm.PictureID != pic:
		fakeError(c, 404, "not_found")
	case cm.Author != user:
		fakeError(c, 403, "forbidden")
	case cm.deleted:
		fakeError(c, 410, "gone")
	default:
		f.pos++
		cm.Version++
		cm.deleted = op == OpDelete
		f.answer(c, 200, cm)
	}
}

// waitVisible waits (unlocked) until cm shows in queries, when the request
// asks for a minPosition.
func (f *fakeServer) waitVisible(c *fasthttp.RequestCtx, cm *fakeComment) {
	if d := time.Until(cm.visible); d > 0 && c.QueryArgs().Has("minPosition") {
		f.mu.Unlock()
		time.Sleep(d)
		f.mu.Lock()
	}
}

func (f *fakeServer) get(c *fasthttp.RequestCtx, pic string, cm *fakeComment) {
	c.Response.Header.Set("X-Read-Position", strconv.FormatUint(f.pos, 10))
	if cm == nil || cm.PictureID != pic {
		fakeError(c, 404, "not_found")
		return
	}
	f.waitVisible(c, cm)
	if cm.deleted || time.Now().Before(cm.visible) {
		fakeError(c, 404, "not_found")
		return
	}
	c.SetContentType("application/json")
	fmt.Fprintf(c, `{"id":%q,"pictureId":%q,"author":%q,"text":%q,"version":%d}`, cm.ID, cm.PictureID, cm.Author, cm.Text, cm.Version)
}

func (f *fakeServer) list(c *fasthttp.RequestCtx, pic string) {
	f.listed[pic]++
	limit := 50
	if l := c.QueryArgs().GetUintOrZero("limit"); l > 0 {
		limit = l
	}
	c.SetContentType("application/json")
	c.Response.Header.Set("X-Read-Position", strconv.FormatUint(f.pos, 10))
	b := []byte(`{"pictureId":"` + pic + `","comments":[`)
	n := 0
	for _, id := range f.order[pic] {
		cm := f.comments[id]
		if cm.deleted || time.Now().Before(cm.visible) {
			continue
		}
		if n == limit {
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":%q,"pictureId":%q,"author":%q,"text":%q,"version":%d}`, cm.ID, cm.PictureID, cm.Author, cm.Text, cm.Version)
		n++
	}
	b = append(b, `],"next":null}`...)
	c.SetBody(b)
}

// TestMain lets the test binary stand in for a commentd binary: with
// BENCH_FAKE_COMMENTD=1 it runs `serve --addr A --data D` on the fake.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_FAKE_COMMENTD") == "1" {
		if err := fakeMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake commentd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// fasthttp's cleaners sleep before they notice that their client or
	// server is gone, and its dialer and date updater are process-wide.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

func fakeMain(args []string) error {
	var addr, data string
	if len(args) == 0 || args[0] != "serve" {
		return errors.New("want serve")
	}
	for i := 1; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--addr":
			addr = args[i+1]
		case "--data":
			data = args[i+1]
		}
	}
	if addr == "" || data == "" {
		return errors.New("want --addr and --data")
	}
	if err := os.WriteFile(filepath.Join(data, "auth-secret"), []byte("spawned-secret\n"), 0o600); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{Handler: newFake("spawned-secret").handle}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Shutdown() }()
	return srv.Serve(ln)
}
