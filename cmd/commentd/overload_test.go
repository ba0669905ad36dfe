package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/httpapi"
)

// Bounds of the overload and slow-client tests. They are generous on
// purpose: they catch hangs and unbounded growth, not slowness.
const (
	// answerBound is how long /healthz and a cached query may take to
	// answer while the server is flooded or held by slow clients.
	answerBound = 5 * time.Second
	// rssBound is the largest resident set the flooded process may reach
	// (the race detector's shadow memory included).
	rssBound = 1 << 30
	// cutSlack is how long after its read timeout a slow connection may
	// still be open.
	cutSlack = 5 * time.Second
)

// readRSS answers the resident set size of process pid in bytes, from
// /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS line %q: %v", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// floodAck is one create the flooded server acknowledged.
type floodAck struct {
	Picture, ID, Text string
	Position          uint64
}

// floodResults collects the flood client's outcomes.
type floodResults struct {
	mu         sync.Mutex
	acks       []floodAck
	refused    map[string]string // text -> message of a 503 overloaded answer
	overloaded int
	timeouts   int      // requests the client gave up on (its own timeout)
	bad        []string // answers no correct server gives; the first few
	badCount   int
}

func (r *floodResults) badf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.badCount++
	if len(r.bad) < 10 {
		r.bad = append(r.bad, fmt.Sprintf(format, args...))
	}
}

// probeStats is what the /healthz and cached-query probes saw.
type probeStats struct {
	n       int
	max     time.Duration
	total   time.Duration
	failure string // the first failed probe
}

func (p *probeStats) record(d time.Duration, failure string) {
	p.n++
	p.total += d
	p.max = max(p.max, d)
	if failure != "" && p.failure == "" {
		p.failure = failure
	}
}

func (p *probeStats) String() string {
	if p.n == 0 {
		return "no probes"
	}
	return fmt.Sprintf("%d probes, mean %v, max %v", p.n, (p.total / time.Duration(p.n)).Round(time.Microsecond), p.max.Round(time.Microsecond))
}

// probe GETs path once and answers its latency and, if it did not answer
// 200 in time, why.
func probe(hc *http.Client, url string) (time.Duration, string) {
	start := time.Now()
	resp, err := hc.Get(url)
	d := time.Since(start)
	if err != nil {
		return d, fmt.Sprintf("GET %s after %v: %v", url, d, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d = time.Since(start)
	if err != nil {
		return d, fmt.Sprintf("GET %s after %v: reading the body: %v", url, d, err)
	}
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Sprintf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return d, ""
}

// TestFloodOverload floods the real binary, started with --max-in-flight
// 64, with an open-loop client far past its capacity, and checks that every
// refused command is a 503 overloaded with Retry-After (no 500, no reset),
// that /healthz and a cached query keep answering, that the resident set
// stays bounded, and that every acknowledged create is there afterwards.
// COMMENTD_FLOOD_SECONDS makes the flood longer than its 3 s.
func TestFloodOverload(t *testing.T) {
	t.Parallel() // with TestSlowClientsBinary, which mostly waits
	const (
		maxInFlight = 64
		rate        = 20000 // offered creates per second
		outstanding = 1024  // bound on the client's requests in flight
		conns       = 256   // keep-alive connections of the flood client
		pictures    = 8
		user        = "flooder"
	)
	duration := floodDuration(t)
	dir := t.TempDir()
	p := startProcess(t, dir, fmt.Sprintf("COMMENTS_MAX_IN_FLIGHT=%d", maxInFlight))
	pid := p.cmd.Process.Pid
	base := "http://" + p.addr
	c := newAPIClient(base, []byte(testSecret))
	defer c.hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("not ready: %v\n%s", err, p.stderr)
	}

	// A picture whose list is cached before the flood: the flood writes to
	// other pictures, so the probes below read a cache entry.
	var warmPos uint64
	for i := 0; i < 3; i++ {
		warmPos = create(t, c, "warmer", "warm", "", fmt.Sprintf("warm %d", i)).Position
	}
	if _, err := c.listAll(ctx, "warm", warmPos, 50); err != nil {
		t.Fatal(err)
	}
	rss0, err := readRSS(pid)
	if err != nil {
		t.Fatal(err)
	}

	// The flood client: its own keep-alive connections.
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	auth := "Bearer " + c.token(user)
	res := &floodResults{refused: map[string]string{}}
	send := func(n int) {
		picture := fmt.Sprintf("flood%d", n%pictures)
		text := fmt.Sprintf("flood %d", n)
		req, err := http.NewRequest("POST", base+commentsPath(picture), strings.NewReader(`{"text":"`+text+`"}`))
		if err != nil {
			res.badf("request: %v", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		resp, err := hc.Do(req)
		if err != nil {
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				res.mu.Lock()
				res.timeouts++
				res.mu.Unlock()
				return
			}
			res.badf("create %d: transport error %v", n, err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			res.badf("create %d: reading the body of %d: %v", n, resp.StatusCode, err)
			return
		}
		r := response{Status: resp.StatusCode, Header: resp.Header, Body: body}
		switch r.Status {
		case http.StatusCreated:
			var cr commandJSON
			if err := decodeStrict(body, &cr); err != nil || cr.ID == "" || cr.Position == 0 || cr.Version != 1 || cr.PictureID != picture {
				res.badf("create %d answered %v (%v)", n, r, err)
				return
			}
			res.mu.Lock()
			res.acks = append(res.acks, floodAck{Picture: picture, ID: cr.ID, Text: text, Position: cr.Position})
			res.mu.Unlock()
		case http.StatusServiceUnavailable:
			var e errorJSON
			if err := decodeStrict(body, &e); err != nil || e.Error.Code != "overloaded" || e.Error.Message == "" {
				res.badf("create %d answered %v, want code overloaded (%v)", n, r, err)
				return
			}
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				res.badf("create %d answered 503 with Retry-After %q", n, r.Header.Get("Retry-After"))
				return
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				res.badf("create %d answered 503 with Content-Type %q", n, ct)
				return
			}
			res.mu.Lock()
			res.overloaded++
			res.refused[text] = e.Error.Message
			res.mu.Unlock()
		default:
			res.badf("create %d answered %v", n, r)
		}
	}

	// Probes and RSS samples while the flood runs, until stop.
	stop := make(chan struct{})
	var probesDone sync.WaitGroup
	var health, cached probeStats
	var maxRSS atomic.Int64
	maxRSS.Store(rss0)
	var rssErr atomic.Value
	var rssTrend []string // one sample per second, read after probesDone
	probesDone.Add(2)
	go func() {
		defer probesDone.Done()
		ptr := &http.Transport{MaxIdleConnsPerHost: 2, MaxConnsPerHost: 2}
		defer ptr.CloseIdleConnections()
		phc := &http.Client{Transport: ptr, Timeout: answerBound}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			health.record(probe(phc, base+"/healthz"))
			cached.record(probe(phc, base+commentsPath("warm")))
		}
	}()
	go func() {
		defer probesDone.Done()
		for i := 0; ; i++ {
			rss, err := readRSS(pid)
			if err != nil {
				rssErr.Store(err.Error())
				return
			}
			if rss > maxRSS.Load() {
				maxRSS.Store(rss)
			}
			if i%20 == 0 {
				rssTrend = append(rssTrend, fmt.Sprintf("%.0f", float64(rss)/(1<<20)))
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// The open-loop client: requests are started on schedule whatever
	// happens to the earlier ones, as long as fewer than outstanding are
	// unanswered; those it cannot start are counted, not queued.
	var (
		wg      sync.WaitGroup
		sent    int
		skipped int
	)
	sem := make(chan struct{}, outstanding)
	start := time.Now()
	for total := int(rate * duration.Seconds()); sent+skipped < total; {
		due := min(int(time.Since(start).Seconds()*rate), total)
		for sent+skipped < due {
			n := sent + skipped
			select {
			case sem <- struct{}{}:
			default:
				skipped++
				continue
			}
			sent++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				send(n)
			}()
		}
		time.Sleep(5 * time.Millisecond)
	}
	offeredFor := time.Since(start)
	wg.Wait()
	drained := time.Since(start)
	close(stop)
	probesDone.Wait()
	if e, ok := rssErr.Load().(string); ok {
		t.Fatalf("reading RSS during the flood: %s", e)
	}

	t.Logf("flood: %d creates offered in %v (%d/s target, %d not started: client at its %d outstanding), all answered after %v",
		sent+skipped, offeredFor.Round(time.Millisecond), rate, skipped, outstanding, drained.Round(time.Millisecond))
	t.Logf("flood: %d sent, %d acknowledged (201), %d overloaded (503), %d client timeouts, %d other",
		sent, len(res.acks), res.overloaded, res.timeouts, res.badCount)
	t.Logf("during the flood: /healthz %v; cached list %v", &health, &cached)
	t.Logf("RSS: %.1f MiB before the flood, %.1f MiB max during it; MiB each second: %s",
		float64(rss0)/(1<<20), float64(maxRSS.Load())/(1<<20), strings.Join(rssTrend, " "))

	if res.badCount > 0 {
		t.Errorf("%d answers to commands were neither 201 nor 503 overloaded with Retry-After; first ones:\n%s",
			res.badCount, strings.Join(res.bad, "\n"))
	}
	if health.failure != "" || cached.failure != "" {
		t.Errorf("probes failed during the flood (bound %v): healthz: %q; cached list: %q", answerBound, health.failure, cached.failure)
	}
	if health.n == 0 || cached.n == 0 {
		t.Errorf("no probe ran during the flood")
	}
	if res.overloaded == 0 {
		t.Errorf("the flood never exceeded --max-in-flight %d: no command was refused", maxInFlight)
	}
	if len(res.acks) == 0 {
		t.Fatal("no create was acknowledged during the flood")
	}
	if res.timeouts > 0 {
		t.Logf("note: %d creates timed out at the client (%v); their outcome is unknown", res.timeouts, hc.Timeout)
	}

	// Every acknowledged create is there, with its text; no create refused
	// before it was queued is. A command refused because it timed out inside
	// the server may or may not have been applied.
	var maxPos uint64
	byPicture := map[string][]floodAck{}
	for _, a := range res.acks {
		maxPos = max(maxPos, a.Position)
		byPicture[a.Picture] = append(byPicture[a.Picture], a)
	}
	vctx, vcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer vcancel()
	listed, refusedPresent, timedOutPresent, unknownPresent := 0, 0, 0, 0
	for i := 0; i < pictures; i++ {
		picture := fmt.Sprintf("flood%d", i)
		got, err := c.listAll(vctx, picture, maxPos, 500)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(got)
		byID := make(map[string]commentJSON, len(got))
		for _, g := range got {
			byID[g.ID] = g
			if msg, ok := res.refused[g.Text]; ok {
				if strings.Contains(msg, "timed out") {
					timedOutPresent++
				} else {
					refusedPresent++
					if refusedPresent <= 5 {
						t.Errorf("refused with 503 %q, yet present: %+v", msg, g)
					}
				}
			}
		}
		for _, a := range byPicture[picture] {
			g, ok := byID[a.ID]
			if !ok {
				t.Fatalf("acknowledged create %+v is missing from the list at minPosition %d (%d listed)", a, maxPos, len(got))
			}
			if g.Text != a.Text || g.Author != user || g.Version != 1 || g.PictureID != picture {
				t.Fatalf("acknowledged create %+v is listed as %+v", a, g)
			}
		}
		unknownPresent += len(got) - len(byPicture[picture])
	}
	unknownPresent -= timedOutPresent + refusedPresent
	t.Logf("after the flood: %d acknowledged creates all listed at minPosition %d; %d comments listed (%d answered 503 'timed out', %d whose answer the client never got)",
		len(res.acks), maxPos, listed, timedOutPresent, unknownPresent)
	if refusedPresent > 0 {
		t.Errorf("%d creates answered 503 overloaded before being queued were applied anyway", refusedPresent)
	}

	rss1, err := readRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the flood, /metrics: %s", scrapeMetrics(t, c, "commentd_actors_live", "go_goroutines",
		"go_memstats_heap_inuse_bytes", "commentd_cache_bytes", "process_resident_memory_bytes"))
	maxRSS.Store(max(maxRSS.Load(), rss1))
	t.Logf("figures: sent %d, acknowledged %d, overloaded %d, max RSS %.1f MiB (%.1f MiB after verification)",
		sent, len(res.acks), res.overloaded, float64(maxRSS.Load())/(1<<20), float64(rss1)/(1<<20))
	if maxRSS.Load() > rssBound {
		t.Errorf("RSS reached %d bytes, bound %d", maxRSS.Load(), rssBound)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
	}
	checkCleanLogs(t, p)
	if logs := p.stderr.String(); strings.Contains(logs, `"msg":"request failed"`) {
		t.Fatalf("the server logged failed requests (500s) during the flood:\n%s", firstLines(logs, "request failed", 5))
	}
}

// floodDuration is 3 s unless COMMENTD_FLOOD_SECONDS asks for longer (to
// watch the resident set level off).
func floodDuration(t *testing.T) time.Duration {
	if s := os.Getenv("COMMENTD_FLOOD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("COMMENTD_FLOOD_SECONDS=%q: want a positive number", s)
		}
		return time.Duration(n) * time.Second
	}
	return 3 * time.Second
}

// scrapeMetrics answers the samples of the named metrics on /metrics, for
// the log.
func scrapeMetrics(t *testing.T, c *apiClient, names ...string) string {
	t.Helper()
	r := c.do(t, "GET", "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %v", r)
	}
	var out []string
	for _, line := range strings.Split(string(r.Body), "\n") {
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, n); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "; ")
}

// firstLines answers up to n lines of logs that contain substr.
func firstLines(logs, substr string, n int) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// cut is how a server ended a connection a test held open.
type cut struct {
	after  time.Duration // from dialling to the end of the connection
	answer string        // what the server wrote before closing, if anything
	byUs   bool          // the test's own deadline ended it: the server did not
	err    error         // the read error that ended it
}

func (c cut) String() string {
	status, _, _ := strings.Cut(c.answer, "\r\n")
	if status == "" {
		status = "no answer"
	}
	who := "server closed"
	if c.byUs {
		who = "still open at the test's deadline"
	}
	return fmt.Sprintf("%s after %v (%s; %v)", who, c.after.Round(time.Millisecond), status, c.err)
}

// trickle dials addr, writes head at once, then one byte of drip every
// interval (forever if drip is empty: a repeated 'a'), until the server
// ends the connection or limit passes; it answers how the connection ended.
func trickle(addr, head, drip string, interval, limit time.Duration) cut {
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return cut{err: err}
	}
	defer conn.Close()
	conn.SetReadDeadline(start.Add(limit))
	ended := make(chan cut, 1)
	go func() {
		b, err := io.ReadAll(conn)
		var ne net.Error
		ended <- cut{after: time.Since(start), answer: string(b), err: err, byUs: errors.As(err, &ne) && ne.Timeout()}
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		return <-ended
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case c := <-ended:
			return c
		case <-tick.C:
		}
		b := byte('a')
		if drip != "" {
			b = drip[i%len(drip)]
		}
		// A failed write means the server is gone; the reader reports it.
		conn.SetWriteDeadline(time.Now().Add(interval))
		conn.Write([]byte{b})
	}
}

// slowHeaders is a request whose headers never end when trickled.
const slowHeaders = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

// slowBodyHead is a create whose declared body is far longer than what a
// trickle sends before any read timeout.
func slowBodyHead(picture, token string) string {
	return "POST " + commentsPath(picture) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"text\":\""
}

// checkCut fails the test unless the server ended the connection within
// readTimeout+cutSlack without acknowledging anything.
func checkCut(t *testing.T, what string, c cut, readTimeout time.Duration) {
	t.Helper()
	t.Logf("%s: %v", what, c)
	if c.byUs || c.after > readTimeout+cutSlack {
		t.Errorf("%s: not cut by the server's read timeout (%v): %v", what, readTimeout, c)
	}
	if strings.HasPrefix(c.answer, "HTTP/1.1 2") {
		t.Errorf("%s: answered %q", what, c.answer)
	}
}

// keepServing probes /healthz at base every 200 ms until stop, and answers
// what it saw.
func keepServing(base string, stop <-chan struct{}) *probeStats {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: answerBound}
	var st probeStats
	for {
		st.record(probe(hc, base+"/healthz"))
		select {
		case <-stop:
			return &st
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tunedServer serves the API of s on a second listener with cfg's HTTP
// limits changed by tune: cmd/commentd has no flags for them, so the tests
// of short timeouts and of the connection limit build the HTTP server from
// the same wiring (Main.httpConfig) with other limits. It answers the
// address; the server is shut down at the end of the test.
func tunedServer(t *testing.T, s *testServer, tune func(*httpapi.Config)) string {
	t.Helper()
	cfg := s.m.httpConfig([]byte(testSecret))
	reg := prometheus.NewRegistry()
	cfg.Registerer, cfg.Gatherer = reg, reg
	tune(&cfg)
	srv, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown of the tuned server: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return ln.Addr().String()
}

// TestSlowClients holds connections open with slow clients against a server
// with a 1 s read timeout and a 1 s write timeout: headers one byte per
// 200 ms, a body one byte per 200 ms, and a client that never reads its
// answers. Each is cut by the server while a normal client keeps being
// served, and the slow body creates nothing.
func TestSlowClients(t *testing.T) {
	const timeout = time.Second
	s := startServer(t, t.TempDir())
	addr := tunedServer(t, s, func(c *httpapi.Config) {
		c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = timeout, timeout, timeout
	})
	base := "http://" + addr

	// A picture with a large list, for the client that does not read.
	long := strings.Repeat("x", 1900)
	var pos uint64
	for i := 0; i < 40; i++ {
		pos = create(t, s.apiClient, "bigwriter", "big", "", fmt.Sprintf("%d %s", i, long)).Position
	}
	if _, err := s.listAll(context.Background(), "big", pos, 50); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	served := make(chan *probeStats, 1)
	go func() { served <- keepServing(base, stop) }()

	var wg sync.WaitGroup
	var headers, body cut
	var reader readerCut
	wg.Add(3)
	go func() {
		defer wg.Done()
		headers = trickle(addr, slowHeaders, "", 200*time.Millisecond, timeout+cutSlack+time.Second)
	}()
	go func() {
		defer wg.Done()
		body = trickle(addr, slowBodyHead("slowbody", s.token("slowpoke")), "", 200*time.Millisecond, timeout+cutSlack+time.Second)
	}()
	go func() {
		defer wg.Done()
		reader = notReading(addr, commentsPath("big")+"?limit=500", 2000, 2*timeout, timeout+cutSlack+time.Second)
	}()
	wg.Wait()
	close(stop)
	st := <-served

	checkCut(t, "slowloris headers (1 byte / 200 ms)", headers, timeout)
	checkCut(t, "slow body (1 byte / 200 ms)", body, timeout)
	t.Logf("client not reading: %v", reader)
	if !reader.cut {
		t.Errorf("a client that never reads was not cut by the write timeout (%v): %v", timeout, reader)
	}
	t.Logf("normal client during the slow ones: %v", st)
	if st.failure != "" {
		t.Errorf("normal client not served: %s", st.failure)
	}
	checkNothingCreated(t, s.apiClient, "slowbody")
}

// checkNothingCreated fails the test if picture has a comment once the read
// model reflects the whole log.
func checkNothingCreated(t *testing.T, c *apiClient, picture string) {
	t.Helper()
	f, last, err := c.feedAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f {
		if e.PictureID == picture {
			t.Errorf("a cut request created %+v", e)
		}
	}
	got, err := c.listAll(context.Background(), picture, last, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("a cut request created %+v", got)
	}
}

// readerCut is what happened to a client that sends requests and never
// reads the answers.
type readerCut struct {
	sent, answered int // requests written, complete answers read afterwards
	cut            bool
	err            error
}

func (r readerCut) String() string {
	return fmt.Sprintf("%d requests written, %d answers readable afterwards, cut %v (%v)", r.sent, r.answered, r.cut, r.err)
}

// notReading pipelines up to n GETs of path on one connection, does not
// read for pause (the answers fill the socket buffers and the server's
// writes block), then reads what it can: the server must have closed the
// connection before answering them all. It gives up after limit.
func notReading(addr, path string, n int, pause, limit time.Duration) readerCut {
	var r readerCut
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		r.err = err
		return r
	}
	defer conn.Close()
	deadline := time.Now().Add(limit)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	for ; r.sent < n; r.sent++ {
		// A write blocked this long means the server stopped reading.
		conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := conn.Write(req); err != nil {
			break
		}
	}
	time.Sleep(pause)
	conn.SetReadDeadline(deadline)
	br := bufio.NewReader(conn)
	for r.answered < r.sent {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			r.err = err
			break
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			r.err = err
			break
		}
		r.answered++
	}
	var ne net.Error
	r.cut = r.answered < r.sent && r.err != nil && !(errors.As(r.err, &ne) && ne.Timeout())
	return r
}

// TestIdleConnections fills a server's connection limit (8) with idle
// connections: one more is answered 503 overloaded with Retry-After, the
// idle ones are cut by the read and idle timeouts (1 s), and the server
// then serves again.
func TestIdleConnections(t *testing.T) {
	const (
		limit   = 8
		timeout = time.Second
	)
	s := startServer(t, t.TempDir())
	addr := tunedServer(t, s, func(c *httpapi.Config) {
		c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = timeout, timeout, timeout
		c.MaxConns = limit
	})

	// Half never send a byte; the other half send one request and idle on
	// the kept-alive connection.
	idle := make([]net.Conn, limit)
	for i := range idle {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		idle[i] = conn
		if i%2 == 1 {
			if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz on idle connection %d: %d", i, resp.StatusCode)
			}
		}
	}
	start := time.Now()

	// One more connection is over the limit.
	over, err := rawGet(addr, "/healthz")
	if err != nil {
		t.Fatalf("connection over the limit: %v", err)
	}
	t.Logf("connection %d of %d: %d %s", limit+1, limit, over.Status, over.Body)
	expectError(t, over, http.StatusServiceUnavailable, "overloaded")
	if over.Header.Get("Retry-After") == "" {
		t.Fatal("503 over the connection limit without Retry-After")
	}

	// The idle ones are cut.
	var wg sync.WaitGroup
	cuts := make([]time.Duration, limit)
	for i, conn := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn.SetReadDeadline(start.Add(timeout + cutSlack))
			_, err := io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("idle connection %d not cut within %v", i, timeout+cutSlack)
				return
			}
			cuts[i] = time.Since(start)
		}()
	}
	wg.Wait()
	t.Logf("idle connections cut after %v", cuts)

	// And the server serves again. The connection count drops as the
	// server closes them; give it a moment.
	var r response
	for i := 0; i < 50; i++ {
		if r, err = rawGet(addr, "/healthz"); err == nil && r.Status == http.StatusOK {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("after the idle connections were cut: %v %v", r, err)
	}
}

// rawGet GETs path on a new connection and answers the response.
func rawGet(addr, path string) (response, error) {
	conn, err := net.DialTimeout("tcp", addr, answerBound)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(answerBound))
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		return response{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// TestSlowClientsBinary holds connections open against the real binary
// with its built-in limits (a 10 s read timeout): a connection that never
// sends, headers one byte per 200 ms and a body one byte per 200 ms are all
// cut, while a normal client keeps being served.
func TestSlowClientsBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the binary's 10 s read timeout")
	}
	t.Parallel()                         // with TestFloodOverload: the slow clients mostly wait
	const readTimeout = 10 * time.Second // httpapi's default; cmd/commentd has no flag for it
	p := startProcess(t, t.TempDir())
	base := "http://" + p.addr
	c := newAPIClient(base, []byte(testSecret))
	defer c.hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("not ready: %v\n%s", err, p.stderr)
	}

	stop := make(chan struct{})
	served := make(chan *probeStats, 1)
	go func() { served <- keepServing(base, stop) }()

	const idleConns = 32
	limit := readTimeout + cutSlack + time.Second
	var wg sync.WaitGroup
	var headers, body cut
	idle := make([]cut, idleConns)
	wg.Add(2 + idleConns)
	go func() {
		defer wg.Done()
		headers = trickle(p.addr, slowHeaders, "", 200*time.Millisecond, limit)
	}()
	go func() {
		defer wg.Done()
		body = trickle(p.addr, slowBodyHead("slowbody", c.token("slowpoke")), "", 200*time.Millisecond, limit)
	}()
	for i := range idle {
		go func() {
			defer wg.Done()
			// An empty head and a drip interval past the limit: nothing is sent.
			idle[i] = trickle(p.addr, "", "", time.Hour, limit)
		}()
	}
	wg.Wait()
	close(stop)
	st := <-served

	checkCut(t, "slowloris headers (1 byte / 200 ms)", headers, readTimeout)
	checkCut(t, "slow body (1 byte / 200 ms)", body, readTimeout)
	slowest := time.Duration(0)
	for i, ic := range idle {
		if ic.byUs || ic.after > readTimeout+cutSlack || strings.HasPrefix(ic.answer, "HTTP/1.1 2") {
			t.Errorf("idle connection %d: %v", i, ic)
		}
		slowest = max(slowest, ic.after)
	}
	t.Logf("%d connections that never sent a byte: the last cut after %v", idleConns, slowest.Round(time.Millisecond))
	t.Logf("normal client during the slow ones: %v", st)
	if st.failure != "" {
		t.Errorf("normal client not served: %s", st.failure)
	}
	checkNothingCreated(t, c, "slowbody")

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
	}
	checkCleanLogs(t, p)
}
