package actors

import (
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/store"
)

// pump asks the projection to apply what the log holds beyond its position.
type pump struct{}

// wakeRequest asks the projection's helper goroutine to send a pump once the
// log holds a position > after, or after delay when delay > 0.
type wakeRequest struct {
	after uint64
	delay time.Duration
}

// projection is the actor that follows the store's log into the read model.
// Only its Receive touches its fields, except lastAt, which the metrics read.
// At most one pump is outstanding at any time: Started sends the first, and
// each pump either sends the next one itself (more to read) or hands one
// wakeRequest to the helper goroutine, which answers it with one pump.
type projection struct {
	sys      *System
	target   uint64 // the log's last position at Start: CaughtUp closes once applied
	caughtUp bool
	events   []comment.Event
	wake     chan wakeRequest // capacity 1; read by waitLoop

	applied uint64       // last applied position
	lastAt  atomic.Int64 // commit time (Unix ns) of the last applied event, read by the metrics
	pid     atomic.Pointer[actor.PID]
}

func newProjection(s *System) *projection {
	return &projection{sys: s, wake: make(chan wakeRequest, 1)}
}

// Receive implements actor.Actor.
func (p *projection) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		p.pid.Store(ctx.Self())
		p.applied = p.sys.cfg.ReadModel.Position()
		p.initLastAt()
		if p.applied > p.sys.cfg.Store.LastPosition() {
			p.sys.log.Warn("actors: the read model is ahead of the event log; is it from another log?",
				"readmodel", p.applied, "log", p.sys.cfg.Store.LastPosition())
		}
		p.checkCaughtUp()
		ctx.Send(ctx.Self(), pump{})
	case pump:
		p.step(ctx)
	}
}

// step applies one batch and arranges for the next pump.
func (p *projection) step(ctx actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			p.sys.log.Error("actors: projection panic", "panic", r, "stack", string(debug.Stack()))
			p.schedule(wakeRequest{delay: retryDelay})
		}
	}()
	rm := p.sys.cfg.ReadModel
	from := rm.Position()
	p.events = p.events[:0]
	err := p.sys.cfg.Store.ScanAll(from, projectionBatch, func(rec store.Record) error {
		e, err := decodeRecord(rec)
		if err != nil {
			return err
		}
		p.events = append(p.events, e)
		return nil
	})
	if err != nil {
		p.sys.log.Error("actors: projection read", "after", from, "err", err)
		p.schedule(wakeRequest{delay: retryDelay})
		return
	}
	if n := len(p.events); n > 0 {
		if err := rm.Apply(p.events); err != nil {
			p.sys.log.Error("actors: projection apply", "first", p.events[0].Position, "err", err)
			p.schedule(wakeRequest{delay: retryDelay})
			return
		}
		last := p.events[n-1]
		p.lastAt.Store(last.At.UnixNano())
		p.applied = last.Position
		clear(p.events) // drop the strings until the next batch
	}
	p.checkCaughtUp()
	if len(p.events) == projectionBatch {
		ctx.Send(ctx.Self(), pump{})
		return
	}
	p.schedule(wakeRequest{after: p.applied})
}

// initLastAt takes the commit time of the checkpoint's event from the log,
// so that the lag in seconds is right before the first batch is applied.
func (p *projection) initLastAt() {
	applied := p.applied
	if applied == 0 {
		return
	}
	recs, err := p.sys.cfg.Store.ReadAll(applied-1, 1)
	if err != nil || len(recs) == 0 {
		return
	}
	p.lastAt.Store(recs[0].Time)
}

func (p *projection) checkCaughtUp() {
	if !p.caughtUp && p.applied >= p.target {
		p.caughtUp = true
		close(p.sys.caughtUp)
	}
}

func (p *projection) schedule(w wakeRequest) {
	select {
	case p.wake <- w:
	default:
		p.sys.log.Error("actors: projection wake-up already pending")
	}
}

// waitLoop is the projection's helper goroutine, owned by the System: it
// turns wake requests into pumps, blocking in store.Wait (no polling) until
// the log grows. It returns when the System's context is done.
func (p *projection) waitLoop() {
	ctx := p.sys.ctx
	for {
		var w wakeRequest
		select {
		case <-ctx.Done():
			return
		case w = <-p.wake:
		}
		delay := w.delay
		if delay == 0 {
			if _, err := p.sys.cfg.Store.Wait(ctx, w.after); err != nil {
				if ctx.Err() != nil {
					return
				}
				p.sys.log.Warn("actors: projection wait", "err", err)
				delay = retryDelay
			}
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		p.sys.as.Root.Send(p.pid.Load(), pump{})
	}
}
