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
	snapshot uint64 // version of the newest snapshot known to exist
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
	case *request:
		a.handle(m)
	}
}

// handle answers one request, exactly once, whatever happens.
func (a *commentActor) handle(r *request) {
	defer func() {
		if p := recover(); p != nil {
			a.sys.log.Error("actors: panic in comment actor", "id", a.id, "panic", p, "stack", string(debug.Stack()))
			r.finish(comment.Result{}, comment.Errorf(comment.CodeInternal, "internal error"))
			a.loaded = false
			if err := a.load(); err != nil {
				a.sys.log.Error("actors: reload after panic", "id", a.id, "err", err)
			}
		}
	}()
	if r.ctx.Err() != nil {
		r.finish(comment.Result{}, errTimedOut)
		return
	}
	if !a.loaded {
		if r.fresh {
			a.state, a.loaded = comment.State{}, true
		} else if err := a.load(); err != nil {
			a.sys.log.Error("actors: load comment", "id", a.id, "err", err)
			r.finish(comment.Result{}, storeError(err))
			return
		}
	}
	res, err := a.execute(r)
	r.finish(res, err)
	if err == nil && a.state.Version-a.snapshot >= uint64(a.sys.cfg.SnapshotEvery) {
		a.saveSnapshot()
	}
}

// execute decides, appends and evolves. A version conflict cannot happen
// with one writer per stream unless an earlier append's outcome was unknown
// to this actor (e.g. its context ended while the store still committed it);
// the state is then reloaded and the command decided once more.
func (a *commentActor) execute(r *request) (comment.Result, error) {
	if h := a.sys.hooks.beforeDecide; h != nil {
		h(r.cmd)
	}
	_, isCreate := r.cmd.(comment.Create)
	for attempt := 0; ; attempt++ {
		events, err := comment.Decide(a.state, r.cmd)
		if err != nil {
			return comment.Result{}, err
		}
		if len(events) == 0 {
			return comment.Unchanged(a.state, r.cmd), nil
		}
		payloads := make([][]byte, len(events))
		for i, e := range events {
			payloads[i] = comment.AppendEvent(nil, e)
		}
		if h := a.sys.hooks.beforeAppend; h != nil {
			h(r.ctx, a.id)
		}
		ar, err := a.sys.cfg.Store.Append(r.ctx, a.id, a.state.Version, payloads...)
		if err == nil {
			at := time.Unix(0, ar.Time).UTC()
			for i, e := range events {
				e.Version = ar.FirstVersion + uint64(i)
				e.Position = ar.FirstPosition + uint64(i)
				e.At = at
				a.state = comment.Evolve(a.state, e)
			}
			return comment.Result{
				PictureID: a.state.PictureID,
				ID:        a.id,
				Version:   a.state.Version,
				Position:  a.state.LastPosition,
				Created:   isCreate,
			}, nil
		}
		// The append failed, or its outcome is unknown: never advance on
		// it; take the state from the store.
		a.loaded = false
		if lerr := a.load(); lerr != nil {
			a.sys.log.Error("actors: reload after failed append", "id", a.id, "err", lerr)
		}
		if errors.Is(err, store.ErrVersionConflict) {
			a.sys.log.Warn("actors: version conflict on a single-writer stream", "id", a.id, "attempt", attempt)
			if attempt == 0 && a.loaded {
				continue
			}
			return comment.Result{}, comment.Errorf(comment.CodeConflict, "concurrent modification; retry")
		}
		return comment.Result{}, storeError(err)
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
