package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/store"
)

// commentActor is the single writer of one comment's stream. Its state is the
// fold of the stream's committed events; it is loaded on the first request
// of an incarnation (from the latest snapshot plus the events after it) and
// reloaded after any failed append or recovered panic.
type commentActor struct {
	sys      *System
	id       string
	state    comment.State
	loaded   bool
	snapshot uint64    // version of the newest snapshot known to exist
	inf      *inflight // reused for every append
}

// Receive implements actor.Actor.
func (a *commentActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self := ctx.Self().Id
		for i := len(self) - 1; i >= 0; i-- {
			if self[i] == '/' {
				self = self[i+1:]
				break
			}
		}
		a.id = self
		if h := a.sys.hooks.started; h != nil {
			h(self)
		}
	case *request:
		a.handle(ctx, m)
	}
}

// handle answers one request, exactly once, whatever happens, and then
// tells the shard that the request is no longer in progress (and, if the
// shard is over its bound, that it may evict again).
//
// A command that appends is answered in two steps, to keep the actor off
// the caller's critical path: the actor decides, enqueues the append
// (store.AppendAsync) and hands the caller an inflight; the caller waits
// for the store's verdict itself (it is woken by the store directly), hands
// the outcome back through the inflight and answers. Meanwhile the actor
// waits for that outcome and only then advances its state (or reloads it)
// and takes its next message, so commands to one comment stay serialised
// and the state only ever holds committed events. A caller that gives up
// at its deadline withdraws the append if the store has not taken it yet
// (the state then stands), and otherwise waits for the store's outcome;
// a caller that panicked hands the inflight back abandoned, and the actor
// then waits for the store itself.
func (a *commentActor) handle(ctx actor.Context, r *request) {
	busy, over := r.busy, r.over
	defer func() {
		if busy.Add(-1) == 0 && over.Load() {
			ctx.Send(ctx.Parent(), evictTick{})
		}
	}()
	answered := false
	var (
		buf     *[]byte        // the first event's payload buffer, pooled once the store is done with it
		pending *store.Pending // the append, while the actor alone owns it
		handed  *inflight      // handed to the caller and not yet settled back
	)
	defer func() {
		if p := recover(); p != nil {
			a.sys.log.Error("actors: panic in comment actor", "id", a.id, "panic", p, "stack", string(debug.Stack()))
			// The store may still read buf: settle the append first.
			if pending != nil {
				if !pending.Cancel() {
					_, _ = pending.Wait()
				}
			}
			if handed != nil {
				if o := <-handed.settled; o.abandoned {
					_, _ = handed.p.Wait()
					a.sys.release(handed.shard)
				}
				handed.p = nil
			}
			if !answered {
				r.finish(comment.Result{}, comment.Errorf(comment.CodeInternal, "internal error"))
			}
			// Reloaded by the next request: a panic here would escape the
			// actor.
			a.loaded = false
		}
		if buf != nil {
			putBuffer(buf)
		}
	}()
	if r.expired() {
		answered = true
		r.finish(comment.Result{}, errTimedOut)
		return
	}
	if !a.loaded {
		if err := a.load(); err != nil {
			a.sys.log.Error("actors: load comment", "id", a.id, "err", err)
			answered = true
			r.finish(comment.Result{}, storeError(err))
			return
		}
	}
	if h := a.sys.hooks.beforeDecide; h != nil {
		h(r.cmd)
	}
	events, err := comment.Decide(a.state, r.cmd)
	if err != nil || len(events) == 0 {
		var res comment.Result
		if err == nil {
			res = comment.Unchanged(a.state, r.cmd)
		}
		answered = true
		r.finish(res, err)
		return
	}
	buf = getBuffer() // pooled by the deferred function, after the append's outcome is known
	payloads := make([][]byte, len(events))
	for i, e := range events {
		if i == 0 {
			*buf = comment.AppendEvent((*buf)[:0], e)
			payloads[i] = *buf
		} else {
			payloads[i] = comment.AppendEvent(nil, e)
		}
	}
	if h := a.sys.hooks.beforeAppend; h != nil {
		h(r.ctx, a.id)
	}
	if !r.appending() {
		// The caller gave up: nothing is written and the state stands.
		answered = true
		r.finish(comment.Result{}, errTimedOut)
		return
	}
	// The caller's context, not one derived per command: the store cancels
	// the append if it ends while the append is still queued.
	p, err := a.sys.cfg.Store.AppendAsync(r.ctx, a.id, a.state.Version, payloads...)
	if err != nil {
		// Not queued: nothing was written and the state stands.
		answered = true
		r.finish(comment.Result{}, storeError(err))
		return
	}
	pending = p
	if h := a.sys.hooks.afterAppend; h != nil {
		h(a.id)
	}
	if a.inf == nil {
		a.inf = &inflight{settled: make(chan outcome, 1)}
	}
	inf := a.inf
	_, isCreate := r.cmd.(comment.Create)
	last := events[len(events)-1]
	*inf = inflight{
		p: p, shard: r.shard, settled: inf.settled,
		pictureID: last.PictureID, id: a.id, n: uint64(len(events)), created: isCreate,
	}
	answered = true
	var o outcome
	if r.hand(inf) {
		// r may be recycled from here on; the caller owns the append.
		pending, handed = nil, inf
		o = <-inf.settled
		handed = nil
		if o.abandoned {
			pending = p
			o.res, o.err = p.Wait()
			pending = nil
			a.sys.release(inf.shard)
		}
	} else {
		// The caller gave up before the hand-over (appending rules this
		// out; kept as a safeguard): withdraw the append if the store has
		// not taken it, else settle alone.
		if p.Cancel() {
			o.cancelled = true
		} else {
			o.res, o.err = p.Wait()
		}
		pending = nil
		a.sys.release(r.shard)
	}
	inf.p = nil
	if o.cancelled {
		// Withdrawn before the store took it: nothing was written and
		// the state stands.
		return
	}
	a.settle(events, o)
}

// settle advances the state by the committed events, or reloads it from the
// store when the append failed.
func (a *commentActor) settle(events []comment.Event, o outcome) {
	if o.err != nil {
		if errors.Is(o.err, store.ErrVersionConflict) {
			a.sys.log.Warn("actors: version conflict on a single-writer stream", "id", a.id)
		}
		a.loaded = false
		if err := a.load(); err != nil {
			a.sys.log.Error("actors: reload after failed append", "id", a.id, "err", err)
		}
		return
	}
	at := time.Unix(0, o.res.Time).UTC()
	for i, e := range events {
		e.Version = o.res.FirstVersion + uint64(i)
		e.Position = o.res.FirstPosition + uint64(i)
		e.At = at
		a.state = comment.Evolve(a.state, e)
	}
	if a.state.Version-a.snapshot >= uint64(a.sys.cfg.SnapshotEvery) {
		a.saveSnapshot()
	}
}

// inflight is a command whose append is enqueued in the store, handed by
// its comment actor to the caller (see commentActor.handle). The caller
// sends exactly one outcome on settled. Each actor reuses one.
type inflight struct {
	p       *store.Pending
	shard   *shardRef
	settled chan outcome // capacity 1

	// The answer, but for the committed version and position.
	pictureID string
	id        string
	n         uint64 // events appended
	created   bool
}

// outcome is what the caller learnt of an inflight's append; or that it
// withdrew the append before the store took it (cancelled: nothing was
// written, and the caller released the admission counts); or that it
// stopped before it knew (abandoned: the actor waits for the store and
// releases the counts).
type outcome struct {
	res       store.AppendResult
	err       error
	cancelled bool
	abandoned bool
}

// result is the answer to an inflight whose append succeeded.
func (inf *inflight) result(ar store.AppendResult) comment.Result {
	return comment.Result{
		PictureID: inf.pictureID,
		ID:        inf.id,
		Version:   ar.FirstVersion + inf.n - 1,
		Position:  ar.FirstPosition + inf.n - 1,
		Created:   inf.created,
	}
}

// storeError maps a store or context error to the application error a
// caller sees.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrOverloaded):
		return comment.Errorf(comment.CodeOverloaded, "event store queue is full")
	case errors.Is(err, store.ErrFailed), errors.Is(err, store.ErrClosed):
		return comment.Errorf(comment.CodeNotReady, "event store unavailable")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errTimedOut
	}
	return fmt.Errorf("actors: %w", err)
}

// load rebuilds the state from the latest snapshot and the events after it.
// On error the actor stays unloaded and the next request tries again.
func (a *commentActor) load() error {
	a.loaded = false
	if h := a.sys.hooks.beforeLoad; h != nil {
		h(a.id)
	}
	st := a.sys.cfg.Store
	var s comment.State
	version, data, err := st.LoadSnapshot(a.id)
	if err != nil {
		return err
	}
	if data != nil {
		if s, err = comment.DecodeState(data); err != nil {
			a.sys.log.Error("actors: bad snapshot, replaying the whole stream", "id", a.id, "err", err)
			s, version = comment.State{}, 0
		}
	}
	recs, err := st.ReadStream(a.id, version+1)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		e, err := decodeRecord(rec)
		if err != nil {
			return err
		}
		s = comment.Evolve(s, e)
	}
	a.state, a.snapshot, a.loaded = s, version, true
	return nil
}

// saveSnapshot stores the current state; failures only cost replay time.
func (a *commentActor) saveSnapshot() {
	if err := a.sys.cfg.Store.SaveSnapshot(a.id, a.state.Version, comment.AppendState(nil, a.state)); err != nil {
		a.sys.log.Warn("actors: save snapshot", "id", a.id, "err", err)
		return
	}
	a.snapshot = a.state.Version
}
