package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/readmodel"
	"github.com/commentd/commentd/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter log throttle sleeps in a goroutine of its
		// own for one throttle interval (1 s) after a dead letter; nothing
		// can stop it. Its name depends on inlining.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
	)
}

// testLogger shows warnings and errors of the System (and of protoactor)
// on stderr.
var testLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// env is a System over a real store and read model in one directory.
type env struct {
	t   testing.TB
	dir string
	st  *store.Store
	rm  *readmodel.Model
	sys *System
	reg *prometheus.Registry
}

// openEnv opens <dir>/events and <dir>/<rmDir> and starts a System on them.
func openEnv(t testing.TB, dir, rmDir string, cfg Config, h hooks) *env {
	t.Helper()
	e := &env{t: t, dir: dir, reg: prometheus.NewRegistry()}
	var err error
	if e.st, err = store.Open(filepath.Join(dir, "events"), store.Options{}); err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	if e.rm, err = readmodel.Open(filepath.Join(dir, rmDir), readmodel.Options{}); err != nil {
		e.st.Close()
		t.Fatalf("readmodel.Open: %v", err)
	}
	cfg.Store, cfg.ReadModel, cfg.Registerer = e.st, e.rm, e.reg
	if cfg.Logger == nil {
		cfg.Logger = testLogger
	}
	if e.sys, err = start(cfg, h); err != nil {
		e.rm.Close()
		e.st.Close()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(e.close)
	return e
}

// close closes the System, then the stores; it may be called more than once.
func (e *env) close() {
	e.t.Helper()
	if e.sys == nil {
		return
	}
	if err := e.sys.Close(); err != nil {
		e.t.Errorf("System.Close: %v", err)
	}
	if err := e.rm.Close(); err != nil {
		e.t.Errorf("readmodel Close: %v", err)
	}
	if err := e.st.Close(); err != nil {
		e.t.Errorf("store Close: %v", err)
	}
	e.sys = nil
}

// waitCaughtUp waits for CaughtUp and then for the read model to reflect
// the whole log.
func (e *env) waitCaughtUp() {
	e.t.Helper()
	select {
	case <-e.sys.CaughtUp():
	case <-time.After(10 * time.Second):
		e.t.Fatal("CaughtUp not closed within 10s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.rm.WaitForPosition(ctx, e.st.LastPosition()); err != nil {
		e.t.Fatalf("read model did not reach position %d: %v", e.st.LastPosition(), err)
	}
}

func (e *env) send(cmd comment.Command) (comment.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.sys.Send(ctx, cmd)
}

func (e *env) mustSend(cmd comment.Command) comment.Result {
	e.t.Helper()
	res, err := e.send(cmd)
	if err != nil {
		e.t.Fatalf("Send(%+v): %v", cmd, err)
	}
	return res
}

func wantCode(t *testing.T, err error, want comment.Code) {
	t.Helper()
	if got := comment.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

// dump is the read model's whole visible content for the given pictures and
// comment ids: every list page concatenated, and every Get.
func dump(t *testing.T, rm *readmodel.Model, pictures []string, ids []string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range pictures {
		cursor := ""
		for {
			page, _, err := rm.List(p, 2, cursor)
			if err != nil {
				t.Fatalf("List(%s): %v", p, err)
			}
			for _, c := range page.Comments {
				fmt.Fprintf(&b, "list %s: %+v\n", p, c)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
	}
	for _, p := range pictures {
		for _, id := range ids {
			c, _, err := rm.Get(p, id)
			if err != nil {
				fmt.Fprintf(&b, "get %s/%s: %s\n", p, id, comment.ErrorCode(err))
				continue
			}
			fmt.Fprintf(&b, "get %s/%s: %+v\n", p, id, c)
		}
	}
	return b.String()
}

func TestSendLifecycle(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	e.waitCaughtUp()

	created := e.mustSend(comment.Create{PictureID: "p1", ID: "c1", Text: " hello ", User: "alice"})
	if want := (comment.Result{PictureID: "p1", ID: "c1", Version: 1, Position: 1, Created: true}); created != want {
		t.Fatalf("create = %+v, want %+v", created, want)
	}
	retry := e.mustSend(comment.Create{PictureID: "p1", ID: "c1", Text: "hello", User: "alice"})
	if want := (comment.Result{PictureID: "p1", ID: "c1", Version: 1, Position: 1}); retry != want {
		t.Fatalf("create retry = %+v, want %+v", retry, want)
	}
	_, err := e.send(comment.Create{PictureID: "p1", ID: "c1", Text: "other", User: "alice"})
	wantCode(t, err, comment.CodeConflict)
	_, err = e.send(comment.UpdateText{PictureID: "p1", ID: "c1", Text: "x", User: "bob"})
	wantCode(t, err, comment.CodeForbidden)
	_, err = e.send(comment.UpdateText{PictureID: "p1", ID: "c1", Text: "x", User: "alice", ExpectedVersion: 7})
	wantCode(t, err, comment.CodePreconditionFailed)
	_, err = e.send(comment.UpdateText{PictureID: "p1", ID: "bad/id", Text: "x", User: "alice"})
	wantCode(t, err, comment.CodeInvalidArgument)

	upd := e.mustSend(comment.UpdateText{PictureID: "p1", ID: "c1", Text: "nicer", User: "alice", ExpectedVersion: 1})
	if upd.Version != 2 || upd.Position != 2 || upd.Created {
		t.Fatalf("update = %+v, want version 2 position 2", upd)
	}
	same := e.mustSend(comment.UpdateText{PictureID: "p1", ID: "c1", Text: "nicer", User: "alice"})
	if same.Version != 2 || same.Position != 2 {
		t.Fatalf("same-text update = %+v, want version 2 position 2", same)
	}
	del := e.mustSend(comment.Delete{PictureID: "p1", ID: "c1", User: "alice"})
	if del.Version != 3 || del.Position != 3 {
		t.Fatalf("delete = %+v, want version 3 position 3", del)
	}
	_, err = e.send(comment.Delete{PictureID: "p1", ID: "c1", User: "alice"})
	wantCode(t, err, comment.CodeGone)

	hist, err := e.sys.History(context.Background(), "c1")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var types []comment.EventType
	for i, ev := range hist {
		types = append(types, ev.Type)
		if ev.Version != uint64(i+1) || ev.Position != uint64(i+1) || ev.CommentID != "c1" || ev.PictureID != "p1" || ev.At.IsZero() || ev.At.Location() != time.UTC {
			t.Errorf("history[%d] = %+v", i, ev)
		}
	}
	if want := []comment.EventType{comment.TypeCreated, comment.TypeTextUpdated, comment.TypeDeleted}; !slices.Equal(types, want) {
		t.Fatalf("history types = %v, want %v", types, want)
	}
	if _, err := e.sys.History(context.Background(), "nope"); comment.ErrorCode(err) != comment.CodeNotFound {
		t.Fatalf("History(unknown) error = %v, want not_found", err)
	}

	// Server ids: valid, unique and sorted in creation order.
	var ids []string
	for range 20 {
		r := e.mustSend(comment.Create{PictureID: "p2", Text: "auto", User: "bob"})
		if err := comment.ValidateID(r.ID); err != nil || !r.Created {
			t.Fatalf("server id %q: %v (created %v)", r.ID, err, r.Created)
		}
		ids = append(ids, r.ID)
	}
	if !sort.StringsAreSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("server ids not strictly increasing: %v", ids)
	}

	e.waitCaughtUp()
	if _, _, err := e.rm.Get("p1", "c1"); comment.ErrorCode(err) != comment.CodeNotFound {
		t.Fatalf("deleted comment still readable: %v", err)
	}
	page, _, err := e.rm.List("p2", 500, "")
	if err != nil || len(page.Comments) != 20 {
		t.Fatalf("List(p2) = %d comments, %v; want 20", len(page.Comments), err)
	}
	for i, c := range page.Comments {
		if c.ID != ids[i] {
			t.Fatalf("List(p2)[%d] = %s, want %s", i, c.ID, ids[i])
		}
	}
	if got := testutil.ToFloat64(e.sys.metrics.commands[0][outcomeOK]); got != 22 {
		t.Errorf("commentd_commands_total{create,ok} = %v, want 22", got)
	}
	if n, err := testutil.GatherAndCount(e.reg, "commentd_projection_position", "commentd_projection_lag_events",
		"commentd_projection_lag_seconds", "commentd_actors_live", "commentd_commands_in_flight"); err != nil || n != 5 {
		t.Errorf("gathered %d gauges (%v), want 5", n, err)
	}
	if pos, last := e.rm.Position(), e.st.LastPosition(); pos != last || e.sys.lagEvents() != 0 || e.sys.lagSeconds(time.Now()) != 0 {
		t.Errorf("projection at %d of %d: lag %d events, %v", pos, last, e.sys.lagEvents(), e.sys.lagSeconds(time.Now()))
	}
	if got := testutil.ToFloat64(e.sys.metrics.live); got < 1 {
		t.Errorf("commentd_actors_live = %v, want >= 1", got)
	}

	sys := e.sys
	e.close()
	if _, err := sys.Send(context.Background(), comment.Create{PictureID: "p1", ID: "c9", Text: "late", User: "alice"}); err == nil {
		t.Fatal("Send after Close succeeded")
	}
}

func TestSendAfterCloseIsNotReady(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	sys := e.sys
	if err := sys.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sys.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := sys.Send(context.Background(), comment.Create{PictureID: "p1", ID: "c1", Text: "x", User: "alice"})
	wantCode(t, err, comment.CodeNotReady)
}

// TestCloseDrains closes the System while a command is blocked in the
// store: Close waits for it, and a command sent meanwhile is not_ready.
func TestCloseDrains(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{})
	h := hooks{beforeAppend: func(ctx context.Context, id string) {
		if id == "slow" {
			close(entered)
			<-gate
		}
	}}
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, h)
	sent := make(chan error, 1)
	go func() {
		_, err := e.send(comment.Create{PictureID: "p", ID: "slow", Text: "t", User: "u"})
		sent <- err
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- e.sys.Close() }()
	deadline := time.Now().Add(5 * time.Second)
	for !e.sys.closing.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	_, err := e.send(comment.Create{PictureID: "p", ID: "late", Text: "t", User: "u"})
	wantCode(t, err, comment.CodeNotReady)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a command in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if err := <-sent; err != nil {
		t.Fatalf("in-flight command: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close let the projection apply what was durable.
	if got, want := e.rm.Position(), e.st.LastPosition(); got != want || want != 1 {
		t.Fatalf("read model at %d after Close, log at %d (want 1)", got, want)
	}
}

func TestEventsFeed(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	e.mustSend(comment.Create{PictureID: "p1", ID: "c1", Text: "one", User: "alice"})
	e.mustSend(comment.UpdateText{PictureID: "p1", ID: "c1", Text: "two", User: "alice"})

	events, last, err := e.sys.Events(context.Background(), 0, 10, 0)
	if err != nil || len(events) != 2 || last != 2 {
		t.Fatalf("Events(0) = %d events, last %d, %v; want 2, 2", len(events), last, err)
	}
	if ev := events[1]; ev.Type != comment.TypeTextUpdated || ev.Text != "two" || ev.CommentID != "c1" || ev.Position != 2 || ev.Version != 2 {
		t.Fatalf("events[1] = %+v", ev)
	}
	events, _, err = e.sys.Events(context.Background(), 0, 1, 0)
	if err != nil || len(events) != 1 || events[0].Position != 1 {
		t.Fatalf("Events(limit 1) = %+v, %v", events, err)
	}

	// An empty wait ends with no events.
	events, last, err = e.sys.Events(context.Background(), 2, 10, 20*time.Millisecond)
	if err != nil || len(events) != 0 || last != 2 {
		t.Fatalf("Events(2, wait) = %d events, last %d, %v; want none, 2", len(events), last, err)
	}

	// A long poll wakes up on a commit.
	type answer struct {
		events []comment.Event
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		ev, _, err := e.sys.Events(context.Background(), 2, 10, 10*time.Second)
		done <- answer{ev, err}
	}()
	e.mustSend(comment.Delete{PictureID: "p1", ID: "c1", User: "alice"})
	select {
	case a := <-done:
		if a.err != nil || len(a.events) != 1 || a.events[0].Type != comment.TypeDeleted || a.events[0].Position != 3 {
			t.Fatalf("long poll = %+v, %v", a.events, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not wake up")
	}
}

// TestPassivationRace sends many commands over a few ids while idle actors
// are passivated every millisecond: every command must be answered once,
// successfully, and each comment's versions must be contiguous.
func TestPassivationRace(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{IdleTimeout: time.Millisecond, Shards: 2, SnapshotEvery: 5}, hooks{})
	const ids, senders, perSender = 4, 8, 120
	for i := range ids {
		e.mustSend(comment.Create{PictureID: "p", ID: fmt.Sprintf("c%d", i), Text: "start", User: "u"})
	}
	var mu sync.Mutex
	versions := make(map[string][]uint64)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for n := range perSender {
				id := fmt.Sprintf("c%d", (g+n)%ids)
				res, err := e.send(comment.UpdateText{PictureID: "p", ID: id, Text: fmt.Sprintf("s%d n%d", g, n), User: "u"})
				if err != nil {
					t.Errorf("update %s: %v", id, err)
					return
				}
				mu.Lock()
				versions[id] = append(versions[id], res.Version)
				mu.Unlock()
				if n%7 == 0 {
					time.Sleep(2 * time.Millisecond) // let actors go idle
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for i := range ids {
		id := fmt.Sprintf("c%d", i)
		vs := versions[id]
		slices.Sort(vs)
		for j, v := range vs {
			if v != uint64(j+2) {
				t.Fatalf("%s: versions %v not contiguous from 2", id, vs)
			}
		}
		recs, err := e.st.ReadStream(id, 1)
		if err != nil || len(recs) != len(vs)+1 {
			t.Fatalf("%s: %d records in the log (%v), %d answers", id, len(recs), err, len(vs))
		}
		total += len(vs)
	}
	if total != senders*perSender {
		t.Fatalf("%d answers, want %d", total, senders*perSender)
	}
	p, buffered := testutil.ToFloat64(e.sys.metrics.passivated), e.sys.buffered.Load()
	t.Logf("%v passivations, %d commands buffered during one", p, buffered)
	if p == 0 || buffered == 0 {
		t.Fatal("no command raced with a passivation: the race was not exercised")
	}
	// Snapshots were taken and a reloaded actor still answers right.
	time.Sleep(10 * time.Millisecond)
	res := e.mustSend(comment.UpdateText{PictureID: "p", ID: "c0", Text: "final", User: "u"})
	if want := uint64(len(versions["c0"]) + 2); res.Version != want {
		t.Fatalf("update after passivation: version %d, want %d", res.Version, want)
	}
	if v, _, err := e.st.LoadSnapshot("c0"); err != nil || v == 0 {
		t.Fatalf("no snapshot of c0 (version %d, %v)", v, err)
	}
}

// gatedAppends returns hooks that hold every append to a stream whose name
// starts with "block" until gate is closed (or the append's context ends);
// entered counts the appends being held.
func gatedAppends() (h hooks, gate chan struct{}, entered *sync.WaitGroup) {
	gate = make(chan struct{})
	entered = new(sync.WaitGroup)
	h = hooks{beforeAppend: func(ctx context.Context, id string) {
		if strings.HasPrefix(id, "block") {
			entered.Done()
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
	}}
	return h, gate, entered
}

// sendHeld sends a create for each id from its own goroutine and returns
// once gatedAppends holds all their appends; the answers arrive on the
// returned channel after the gate opens.
func sendHeld(e *env, entered *sync.WaitGroup, ids ...string) <-chan error {
	results := make(chan error, len(ids))
	entered.Add(len(ids))
	for _, id := range ids {
		go func() {
			_, err := e.send(comment.Create{PictureID: "p", ID: id, Text: "t", User: "u"})
			results <- err
		}()
	}
	entered.Wait()
	return results
}

// TestAdmissionControl blocks appends in the store hook and checks that the
// bounds answer overloaded at once, and that every admitted command is
// answered and durable.
func TestAdmissionControl(t *testing.T) {
	h, gate, entered := gatedAppends()
	// Total bound 2, per shard 2/1*2 = 4: the total bound is hit first.
	e := openEnv(t, t.TempDir(), "readmodel", Config{MaxInFlight: 2, Shards: 1}, h)
	results := sendHeld(e, entered, "block0", "block1")
	_, err := e.send(comment.Create{PictureID: "p", ID: "free", Text: "t", User: "u"})
	wantCode(t, err, comment.CodeOverloaded)
	close(gate)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("admitted command failed: %v", err)
		}
	}
	for i := range 2 {
		if recs, err := e.st.ReadStream(fmt.Sprintf("block%d", i), 1); err != nil || len(recs) != 1 {
			t.Fatalf("block%d: %d records, %v", i, len(recs), err)
		}
	}
	e.mustSend(comment.Create{PictureID: "p", ID: "free", Text: "t", User: "u"})
	if n := e.sys.inflight.Load(); n != 0 {
		t.Fatalf("in flight after all answers = %d", n)
	}
}

func TestAdmissionPerShard(t *testing.T) {
	h, gate, entered := gatedAppends()
	// Per shard bound 4/4*2 = 2, total 4.
	e := openEnv(t, t.TempDir(), "readmodel", Config{MaxInFlight: 4, Shards: 4}, h)
	// Pick ids by shard.
	byShard := make(map[int][]string)
	for i := 0; len(byShard[0]) < 3 || len(byShard[1]) < 1; i++ {
		id := fmt.Sprintf("block%d", i)
		k := shardIndex(id, 4)
		byShard[k] = append(byShard[k], id)
	}
	results := sendHeld(e, entered, byShard[0][:2]...)
	_, err := e.send(comment.Create{PictureID: "p", ID: byShard[0][2], Text: "t", User: "u"})
	wantCode(t, err, comment.CodeOverloaded)

	// Another shard still has room; its command times out in the hook,
	// which maps to overloaded ("command timed out") and frees its slot.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	entered.Add(1)
	_, err = e.sys.Send(ctx, comment.Create{PictureID: "p", ID: byShard[1][0], Text: "t", User: "u"})
	cancel()
	wantCode(t, err, comment.CodeOverloaded)
	if !strings.Contains(comment.ErrorMessage(err), "timed out") {
		t.Fatalf("timeout message = %q", comment.ErrorMessage(err))
	}

	close(gate)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("admitted command failed: %v", err)
		}
	}
	// The timed-out append was abandoned before the store took it.
	if recs, err := e.st.ReadStream(byShard[1][0], 1); err != nil || len(recs) != 0 {
		t.Fatalf("timed-out create: %d records, %v", len(recs), err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.sys.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("in flight stuck at %d", e.sys.inflight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPanicInActor makes one command panic: it fails with internal, the
// actor still works afterwards, and other actors are unaffected.
func TestPanicInActor(t *testing.T) {
	h := hooks{beforeDecide: func(cmd comment.Command) {
		if u, ok := cmd.(comment.UpdateText); ok && u.Text == "boom" {
			panic("injected")
		}
	}}
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, h)
	e.mustSend(comment.Create{PictureID: "p", ID: "a", Text: "a1", User: "u"})
	e.mustSend(comment.Create{PictureID: "p", ID: "b", Text: "b1", User: "u"})

	_, err := e.send(comment.UpdateText{PictureID: "p", ID: "a", Text: "boom", User: "u"})
	wantCode(t, err, comment.CodeInternal)
	if comment.ErrorMessage(err) == "injected" {
		t.Fatal("internal error leaks the panic value")
	}
	res := e.mustSend(comment.UpdateText{PictureID: "p", ID: "a", Text: "a2", User: "u"})
	if res.Version != 2 || res.Position != 3 {
		t.Fatalf("after panic: %+v, want version 2 position 3", res)
	}
	res = e.mustSend(comment.UpdateText{PictureID: "p", ID: "b", Text: "b2", User: "u"})
	if res.Version != 2 || res.Position != 4 {
		t.Fatalf("other actor: %+v, want version 2 position 4", res)
	}
	if got := testutil.ToFloat64(e.sys.metrics.commands[1][comment.CodeInternal]); got != 1 {
		t.Fatalf("commentd_commands_total{update,internal} = %v, want 1", got)
	}
}

// TestStoreFailureAnswersNotReady closes the store under a running System.
func TestStoreClosedAnswersNotReady(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	e.mustSend(comment.Create{PictureID: "p", ID: "a", Text: "a1", User: "u"})
	e.waitCaughtUp()
	if err := e.st.Close(); err != nil {
		t.Fatalf("store Close: %v", err)
	}
	_, err := e.send(comment.UpdateText{PictureID: "p", ID: "a", Text: "a2", User: "u"})
	wantCode(t, err, comment.CodeNotReady)
	if err := e.sys.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.sys = nil
	e.rm.Close()
}

// TestRestartAndRebuild checks that the read model survives a restart and
// that a rebuild from an empty read store equals the incremental one.
func TestRestartAndRebuild(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir, "readmodel", Config{SnapshotEvery: 3}, hooks{})
	pictures := []string{"p0", "p1", "p2"}
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("c%02d", i)
		ids = append(ids, id)
		e.mustSend(comment.Create{PictureID: pictures[i%3], ID: id, Text: "t " + id, User: "u"})
	}
	for i := range 30 {
		e.mustSend(comment.UpdateText{PictureID: pictures[i%12%3], ID: ids[i%12], Text: fmt.Sprintf("v%d", i), User: "u"})
	}
	e.mustSend(comment.Delete{PictureID: "p1", ID: "c01", User: "u"})
	e.waitCaughtUp()
	before := dump(t, e.rm, pictures, ids)
	if strings.Count(before, "list ") != 11 {
		t.Fatalf("dump before restart:\n%s", before)
	}
	e.close()

	e = openEnv(t, dir, "readmodel", Config{SnapshotEvery: 3}, hooks{})
	e.waitCaughtUp()
	if after := dump(t, e.rm, pictures, ids); after != before {
		t.Fatalf("read model after restart differs:\n%s\nwant:\n%s", after, before)
	}
	// The write side rehydrates (from snapshot + tail) with the right version.
	res := e.mustSend(comment.UpdateText{PictureID: "p0", ID: "c00", Text: "again", User: "u"})
	if res.Version != 5 {
		t.Fatalf("update after restart: version %d, want 5", res.Version)
	}
	e.waitCaughtUp()
	before = dump(t, e.rm, pictures, ids)
	e.close()

	e = openEnv(t, dir, "readmodel-rebuilt", Config{}, hooks{})
	e.waitCaughtUp()
	if got := e.rm.Position(); got != e.st.LastPosition() {
		t.Fatalf("rebuilt read model at %d, log at %d", got, e.st.LastPosition())
	}
	if after := dump(t, e.rm, pictures, ids); after != before {
		t.Fatalf("rebuilt read model differs:\n%s\nwant:\n%s", after, before)
	}
}

func TestServerIDs(t *testing.T) {
	var g idGen
	prev := ""
	for range 10000 {
		id := g.next()
		if len(id) != idLen || comment.ValidateID(id) != nil || id <= prev {
			t.Fatalf("id %q after %q", id, prev)
		}
		prev = id
	}
}

func TestStoreErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want comment.Code
	}{
		{store.ErrOverloaded, comment.CodeOverloaded},
		{store.ErrClosed, comment.CodeNotReady},
		{fmt.Errorf("x: %w", store.ErrFailed), comment.CodeNotReady},
		{context.DeadlineExceeded, comment.CodeOverloaded},
		{errors.New("disk on fire"), comment.CodeInternal},
	} {
		if got := comment.ErrorCode(storeError(tc.err)); got != tc.want {
			t.Errorf("storeError(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
