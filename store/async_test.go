package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/commentd/commentd/store"
)

// TestAppendAsyncOrder enqueues appends from many goroutines, serialised by
// a mutex that also hands out sequence numbers, while the writer is held so
// that they pile up in the queue and land in shared batches. Some of them
// fail their version check and some are cancelled while queued. Waiting in
// any order, the appends that succeed must have positions in sequence order.
func TestAppendAsyncOrder(t *testing.T) {
	s, first, release := holdWriter(t, store.Options{})
	const goroutines, each = 16, 20
	type queued struct {
		seq    int
		p      *store.Pending
		cancel context.CancelFunc
		fails  bool
	}
	var (
		mu   sync.Mutex
		seq  int
		all  []queued
		wg   sync.WaitGroup
		errs = make(chan error, goroutines)
	)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				ctx, cancel := context.WithCancel(context.Background())
				mu.Lock()
				seq++
				q := queued{seq: seq, cancel: cancel}
				expected := uint64(0)
				if seq%7 == 0 {
					// A second append to an existing stream expecting it
					// to be new: a version conflict.
					expected, q.fails = 0, true
				}
				stream := fmt.Sprintf("g%d-%d", g, i)
				if q.fails {
					stream = "blocker"
				}
				p, err := s.AppendAsync(ctx, stream, expected, []byte(fmt.Sprint(seq)))
				q.p = p
				if err == nil {
					all = append(all, q)
				}
				mu.Unlock()
				if err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAsync: %v", err)
	}
	// Cancel some while they are still queued behind the held writer.
	cancelled := map[int]bool{}
	for i := 3; i < len(all); i += 11 {
		if !all[i].fails {
			all[i].cancel()
			cancelled[all[i].seq] = true
		}
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	positions := make(map[int]uint64)
	for i := len(all) - 1; i >= 0; i-- { // wait in reverse order
		q := all[i]
		res, err := q.p.Wait()
		q.cancel()
		switch {
		case q.fails:
			if !errors.Is(err, store.ErrVersionConflict) {
				t.Fatalf("append %d: %v, want a version conflict", q.seq, err)
			}
		case cancelled[q.seq]:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled append %d: %+v, %v", q.seq, res, err)
			}
		case err != nil:
			t.Fatalf("append %d: %v", q.seq, err)
		default:
			positions[q.seq] = res.FirstPosition
		}
	}
	var prev uint64 = 1 // the blocker holds position 1
	for _, q := range all {
		pos, ok := positions[q.seq]
		if !ok {
			continue
		}
		if pos != prev+1 {
			t.Fatalf("append %d at position %d after position %d: enqueue order is not position order", q.seq, pos, prev)
		}
		prev = pos
	}
	if got := s.LastPosition(); got != prev || len(positions) < goroutines*each/2 {
		t.Fatalf("LastPosition %d, last acknowledged %d, %d acknowledged", got, prev, len(positions))
	}
}

// TestAppendAsyncErrors checks that AppendAsync refuses what Append refuses,
// without anything to wait for.
func TestAppendAsyncErrors(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	if p, err := s.AppendAsync(context.Background(), "", 0, []byte("x")); err == nil || p != nil {
		t.Fatalf("empty stream: %v, %v", p, err)
	}
	if p, err := s.AppendAsync(context.Background(), "s", 0); err == nil || p != nil {
		t.Fatalf("no data: %v, %v", p, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.AppendAsync(ctx, "s", 0, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	p, err := s.AppendAsync(context.Background(), "s", 0, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Wait(); err != nil || res.FirstPosition != 1 || res.FirstVersion != 1 {
		t.Fatalf("Wait = %+v, %v", res, err)
	}
	s.Close()
	if _, err := s.AppendAsync(context.Background(), "s", 1, []byte("y")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestPendingReady checks Ready and Result, and that Wait settles an append
// whose waiter stopped watching Ready.
func TestPendingReady(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	p, err := s.AppendAsync(context.Background(), "a", 0, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Ready()
	if res, err := p.Result(); err != nil || res.FirstPosition != 1 {
		t.Fatalf("Result = %+v, %v", res, err)
	}
	p, err = s.AppendAsync(context.Background(), "a", 0, []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("second create of a: %v, want a version conflict", err)
	}
}

// TestPendingCancel cancels one append while it is queued behind a held
// writer: it must never be written nor take a position, while the append
// queued after it is. An append the writer already took cannot be
// cancelled and keeps its outcome.
func TestPendingCancel(t *testing.T) {
	s, first, release := holdWriter(t, store.Options{})
	a, err := s.AppendAsync(context.Background(), "cancelled", 0, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AppendAsync(context.Background(), "kept", 0, []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cancel() {
		t.Fatal("Cancel of a queued append = false")
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	res, err := b.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstPosition != 2 {
		t.Fatalf("position after a cancelled append = %d, want 2", res.FirstPosition)
	}
	if recs, err := s.ReadStream("cancelled", 1); err != nil || len(recs) != 0 {
		t.Fatalf("cancelled stream: %d records, %v", len(recs), err)
	}

	c, err := s.AppendAsync(context.Background(), "taken", 0, []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	<-c.Ready()
	if c.Cancel() {
		t.Fatal("Cancel of an append already answered = true")
	}
	if res, err := c.Result(); err != nil || res.FirstPosition != 3 {
		t.Fatalf("Result after a failed Cancel = %+v, %v", res, err)
	}
}
