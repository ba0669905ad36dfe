package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Options describes one load run against an HTTP target.
type Options struct {
	Name     string
	Target   string // base URL of the server, e.g. http://127.0.0.1:8080
	Secret   []byte // HS256 secret for the users' tokens; needed for writes
	Workload Workload
	Mode     Mode
	Conns    int     // workers, one keep-alive connection each
	Rate     float64 // open loop: requests per second over all workers
	Warmup   time.Duration
	Duration time.Duration
	Timeout  time.Duration // per request; 0: 15s
	Progress io.Writer     // a line every second; nil: silent
	Seed     uint64        // random seed; 0: from the clock
}

var errBadBody = errors.New("bench: unexpected response body")

// target is a server reachable over keep-alive connections.
type target struct {
	base string
	hc   *fasthttp.HostClient
}

func newTarget(rawURL string, conns int, timeout time.Duration) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bench: target %q: %w", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bench: target %q: want http(s)://host[:port]", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	return &target{
		base: u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/"),
		hc: &fasthttp.HostClient{
			Addr:                     addr,
			IsTLS:                    u.Scheme == "https",
			MaxConns:                 conns,
			ReadTimeout:              timeout,
			WriteTimeout:             timeout,
			MaxConnWaitTimeout:       timeout,
			MaxIdleConnDuration:      time.Minute,
			NoDefaultUserAgentHeader: true,
			DisablePathNormalizing:   true,
		},
	}, nil
}

func (t *target) close() { t.hc.CloseIdleConnections() }

// shared is the state every worker of one run reads.
type shared struct {
	wl      *Workload
	picker  picker
	pool    *pool
	auth    [][]byte // "Bearer <token>" per user
	ryw     *rywSampler
	creates atomic.Int64 // measured creates, for sampling
}

// httpWorker sends the operations of one worker; it owns its request,
// response, buffers and random source.
type httpWorker struct {
	t    *target
	sh   *shared
	r    *rand.Rand
	zipf *rand.Zipf
	req  *fasthttp.Request
	resp *fasthttp.Response
	uri  []byte
	body []byte
	name string
	n    int
}

func newHTTPWorker(t *target, sh *shared, seed uint64, i int) *httpWorker {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	return &httpWorker{
		t: t, sh: sh, r: r, zipf: sh.wl.newZipf(r),
		req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
		name: "w" + strconv.Itoa(i),
	}
}

func (w *httpWorker) release() {
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

func (w *httpWorker) picture() int { return int(w.zipf.Uint64()) }

// do sends one operation of the mix.
func (w *httpWorker) do(measuring bool) outcome {
	switch op := w.sh.picker.pick(w.r); op {
	case OpUpdate, OpDelete, OpGet:
		// The worker holds the comment exclusively while it works on it, so
		// that a get or update never races with a delete of the same comment.
		if k, ok := w.sh.pool.take(w.r); ok {
			var o outcome
			switch op {
			case OpUpdate:
				o = w.update(k)
			case OpDelete:
				o = w.delete(k)
			default:
				o = w.get(k)
			}
			if op != OpDelete || !o.ok() {
				w.keep(k, o)
			}
			return o
		}
	case OpList:
		return w.list(w.picture())
	}
	return w.create(w.picture(), w.r.IntN(len(w.sh.auth)), measuring)
}

// commentsURI sets w.uri to <base>/v1/pictures/<picture>/comments[/<id>].
func (w *httpWorker) commentsURI(picture int, id string) {
	w.uri = append(w.uri[:0], w.t.base...)
	w.uri = append(w.uri, "/v1/pictures/"...)
	w.uri = append(w.uri, w.sh.wl.PictureID(picture)...)
	w.uri = append(w.uri, "/comments"...)
	if id != "" {
		w.uri = append(w.uri, '/')
		w.uri = append(w.uri, id...)
	}
}

// text sets w.body to a JSON object {"text":"..."} of about TextSize bytes of text.
func (w *httpWorker) text(verb string) {
	w.n++
	w.body = append(w.body[:0], `{"text":"`...)
	start := len(w.body)
	w.body = append(w.body, verb...)
	w.body = append(w.body, ' ')
	w.body = append(w.body, w.name...)
	w.body = append(w.body, '-')
	w.body = strconv.AppendInt(w.body, int64(w.n), 10)
	w.body = append(w.body, ' ')
	for len(w.body)-start < w.sh.wl.TextSize {
		w.body = append(w.body, 'x')
	}
	w.body = append(w.body, `"}`...)
}

func (w *httpWorker) send(op Op, method string, user int) outcome {
	w.req.Reset()
	w.req.Header.SetMethod(method)
	w.req.SetRequestURIBytes(w.uri)
	if user >= 0 {
		w.req.Header.SetBytesV("Authorization", w.sh.auth[user])
	}
	if method == fasthttp.MethodPost || method == fasthttp.MethodPatch {
		w.req.Header.SetContentType("application/json")
		w.req.SetBodyRaw(w.body)
	}
	w.resp.Reset()
	if err := w.t.hc.Do(w.req, w.resp); err != nil {
		return outcome{op: op, err: err}
	}
	return outcome{op: op, status: w.resp.StatusCode()}
}

type commandAnswer struct {
	ID       string `json:"id"`
	Version  uint64 `json:"version"`
	Position uint64 `json:"position"`
}

func (w *httpWorker) create(picture, user int, measuring bool) outcome {
	w.commentsURI(picture, "")
	w.text("bench")
	o := w.send(OpCreate, fasthttp.MethodPost, user)
	if !o.ok() {
		return o
	}
	var a commandAnswer
	if err := json.Unmarshal(w.resp.Body(), &a); err != nil || a.ID == "" || a.Position == 0 {
		return outcome{op: OpCreate, err: errBadBody}
	}
	k := known{picture: picture, id: a.ID, user: user}
	if s := w.sh.ryw; s != nil && measuring && w.sh.creates.Add(1)%int64(w.sh.wl.RYWEvery) == 0 {
		if s.submit(rywJob{at: time.Now(), k: k, position: a.Position}) {
			return o // the sampler adds k to the pool once it has seen it
		}
	}
	w.sh.pool.add(k, w.r)
	return o
}

func (w *httpWorker) update(k known) outcome {
	w.commentsURI(k.picture, k.id)
	w.text("edit")
	return w.send(OpUpdate, fasthttp.MethodPatch, k.user)
}

func (w *httpWorker) delete(k known) outcome {
	w.commentsURI(k.picture, k.id)
	return w.send(OpDelete, fasthttp.MethodDelete, k.user)
}

// keep returns k to the pool unless the server said it is gone.
func (w *httpWorker) keep(k known, o outcome) {
	if o.err == nil && (o.status == fasthttp.StatusNotFound || o.status == fasthttp.StatusGone) {
		return
	}
	w.sh.pool.add(k, w.r)
}

func (w *httpWorker) list(picture int) outcome {
	w.commentsURI(picture, "")
	if l := w.sh.wl.ListLimit; l > 0 {
		w.uri = append(w.uri, "?limit="...)
		w.uri = strconv.AppendInt(w.uri, int64(l), 10)
	}
	return w.send(OpList, fasthttp.MethodGet, -1)
}

func (w *httpWorker) get(k known) outcome {
	w.commentsURI(k.picture, k.id)
	return w.send(OpGet, fasthttp.MethodGet, -1)
}

// Run performs one load run against opts.Target: it mints the users'
// tokens, preloads the workload's comments, then runs the workers for
// Warmup+Duration and returns what it measured.
func Run(ctx context.Context, opts Options) (*Result, error) {
	wl := opts.Workload
	wl.setDefaults()
	if err := wl.Mix.Validate(); err != nil {
		return nil, err
	}
	lc := loopConfig{name: opts.Name, mode: opts.Mode, rate: opts.Rate, warmup: opts.Warmup,
		duration: opts.Duration, progress: opts.Progress}
	if lc.name == "" {
		lc.name = "load"
	}
	if err := lc.validate(opts.Conns); err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rywConns := 0
	if wl.RYWEvery > 0 && wl.Mix.Create > 0 {
		rywConns = rywWorkers
	}
	t, err := newTarget(opts.Target, opts.Conns+rywConns, opts.Timeout)
	if err != nil {
		return nil, err
	}
	defer t.close()

	sh := &shared{wl: &wl, picker: newPicker(wl.Mix), pool: newPool(1 << 20)}
	// Every operation but list may create (gets and updates fall back to creates
	// while no comment is known), so only a list-only run needs no tokens.
	writes := wl.Mix.Create+wl.Mix.Update+wl.Mix.Delete+wl.Mix.Get > 0 || wl.Preload > 0
	users := 1
	if writes {
		users = wl.Users
	}
	for u := range users {
		if !writes {
			sh.auth = append(sh.auth, nil)
			break
		}
		tok, err := SignToken(opts.Secret, "u"+strconv.Itoa(u), 24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: tokens: %w", lc.name, err)
		}
		sh.auth = append(sh.auth, []byte("Bearer "+tok))
	}

	workers := make([]*httpWorker, opts.Conns)
	for i := range workers {
		workers[i] = newHTTPWorker(t, sh, seed, i)
		defer workers[i].release()
	}
	if err := preload(ctx, workers, wl.Preload); err != nil {
		return nil, fmt.Errorf("bench: %s: preload: %w", lc.name, err)
	}
	if rywConns > 0 {
		sh.ryw = startRYW(t, sh)
	}
	fns := make([]opFunc, len(workers))
	for i, w := range workers {
		fns[i] = w.do
	}
	out := runLoop(ctx, lc, fns)
	res := out.result("load", lc.name, opts.Target, lc, opts.Conns)
	res.Workload = &wl
	if sh.ryw != nil {
		res.RYW = sh.ryw.stop()
	}
	return res, ctx.Err()
}

// preload creates n comments with the workers, round robin over users and
// Zipf over pictures; it fails when any create fails.
func preload(ctx context.Context, workers []*httpWorker, n int) error {
	if n <= 0 {
		return nil
	}
	var next atomic.Int64
	errs := make(chan error, len(workers))
	for _, w := range workers {
		go func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					errs <- nil
					return
				}
				if o := w.create(w.picture(), int(i%int64(len(w.sh.auth))), false); !o.ok() {
					errs <- fmt.Errorf("create answered %s", o.errKey())
					next.Store(int64(n))
					return
				}
			}
			errs <- ctx.Err()
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// FetchList returns the body and X-Read-Position of one list query of
// pictureID (limit 0: no limit parameter), as the server answered it.
func FetchList(targetURL, pictureID string, limit int) (body []byte, readPosition string, err error) {
	t, err := newTarget(targetURL, 1, 0)
	if err != nil {
		return nil, "", err
	}
	defer t.close()
	u := t.base + "/v1/pictures/" + url.PathEscape(pictureID) + "/comments"
	if limit > 0 {
		u += "?limit=" + strconv.Itoa(limit)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(u)
	if err := t.hc.Do(req, resp); err != nil {
		return nil, "", fmt.Errorf("bench: list %s: %w", pictureID, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, "", fmt.Errorf("bench: list %s: status %d: %s", pictureID, resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...), string(resp.Header.Peek("X-Read-Position")), nil
}
