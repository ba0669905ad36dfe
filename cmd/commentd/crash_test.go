package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ack is one acknowledged command: what the server promised is durable.
type ack struct {
	Op                string // "create" or "update"
	User, Picture, ID string
	Version, Position uint64
	Text              string
}

// ackLog collects acknowledgements from concurrent writers.
type ackLog struct {
	mu   sync.Mutex
	acks []ack
}

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
}

func (l *ackLog) all() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.acks...)
}

// writer issues creates and updates of its own comments until ctx ends or
// the server stops answering, recording every acknowledged command. Only
// comments whose creation was acknowledged are updated.
type writer struct {
	n     int
	tag   string // distinguishes runs, so texts and client ids are unique
	c     *apiClient
	acks  *ackLog
	rng   *rand.Rand
	owned []ack // acknowledged creations

	refused    int    // commands answered 503 (not ready, overloaded)
	unexpected string // the first answer that no correct server gives here
}

func (w *writer) run(ctx context.Context) {
	user := fmt.Sprintf("w%d", w.n)
	for i := 0; ctx.Err() == nil; i++ {
		text := fmt.Sprintf("%s w%d n%d", w.tag, w.n, i)
		if len(w.owned) == 0 || w.rng.IntN(10) < 3 {
			picture := fmt.Sprintf("pic%d", w.rng.IntN(4))
			body := map[string]string{"text": text}
			if w.rng.IntN(2) == 0 {
				body["id"] = fmt.Sprintf("%s-w%d-%d", w.tag, w.n, i)
			}
			r, err := w.c.call(ctx, "POST", commentsPath(picture), user, body)
			if err != nil {
				return // the server is gone
			}
			if r.Status != http.StatusCreated {
				w.backOff(ctx, r)
				continue
			}
			var res commandJSON
			if err := decodeStrict(r.Body, &res); err != nil {
				w.unexpected = err.Error()
				continue
			}
			a := ack{Op: "create", User: user, Picture: picture, ID: res.ID, Version: res.Version, Position: res.Position, Text: text}
			w.acks.add(a)
			w.owned = append(w.owned, a)
			continue
		}
		target := w.owned[w.rng.IntN(len(w.owned))]
		r, err := w.c.call(ctx, "PATCH", commentPath(target.Picture, target.ID), user, map[string]string{"text": text})
		if err != nil {
			return
		}
		if r.Status != http.StatusOK {
			w.backOff(ctx, r)
			continue
		}
		var res commandJSON
		if err := decodeStrict(r.Body, &res); err != nil {
			w.unexpected = err.Error()
			continue
		}
		w.acks.add(ack{Op: "update", User: user, Picture: target.Picture, ID: target.ID, Version: res.Version, Position: res.Position, Text: text})
	}
}

// backOff counts a refused command and waits a little if the server asked
// to retry later (not ready yet, overloaded).
func (w *writer) backOff(ctx context.Context, r response) {
	if r.Status != http.StatusServiceUnavailable {
		if w.unexpected == "" {
			w.unexpected = r.String()
		}
		return
	}
	w.refused++
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

// verifyLog checks a restarted server against the acknowledgements: every
// acknowledged command is in its comment's history with the same version,
// position and text; the feed holds positions 1..last; and the read model,
// read at minPosition=last, shows exactly the live comments of the log.
func verifyLog(t *testing.T, c *apiClient, acks []ack) (comments, listed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	feed, last, err := c.feedAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkGapFree(feed, last); err != nil {
		t.Fatal(err)
	}
	fold, err := foldFeed(feed)
	if err != nil {
		t.Fatal(err)
	}

	histories := map[string][]historyEventJSON{}
	positions := map[uint64]ack{}
	for _, a := range acks {
		if prev, dup := positions[a.Position]; dup {
			t.Fatalf("position %d acknowledged twice: %+v and %+v", a.Position, prev, a)
		}
		positions[a.Position] = a
		h, ok := histories[a.ID]
		if !ok {
			r, err := c.call(ctx, "GET", commentPath(a.Picture, a.ID)+"/history", a.User, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusOK {
				t.Fatalf("history of acknowledged %+v: %v", a, r)
			}
			var hj historyJSON
			if err := decodeStrict(r.Body, &hj); err != nil {
				t.Fatal(err)
			}
			h = hj.Events
			histories[a.ID] = h
		}
		if a.Version == 0 || a.Version > uint64(len(h)) {
			t.Fatalf("acknowledged %+v: history has %d events", a, len(h))
		}
		e := h[a.Version-1]
		wantType := map[string]string{"create": "CommentCreated", "update": "CommentTextUpdated"}[a.Op]
		if e.Version != a.Version || e.Position != a.Position || e.Type != wantType || e.Text == nil || *e.Text != a.Text {
			t.Fatalf("acknowledged %+v, history has %+v", a, e)
		}
		if e.Position > last {
			t.Fatalf("acknowledged position %d beyond the feed's last %d", e.Position, last)
		}
		if fe := feed[e.Position-1]; fe.CommentID != a.ID || fe.Version != a.Version {
			t.Fatalf("acknowledged %+v, the feed has %+v at its position", a, fe)
		}
	}

	listed, err = c.checkConverged(ctx, fold, last)
	if err != nil {
		t.Fatal(err)
	}
	// Get agrees with the list for a sample of the comments.
	n := 0
	for _, fc := range fold {
		if n++; n > 100 {
			break
		}
		r, err := c.call(ctx, "GET", fmt.Sprintf("%s?minPosition=%d", commentPath(fc.PictureID, fc.ID), last), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if fc.Deleted {
			if r.Status != http.StatusNotFound {
				t.Fatalf("deleted %s: get answered %v", fc.ID, r)
			}
			continue
		}
		var got commentJSON
		if r.Status != http.StatusOK || decodeStrict(r.Body, &got) != nil || got.Text != fc.Text || got.Version != fc.Version {
			t.Fatalf("get %s = %v, the log says %+v", fc.ID, r, *fc)
		}
	}
	return len(fold), listed
}

// checkCleanLogs fails the test if the process reported a panic or a data
// race, or logged the secret or a token (a JWT starts with eyJhbGci, the
// encoding of {"alg").
func checkCleanLogs(t *testing.T, p *process) {
	t.Helper()
	logs := p.stderr.String()
	for _, bad := range []string{"panic:", "DATA RACE", "fatal error:", testSecret, "eyJhbGci"} {
		if strings.Contains(logs, bad) {
			t.Fatalf("commentd reported %q:\n%s", bad, logs)
		}
	}
}

// crashRounds is 3 unless COMMENTD_CRASH_ROUNDS asks for more.
func crashRounds(t *testing.T) int {
	if s := os.Getenv("COMMENTD_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("COMMENTD_CRASH_ROUNDS=%q: want a positive number", s)
		}
		return n
	}
	return 3
}

// TestCrash runs 16 concurrent writers against the real binary, kills it
// with SIGKILL at random moments (some while the read model is still
// catching up or being rebuilt), restarts it on the same data directory,
// and checks that nothing acknowledged was lost, the log has no gap, and the
// read model converges to the log. COMMENTD_CRASH_ROUNDS sets the number of
// kills (3 by default).
func TestCrash(t *testing.T) {
	rounds := crashRounds(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	acks := &ackLog{}
	const writers = 16
	kills := 0
	for round := 0; round < rounds; round++ {
		// Every third round also loses the read model, so the kill may
		// land in the middle of a rebuild.
		if round%3 == 2 {
			if err := os.RemoveAll(filepath.Join(dir, "readmodel")); err != nil {
				t.Fatal(err)
			}
		}
		p := startProcess(t, dir)
		c := newAPIClient("http://"+p.addr, []byte(testSecret))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		// Every other round the writers start at once, so the kill may
		// also land while the read model is still catching up.
		if round%2 == 0 {
			if err := c.waitReady(ctx); err != nil {
				cancel()
				t.Fatalf("round %d: not ready: %v\n%s", round, err, p.stderr)
			}
		}
		before := len(acks.all())
		var wg sync.WaitGroup
		ws := make([]*writer, writers)
		for w := range ws {
			wr := &writer{n: w, tag: fmt.Sprintf("r%d", round), c: c, acks: acks, rng: rand.New(rand.NewPCG(seed, uint64(round*writers+w+2)))}
			ws[w] = wr
			wg.Add(1)
			go func() {
				defer wg.Done()
				wr.run(ctx)
			}()
		}
		time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		kills++
		wg.Wait() // writers stop at their first transport error
		cancel()
		c.hc.CloseIdleConnections()
		checkCleanLogs(t, p)
		refused := 0
		for _, wr := range ws {
			if wr.unexpected != "" {
				t.Fatalf("round %d: writer %d got %s", round, wr.n, wr.unexpected)
			}
			refused += wr.refused
		}
		t.Logf("round %d: killed after %d acknowledged commands (%d answered 503)", round, len(acks.all())-before, refused)
	}

	p := startProcess(t, dir)
	c := newAPIClient("http://"+p.addr, []byte(testSecret))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("not ready after the last kill: %v\n%s", err, p.stderr)
	}
	all := acks.all()
	if len(all) == 0 {
		t.Fatal("no command was acknowledged")
	}
	comments, listed := verifyLog(t, c, all)
	t.Logf("%d kills survived; %d acknowledged commands checked against history and feed; %d comments in the log, %d live ones listed",
		kills, len(all), comments, listed)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
	}
	checkCleanLogs(t, p)
}

// TestSIGTERM checks that SIGTERM during writes exits 0 after a graceful
// shutdown and that every acknowledged write is there after a restart.
func TestSIGTERM(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	c := newAPIClient("http://"+p.addr, []byte(testSecret))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("not ready: %v\n%s", err, p.stderr)
	}
	acks := &ackLog{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wr := &writer{n: w, tag: "term", c: c, acks: acks, rng: rand.New(rand.NewPCG(uint64(w), 7))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr.run(ctx)
		}()
	}
	for len(acks.all()) < 40 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, p.stderr)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	wg.Wait()
	checkCleanLogs(t, p)
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop logged:\n%s", p.stderr)
	}

	p = startProcess(t, dir)
	c = newAPIClient("http://"+p.addr, []byte(testSecret))
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("not ready after restart: %v\n%s", err, p.stderr)
	}
	all := acks.all()
	comments, _ := verifyLog(t, c, all)
	t.Logf("%d acknowledged writes on %d comments present after SIGTERM and restart", len(all), comments)
}

// TestServeUsageExit checks the binary's exit status for a usage mistake.
func TestServeUsageExit(t *testing.T) {
	cmd := binaryCommand(t, "serve", "--no-such-flag")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2: %s", err, out)
	}
	cmd = binaryCommand(t, "token", "--user", "bad user", "--auth-secret", "s")
	out, err = cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "--user") {
		t.Fatalf("exit %v, want 2 with a message: %s", err, out)
	}
}
