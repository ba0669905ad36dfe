package httpapi

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/commentd/commentd/comment"
)

// fixedList is a pre-encoded page of 20 comments, as a cached read model
// would hold it.
var fixedList = func() []byte {
	var b strings.Builder
	b.WriteString(`{"pictureId":"p1","comments":[`)
	for i := range 20 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"c0000000000` + string(rune('a'+i)) + `","pictureId":"p1","author":"alice","text":"a comment of moderate length, like most are","createdAt":"2026-11-26T10:00:00.123456789Z","updatedAt":"2026-11-26T10:00:00.123456789Z","version":1}`)
	}
	b.WriteString(`],"next":null}`)
	return []byte(b.String())
}()

// instantBus answers every command at once.
type instantBus struct{}

func (instantBus) Send(_ context.Context, cmd comment.Command) (comment.Result, error) {
	c := cmd.(comment.Create)
	return comment.Result{PictureID: c.PictureID, ID: "c1", Version: 1, Position: 42, Created: true}, nil
}

func benchServer(b *testing.B, bus CommandBus) (*Server, *fasthttp.HostClient) {
	b.Helper()
	q := newFakeQueries()
	q.pos = 42
	q.list = func(dst []byte, _ string, _ int, _ string) ([]byte, uint64, error) {
		return append(dst, fixedList...), 42, nil
	}
	srv, err := New(Config{Bus: bus, Queries: q, Events: newMemBus(), Secret: testSecret, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv, &fasthttp.HostClient{Addr: "bench", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

// BenchmarkListCached measures a cached list query end to end over
// fasthttp's in-memory listener (client and server in the same process).
func BenchmarkListCached(b *testing.B) {
	_, c := benchServer(b, instantBus{})
	benchListRequests(b, c)
}

// benchListRequests sends the list request of BenchmarkListCached and
// BenchmarkCeiling through c until the benchmark ends.
func benchListRequests(b *testing.B, c *fasthttp.HostClient) {
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://bench/v1/pictures/p1/comments?limit=20")
	b.ReportAllocs()
	b.SetBytes(int64(len(fixedList)))
	for b.Loop() {
		if err := c.Do(req, res); err != nil || res.StatusCode() != 200 {
			b.Fatalf("%v %d", err, res.StatusCode())
		}
	}
}

// BenchmarkCeiling is the reference for BenchmarkListCached: fasthttp
// returning the same bytes from memory with no routing or checks.
func BenchmarkCeiling(b *testing.B) {
	ln := fasthttputil.NewInmemoryListener()
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType(contentTypeJSON)
		ctx.SetBody(fixedList)
	}}
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Shutdown() })
	c := &fasthttp.HostClient{Addr: "bench", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	benchListRequests(b, c)
}

// BenchmarkHandlerListCached measures the handler alone on a prepared
// RequestCtx: the server-side cost and allocations of a cached list.
func BenchmarkHandlerListCached(b *testing.B) {
	srv, _ := benchServer(b, instantBus{})
	h := srv.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, nil, nil)
	ctx.Request.SetRequestURI("/v1/pictures/p1/comments?limit=20&minPosition=40")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

// BenchmarkCreate measures a create end to end over the in-memory listener
// with a bus that answers at once: routing, token check, body decoding and
// validation, and the answer.
func BenchmarkCreate(b *testing.B) {
	_, c := benchServer(b, instantBus{})
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://bench/v1/pictures/p1/comments")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer "+mustSign(b, "alice"))
	req.SetBodyString(`{"text":"a comment of moderate length, like most are"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(req, res); err != nil || res.StatusCode() != 201 {
			b.Fatalf("%v %d %s", err, res.StatusCode(), res.Body())
		}
	}
}
