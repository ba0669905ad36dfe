package actors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/commentd/commentd/comment"
)

// TestMaxActors floods a System whose bound on live actors is tiny with
// creates over many ids, mixed with updates of a few hot comments that are
// evicted and rehydrated again and again. The active actors must never
// exceed the bound by more than the commands in progress, every command
// must be answered, and the hot comments' versions must be contiguous.
func TestMaxActors(t *testing.T) {
	const (
		maxActors = 8
		shards    = 2
		senders   = 16
		perSender = 40
		hot       = 4
	)
	e := openEnv(t, t.TempDir(), "readmodel", Config{MaxActors: maxActors, Shards: shards, IdleTimeout: time.Hour, SnapshotEvery: 3}, hooks{})
	for i := range hot {
		e.mustSend(comment.Create{PictureID: "p", ID: fmt.Sprintf("hot%d", i), Text: "start", User: "u"})
	}

	var maxActive, maxLive atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := e.sys.active.Load(); n > maxActive.Load() {
				maxActive.Store(n)
			}
			if n := int64(testutil.ToFloat64(e.sys.metrics.live)); n > maxLive.Load() {
				maxLive.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
	}()

	var mu sync.Mutex
	versions := make(map[string][]uint64)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for n := range perSender {
				var cmd comment.Command
				if n%2 == 0 {
					cmd = comment.Create{PictureID: "p", ID: fmt.Sprintf("s%d-%d", g, n), Text: "new", User: "u"}
				} else {
					cmd = comment.UpdateText{PictureID: "p", ID: fmt.Sprintf("hot%d", (g+n)%hot), Text: fmt.Sprintf("s%d n%d", g, n), User: "u"}
				}
				res, err := e.send(cmd)
				if err != nil {
					t.Errorf("%T %s: %v", cmd, cmd.CommentID(), err)
					return
				}
				mu.Lock()
				versions[cmd.CommentID()] = append(versions[cmd.CommentID()], res.Version)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled

	total := 0
	for id, vs := range versions {
		slices.Sort(vs)
		first := uint64(1)
		if strings.HasPrefix(id, "hot") {
			first = 2
		}
		for j, v := range vs {
			if v != first+uint64(j) {
				t.Fatalf("%s: versions %v not contiguous from %d", id, vs, first)
			}
		}
		recs, err := e.st.ReadStream(id, 1)
		if err != nil || len(recs) != len(vs)+int(first)-1 {
			t.Fatalf("%s: %d records in the log (%v), %d answers", id, len(recs), err, len(vs))
		}
		total += len(vs)
	}
	if total != senders*perSender {
		t.Fatalf("%d answers, want %d", total, senders*perSender)
	}

	// At most one command per sender is in flight, but an actor is still
	// busy for a moment after its caller got the answer (it advances its
	// state), so up to two actors per sender may be busy; and a shard may
	// be one spawn ahead of its eviction.
	evicted := testutil.ToFloat64(e.sys.metrics.evicted)
	t.Logf("max active %d, max live %d, %v evicted, %d commands buffered during a passivation",
		maxActive.Load(), maxLive.Load(), evicted, e.sys.buffered.Load())
	if limit := int64(maxActors + 2*senders + shards); maxActive.Load() > limit {
		t.Fatalf("up to %d active comment actors, bound %d + 2*%d in progress + %d", maxActive.Load(), maxActors, senders, shards)
	}
	// Live actors include the ones stopping; they go once their mailbox
	// is done.
	if limit := int64(maxActors + 3*senders + shards); maxLive.Load() > limit {
		t.Fatalf("up to %d live comment actors (limit %d)", maxLive.Load(), limit)
	}
	if evicted == 0 {
		t.Fatal("no actor was evicted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(e.sys.metrics.live) > maxActors {
		if time.Now().After(deadline) {
			t.Fatalf("%v live comment actors once idle, bound %d", testutil.ToFloat64(e.sys.metrics.live), maxActors)
		}
		time.Sleep(time.Millisecond)
	}
	// The hot comments still answer right after all those evictions.
	for i := range hot {
		id := fmt.Sprintf("hot%d", i)
		res := e.mustSend(comment.UpdateText{PictureID: "p", ID: id, Text: "final", User: "u"})
		if want := uint64(len(versions[id]) + 2); res.Version != want {
			t.Fatalf("%s: version %d, want %d", id, res.Version, want)
		}
	}
}

// TestServerIDsInPositionOrder sends many concurrent creates with a
// server-picked id: sorted as strings, the ids must be in position order,
// and the read model lists them in that order.
func TestServerIDsInPositionOrder(t *testing.T) {
	const senders, perSender = 32, 15
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	results := make(chan comment.Result, senders*perSender)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for range perSender {
				res, err := e.send(comment.Create{PictureID: "p", Text: fmt.Sprintf("from %d", g), User: "u"})
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				results <- res
			}
		})
	}
	wg.Wait()
	close(results)
	var all []comment.Result
	for r := range results {
		if !r.Created || r.Version != 1 || r.PictureID != "p" || comment.ValidateID(r.ID) != nil {
			t.Fatalf("create answered %+v", r)
		}
		all = append(all, r)
	}
	if len(all) != senders*perSender {
		t.Fatalf("%d creates answered, want %d", len(all), senders*perSender)
	}
	slices.SortFunc(all, func(a, b comment.Result) int { return strings.Compare(a.ID, b.ID) })
	for i := 1; i < len(all); i++ {
		if all[i].ID == all[i-1].ID {
			t.Fatalf("id %s picked twice", all[i].ID)
		}
		if all[i].Position <= all[i-1].Position {
			t.Fatalf("id %s at position %d sorts after id %s at position %d", all[i].ID, all[i].Position, all[i-1].ID, all[i-1].Position)
		}
	}
	e.waitCaughtUp()
	var listed []string
	cursor := ""
	for {
		page, _, err := e.rm.List("p", 100, cursor)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, c := range page.Comments {
			listed = append(listed, c.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(listed) != len(all) {
		t.Fatalf("listed %d comments, want %d", len(listed), len(all))
	}
	for i, id := range listed {
		if id != all[i].ID {
			t.Fatalf("List()[%d] = %s, want %s (the ids in string order)", i, id, all[i].ID)
		}
	}
	// The history of a server-id comment is its creation.
	hist, err := e.sys.History(context.Background(), all[0].ID)
	if err != nil || len(hist) != 1 || hist[0].CommentID != all[0].ID || hist[0].Position != all[0].Position {
		t.Fatalf("History(%s) = %+v, %v", all[0].ID, hist, err)
	}
	if got := testutil.ToFloat64(e.sys.metrics.commands[0][outcomeOK]); got != float64(len(all)) {
		t.Fatalf("commentd_commands_total{create,ok} = %v, want %d", got, len(all))
	}
}

// TestServerIDCreateErrors checks that a create with a server-picked id is
// rejected, counted and released like any other command.
func TestServerIDCreateErrors(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	_, err := e.send(comment.Create{PictureID: "p", Text: "   ", User: "u"})
	wantCode(t, err, comment.CodeInvalidArgument)
	_, err = e.send(comment.Create{PictureID: "bad/picture", Text: "t", User: "u"})
	wantCode(t, err, comment.CodeInvalidArgument)
	if got := testutil.ToFloat64(e.sys.metrics.commands[0][comment.CodeInvalidArgument]); got != 2 {
		t.Fatalf("commentd_commands_total{create,invalid_argument} = %v, want 2", got)
	}
	res := e.mustSend(comment.Create{PictureID: "p", Text: "ok", User: "u"})
	if res.Position != 1 || res.Version != 1 || !res.Created {
		t.Fatalf("create = %+v", res)
	}
	// The comment is an ordinary aggregate afterwards.
	upd := e.mustSend(comment.UpdateText{PictureID: "p", ID: res.ID, Text: "changed", User: "u"})
	if upd.Version != 2 || upd.Position != 2 {
		t.Fatalf("update = %+v", upd)
	}
	retry := e.mustSend(comment.Create{PictureID: "p", ID: res.ID, Text: "ok", User: "u"})
	if retry.Created || retry.Version != 1 || retry.Position != 1 {
		t.Fatalf("client retry of a server-id create = %+v", retry)
	}
	if n := e.sys.inflight.Load(); n != 0 {
		t.Fatalf("in flight = %d", n)
	}
	for _, sh := range e.sys.shards {
		if n := sh.inflight.Load(); n != 0 {
			t.Fatalf("shard in flight = %d", n)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.sys.Send(ctx, comment.Create{PictureID: "p", Text: "late", User: "u"})
	wantCode(t, err, comment.CodeOverloaded)
	if err := e.sys.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = e.sys.Send(context.Background(), comment.Create{PictureID: "p", Text: "closed", User: "u"})
	wantCode(t, err, comment.CodeNotReady)
}

// TestServerIDAdmission checks the in-flight bound on creates with a
// server-picked id while actor commands hold the slots.
func TestServerIDAdmission(t *testing.T) {
	h, gate, entered := gatedAppends()
	e := openEnv(t, t.TempDir(), "readmodel", Config{MaxInFlight: 2, Shards: 1}, h)
	results := sendHeld(e, entered, "block0", "block1")
	_, err := e.send(comment.Create{PictureID: "p", Text: "t", User: "u"})
	wantCode(t, err, comment.CodeOverloaded)
	close(gate)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	e.mustSend(comment.Create{PictureID: "p", Text: "t", User: "u"})
	if got := testutil.ToFloat64(e.sys.metrics.commands[0][comment.CodeOverloaded]); got != 1 {
		t.Fatalf("commentd_commands_total{create,overloaded} = %v, want 1", got)
	}
}

// TestCallerGivesUpAfterHandOver lets callers' deadlines pass after their
// comment actor handed them the enqueued append: whichever way the race
// between the store's verdict and the deadline goes, the answer is a
// success or "timed out", the actor settles the append itself when the
// caller gave up, and its state stays exact.
func TestCallerGivesUpAfterHandOver(t *testing.T) {
	var slow atomic.Bool
	h := hooks{beforeVerdict: func(ctx context.Context, id string) {
		if slow.Load() {
			<-ctx.Done()
		}
	}}
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, h)
	e.mustSend(comment.Create{PictureID: "p", ID: "slow", Text: "v0", User: "u"})
	slow.Store(true)
	timedOut := 0
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, err := e.sys.Send(ctx, comment.UpdateText{PictureID: "p", ID: "slow", Text: fmt.Sprintf("v%d", i+1), User: "u"})
		cancel()
		if err != nil {
			wantCode(t, err, comment.CodeOverloaded)
			timedOut++
		}
	}
	// Whatever was committed, the actor's state must know it.
	recs, err := e.st.ReadStream("slow", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(len(recs) + 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow.Store(false)
	upd, err := e.sys.Send(ctx, comment.UpdateText{PictureID: "p", ID: "slow", Text: "final", User: "u"})
	if err != nil || upd.Version != want {
		t.Fatalf("update after %d timeouts: %+v, %v; want version %d", timedOut, upd, err, want)
	}
	t.Logf("%d of 20 callers timed out after the hand-over", timedOut)
	if n := e.sys.inflight.Load(); n != 0 {
		t.Fatalf("in flight = %d", n)
	}
}

// TestForeignWriterConflict makes the store refuse an actor's append
// because another writer created the stream after the actor loaded its
// state: the actor reloads and the command is decided once more.
func TestForeignWriterConflict(t *testing.T) {
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, hooks{})
	for _, tc := range []struct {
		id, text string
		want     comment.Code
	}{{"same", "hello", ""}, {"different", "other", comment.CodeConflict}} {
		// The actor loads the empty state.
		_, err := e.send(comment.UpdateText{PictureID: "p", ID: tc.id, Text: "x", User: "u"})
		wantCode(t, err, comment.CodeNotFound)
		payload := comment.AppendEvent(nil, comment.Event{Type: comment.TypeCreated, PictureID: "p", CommentID: tc.id, Author: "u", Text: "hello"})
		if _, err := e.st.Append(context.Background(), tc.id, 0, payload); err != nil {
			t.Fatal(err)
		}
		res, err := e.send(comment.Create{PictureID: "p", ID: tc.id, Text: tc.text, User: "u"})
		if tc.want != "" {
			wantCode(t, err, tc.want)
			continue
		}
		if err != nil || res.Created || res.Version != 1 {
			t.Fatalf("create %s over a foreign create: %+v, %v; want the retry answer", tc.id, res, err)
		}
	}
	if n := e.sys.inflight.Load(); n != 0 {
		t.Fatalf("in flight = %d", n)
	}
}

// TestEvictTickNotLost has an eviction skip a busy child that finishes its
// request while the eviction is still running (while the shard's flag of
// being over its bound was still false from before): the child must still
// ask for another eviction, and so be passivated, without waiting for some
// other command or the idle sweep.
func TestEvictTickNotLost(t *testing.T) {
	gateA, gateB := make(chan struct{}), make(chan struct{})
	enteredA := make(chan struct{})
	skipDone := make(chan struct{})
	var skipped atomic.Bool
	h := hooks{
		beforeDecide: func(cmd comment.Command) {
			switch cmd.CommentID() {
			case "a":
				if u, ok := cmd.(comment.UpdateText); ok && u.Text == "hold" {
					close(enteredA)
					<-gateA
				}
			case "b":
				<-gateB
			}
		},
		evictSkip: func(busy *atomic.Int32) {
			if !skipped.CompareAndSwap(false, true) {
				return
			}
			// The first child skipped is a: let it finish now, and give
			// it time to look at the flag after its count reached zero.
			close(gateA)
			deadline := time.Now().Add(5 * time.Second)
			for busy.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			close(skipDone)
		},
	}
	e := openEnv(t, t.TempDir(), "readmodel", Config{Shards: 1, MaxActors: 1, IdleTimeout: time.Hour}, h)
	e.mustSend(comment.Create{PictureID: "p", ID: "a", Text: "v0", User: "u"})
	results := make(chan error, 2)
	go func() {
		_, err := e.send(comment.UpdateText{PictureID: "p", ID: "a", Text: "hold", User: "u"})
		results <- err
	}()
	<-enteredA
	go func() {
		// Spawns b over the bound: the eviction skips a (busy), then b.
		_, err := e.send(comment.Create{PictureID: "p", ID: "b", Text: "v0", User: "u"})
		results <- err
	}()
	select {
	case <-skipDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the eviction never skipped a")
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.sys.active.Load() != 1 {
		if time.Now().After(deadline) {
			close(gateB)
			t.Fatalf("active actors = %d with b still busy: a finished during an eviction and was never evicted", e.sys.active.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(gateB)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}
