package actors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commentd/commentd/comment"
)

// TestTimedOutCommandsNeverCommit runs commands under a tiny
// CommandTimeout with context.Background (as the HTTP layer does), while a
// hook delays some callers' wait for the store's verdict past their
// deadline. A command answered "timed out" must be absent from its stream
// and every command answered with success present: overloaded means the
// command did not take effect.
func TestTimedOutCommandsNeverCommit(t *testing.T) {
	var n atomic.Int64
	h := hooks{beforeVerdict: func(ctx context.Context, id string) {
		switch n.Add(1) % 3 {
		case 0:
			time.Sleep(40 * time.Millisecond)
		case 1:
			time.Sleep(time.Duration(n.Load()%7) * time.Millisecond)
		}
	}}
	e := openEnv(t, t.TempDir(), "readmodel", Config{CommandTimeout: 15 * time.Millisecond}, h)
	const comments, each = 4, 15
	for c := range comments {
		if _, err := e.sys.Send(context.Background(), comment.Create{PictureID: "p", ID: fmt.Sprintf("c%d", c), Text: "v", User: "u"}); err != nil {
			// Slow verdicts still answer the real outcome.
			t.Fatalf("create c%d: %v", c, err)
		}
	}
	var (
		mu       sync.Mutex
		ok       = map[string]bool{} // text -> answered success
		timedOut = map[string]bool{} // text -> answered timed out
		wg       sync.WaitGroup
	)
	// Two senders per comment: some commands also time out queued behind
	// a slow one.
	for g := range 2 * comments {
		c := g % comments
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("c%d-%d-%d", c, g, i)
				_, err := e.sys.Send(context.Background(), comment.UpdateText{PictureID: "p", ID: fmt.Sprintf("c%d", c), Text: text, User: "u"})
				mu.Lock()
				switch {
				case err == nil:
					ok[text] = true
				case comment.ErrorCode(err) == comment.CodeOverloaded && strings.Contains(comment.ErrorMessage(err), "timed out"):
					timedOut[text] = true
				default:
					t.Errorf("update %s: %v", text, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	waitInflightZero(t, e)
	written := map[string]bool{}
	for c := range comments {
		recs, err := e.st.ReadStream(fmt.Sprintf("c%d", c), 2)
		if err != nil {
			t.Fatal(err)
		}
		events, err := decodeRecords(recs)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			written[ev.Text] = true
		}
	}
	for text := range timedOut {
		if written[text] {
			t.Errorf("update %s was answered timed out but committed", text)
		}
	}
	for text := range ok {
		if !written[text] {
			t.Errorf("update %s was answered success but is not in the stream", text)
		}
	}
	t.Logf("%d succeeded, %d timed out", len(ok), len(timedOut))
}

// waitInflightZero waits (bounded) for every admission count to be
// released.
func waitInflightZero(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.sys.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("in flight stuck at %d", e.sys.inflight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCallerPanicAfterHandover makes one caller panic after the actor
// handed it the enqueued append and before it settled it: the actor must
// not stay wedged, the admission counts must be released, the next command
// on the comment must succeed and Close must not wait for its drain bound.
func TestCallerPanicAfterHandover(t *testing.T) {
	var boom atomic.Bool
	h := hooks{beforeVerdict: func(ctx context.Context, id string) {
		if boom.CompareAndSwap(true, false) {
			panic("injected caller panic")
		}
	}}
	e := openEnv(t, t.TempDir(), "readmodel", Config{CommandTimeout: 2 * time.Second}, h)
	e.mustSend(comment.Create{PictureID: "p", ID: "w", Text: "v0", User: "u"})
	boom.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the hook did not panic")
			}
		}()
		_, _ = e.sys.Send(context.Background(), comment.UpdateText{PictureID: "p", ID: "w", Text: "v1", User: "u"})
	}()
	res, err := e.sys.Send(context.Background(), comment.UpdateText{PictureID: "p", ID: "w", Text: "v2", User: "u"})
	if err != nil {
		t.Fatalf("next command after a caller panic: %v", err)
	}
	if res.Version != 3 {
		t.Fatalf("next command's version = %d, want 3 (the abandoned append committed)", res.Version)
	}
	waitInflightZero(t, e)
	start := time.Now()
	if err := e.sys.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= closeDrainTimeout {
		t.Fatalf("Close took %v: it waited for a leaked command", d)
	}
}

// TestPanicAfterEnqueue makes a comment actor panic after it enqueued an
// append, and its reload after that panic fail too. The actor must settle
// the append before its payload buffer is reused, answer internal, stay
// the same incarnation (a panic escaping the actor would restart or stop
// it, dropping the requests behind), and reload on the next request; the
// admission counts must be released and the stream stay consistent.
func TestPanicAfterEnqueue(t *testing.T) {
	var (
		boom, loadBoom atomic.Bool
		mu             sync.Mutex
		starts         = map[string]int{}
	)
	h := hooks{
		afterAppend: func(id string) {
			if boom.CompareAndSwap(true, false) {
				loadBoom.Store(true)
				panic("injected after enqueue")
			}
		},
		beforeLoad: func(id string) {
			if loadBoom.CompareAndSwap(true, false) {
				panic("injected in load")
			}
		},
		started: func(id string) {
			mu.Lock()
			starts[id]++
			mu.Unlock()
		},
	}
	e := openEnv(t, t.TempDir(), "readmodel", Config{}, h)
	e.mustSend(comment.Create{PictureID: "p", ID: "k", Text: "v0", User: "u"})
	boom.Store(true)
	_, err := e.send(comment.UpdateText{PictureID: "p", ID: "k", Text: "v1", User: "u"})
	wantCode(t, err, comment.CodeInternal)
	// The reload panics in this request, under the actor's recover.
	_, err = e.send(comment.UpdateText{PictureID: "p", ID: "k", Text: "v2", User: "u"})
	wantCode(t, err, comment.CodeInternal)
	res := e.mustSend(comment.UpdateText{PictureID: "p", ID: "k", Text: "v3", User: "u"})
	recs, err := e.st.ReadStream("k", 1)
	if err != nil {
		t.Fatal(err)
	}
	events, err := decodeRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != uint64(len(events)) || events[len(events)-1].Text != "v3" {
		t.Fatalf("answer %+v, stream of %d events ending %q", res, len(events), events[len(events)-1].Text)
	}
	for _, ev := range events {
		if ev.Text != "v0" && ev.Text != "v1" && ev.Text != "v3" {
			t.Fatalf("unexpected event text %q", ev.Text)
		}
	}
	waitInflightZero(t, e)
	mu.Lock()
	defer mu.Unlock()
	if starts["k"] != 1 {
		t.Fatalf("comment actor started %d times, want once", starts["k"])
	}
}
