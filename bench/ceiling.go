package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/valyala/fasthttp"
)

// The names of the ceilings, as used in results and on the command line.
const (
	CeilingNameHTTP       = "http"
	CeilingNameHTTPPebble = "http+pebble"
	CeilingNamePebble     = "pebble"
)

// fastServer is an in-process fasthttp server on 127.0.0.1:0.
type fastServer struct {
	url string
	srv *fasthttp.Server
	ln  net.Listener
	err chan error
}

func startFastServer(h fasthttp.RequestHandler) (*fastServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	s := &fastServer{url: "http://" + ln.Addr().String(), ln: ln, err: make(chan error, 1),
		srv: &fasthttp.Server{Handler: h, Name: "ceiling", ReadTimeout: time.Minute}}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

func (s *fastServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.ShutdownWithContext(ctx)
	// Shutdown closes only the listeners Serve has registered already; closing
	// ln as well makes sure that Serve returns even if it had not started.
	s.ln.Close()
	<-s.err // an error about the closed listener, by design
	if err != nil {
		return fmt.Errorf("bench: stop ceiling server: %w", err)
	}
	return nil
}

// CeilingHTTP measures the HTTP stack's limit for a cached query: an
// in-process fasthttp server answers every GET with body (the very bytes of
// a list response, with its X-Read-Position), and opts' workers send list
// queries to it with the same client, concurrency and pacing as a load run.
// opts.Target, the mix and the preload are overridden.
func CeilingHTTP(ctx context.Context, opts Options, body []byte, readPosition string) (*Result, error) {
	srv, err := startFastServer(bytesHandler(body, readPosition))
	if err != nil {
		return nil, err
	}
	opts.Name = nameOr(opts.Name, "ceiling "+CeilingNameHTTP)
	opts.Target = srv.url
	opts.Workload.Mix = Mix{List: 100}
	opts.Workload.Preload, opts.Workload.RYWEvery = 0, 0
	res, err := Run(ctx, opts)
	if serr := srv.stop(); err == nil {
		err = serr
	}
	if res != nil {
		res.Kind = "ceiling"
	}
	return res, err
}

// bytesHandler answers every GET with body and X-Read-Position.
func bytesHandler(body []byte, readPosition string) fasthttp.RequestHandler {
	body = bytes.Clone(body)
	if readPosition == "" {
		readPosition = "1"
	}
	return func(c *fasthttp.RequestCtx) {
		if !c.IsGet() {
			c.Error(`{"error":{"code":"method_not_allowed","message":"method not allowed"}}`, fasthttp.StatusMethodNotAllowed)
			return
		}
		c.SetContentType("application/json")
		c.Response.Header.Set("X-Read-Position", readPosition)
		c.SetBody(body)
	}
}

// quietLogger drops Pebble's informational messages.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, "pebble: "+f+"\n", a...) }
func (quietLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf("pebble: "+f, a...)) }

// openScratch opens a fresh Pebble database in a new directory under dir
// ("" : the system's temporary directory); cleanup closes and removes it.
func openScratch(dir, name string) (*pebble.DB, func(), error) {
	d, err := os.MkdirTemp(dir, "commentbench-"+name+"-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: scratch dir: %w", err)
	}
	db, err := pebble.Open(d, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		os.RemoveAll(d)
		return nil, nil, fmt.Errorf("bench: open pebble: %w", err)
	}
	return db, func() { db.Close(); os.RemoveAll(d) }, nil
}

// syncedSet writes one key with Sync in its own batch.
func syncedSet(db *pebble.DB, seq uint64, value []byte) error {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], seq)
	b := db.NewBatch()
	defer b.Close()
	if err := b.Set(key[:], value, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// CeilingHTTPPebble measures the smallest durable HTTP write: an in-process
// fasthttp server whose create handler writes the request body to Pebble
// (in dir) with Sync and answers 201 with a small JSON body. opts' workers
// send creates only, with the same client as a load run.
func CeilingHTTPPebble(ctx context.Context, opts Options, dir string) (*Result, error) {
	db, cleanup, err := openScratch(dir, "httppebble")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var seq atomic.Uint64
	srv, err := startFastServer(func(c *fasthttp.RequestCtx) {
		c.SetContentType("application/json")
		if !c.IsPost() {
			c.Error(`{"error":{"code":"not_found","message":"not found"}}`, fasthttp.StatusNotFound)
			return
		}
		n := seq.Add(1)
		if err := syncedSet(db, n, c.PostBody()); err != nil {
			c.Error(`{"error":{"code":"internal","message":"internal"}}`, fasthttp.StatusInternalServerError)
			return
		}
		pic := c.Path()
		if i := bytes.Index(pic, []byte("/pictures/")); i >= 0 {
			pic = pic[i+len("/pictures/"):]
			if j := bytes.IndexByte(pic, '/'); j >= 0 {
				pic = pic[:j]
			}
		}
		var buf [256]byte
		b := append(buf[:0], `{"pictureId":"`...)
		b = append(b, pic...)
		b = append(b, `","id":"c`...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, `","version":1,"position":`...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, '}')
		c.Response.Header.Set("ETag", `"1"`)
		c.SetStatusCode(fasthttp.StatusCreated)
		c.SetBody(b)
	})
	if err != nil {
		return nil, err
	}
	opts.Name = nameOr(opts.Name, "ceiling "+CeilingNameHTTPPebble)
	opts.Target = srv.url
	opts.Workload.Mix = Mix{Create: 100}
	opts.Workload.Preload, opts.Workload.RYWEvery = 0, 0
	if len(opts.Secret) == 0 {
		opts.Secret = []byte("ceiling")
	}
	res, err := Run(ctx, opts)
	if serr := srv.stop(); err == nil {
		err = serr
	}
	if res != nil {
		res.Kind = "ceiling"
	}
	return res, err
}

// CeilingPebble measures raw synced Pebble batches (in dir) of valueSize
// bytes, one key per batch, from opts.Conns goroutines with opts' pacing:
// the storage limit without HTTP. The operation is named "commit".
func CeilingPebble(ctx context.Context, opts Options, dir string, valueSize int) (*Result, error) {
	name := nameOr(opts.Name, "ceiling "+CeilingNamePebble)
	lc := loopConfig{name: name, mode: opts.Mode, rate: opts.Rate, warmup: opts.Warmup,
		duration: opts.Duration, progress: opts.Progress}
	if err := lc.validate(opts.Conns); err != nil {
		return nil, err
	}
	db, cleanup, err := openScratch(dir, "pebble")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	value := bytes.Repeat([]byte{'x'}, max(valueSize, 1))
	var seq atomic.Uint64
	fns := make([]opFunc, opts.Conns)
	for i := range fns {
		fns[i] = func(bool) outcome {
			if err := syncedSet(db, seq.Add(1), value); err != nil {
				return outcome{op: OpCommit, err: err}
			}
			return outcome{op: OpCommit, status: 200}
		}
	}
	out := runLoop(ctx, lc, fns)
	return out.result("ceiling", name, "pebble (in-process, no HTTP)", lc, opts.Conns), ctx.Err()
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}
