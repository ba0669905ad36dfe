package bench

import (
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkCeilingHTTP measures one list round trip of the bench client
// against the http ceiling's server (a 50-comment page from memory).
func BenchmarkCeilingHTTP(b *testing.B) {
	srv, err := startFastServer(bytesHandler(SyntheticList("p1", 50, 64), "1"))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.stop()
	t, err := newTarget(srv.url, 64, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer t.close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(srv.url + "/v1/pictures/p1/comments")
		for pb.Next() {
			if err := t.hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("status %d, %v", resp.StatusCode(), err)
			}
		}
	})
}

// BenchmarkCeilingPebble measures one synced single-key Pebble batch, from
// GOMAXPROCS goroutines (group commit shares the fsyncs).
func BenchmarkCeilingPebble(b *testing.B) {
	db, cleanup, err := openScratch(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	value := make([]byte, 80)
	var seq atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := syncedSet(db, seq.Add(1), value); err != nil {
				b.Fatal(err)
			}
		}
	})
}
