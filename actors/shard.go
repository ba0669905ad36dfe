package actors

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/commentd/commentd/comment"
)

// sweepTick asks a shard to passivate its idle children.
type sweepTick struct{}

// shard owns the comment actors of the ids that hash to it: it spawns them on
// demand, forwards requests to them, passivates the idle ones and buffers the
// requests that arrive while one is stopping (see the package doc). Its state
// is touched only by its own Receive.
type shard struct {
	sys        *System
	childProps *actor.Props
	children   map[string]*child
	stopping   bool // the shard itself is stopping: no respawns
}

// child is the shard's record of one comment actor incarnation.
type child struct {
	pid      *actor.PID
	lastSeen time.Time
	stopping bool       // poisoned; no request may be sent to pid any more
	buffer   []*request // requests that arrived while stopping, in order
}

// Receive implements actor.Actor. A panic here would restart the shard and
// stop all its children, so every message is handled under recover.
func (sh *shard) Receive(ctx actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			sh.sys.log.Error("actors: shard panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	switch m := ctx.Message().(type) {
	case *request:
		sh.route(ctx, m)
	case sweepTick:
		sh.sweep(ctx)
	case *actor.Terminated:
		sh.terminated(ctx, m.Who)
	case *actor.Stopping:
		// Close drained the commands first; whatever is still buffered would
		// otherwise wait for its deadline.
		sh.stopping = true
		for _, c := range sh.children {
			for _, r := range c.buffer {
				r.finish(comment.Result{}, comment.Errorf(comment.CodeNotReady, "shutting down"))
			}
			c.buffer = nil
		}
	}
}

func (sh *shard) route(ctx actor.Context, r *request) {
	if sh.stopping {
		r.finish(comment.Result{}, comment.Errorf(comment.CodeNotReady, "shutting down"))
		return
	}
	id := r.cmd.CommentID()
	c := sh.children[id]
	if c == nil {
		var err error
		if c, err = sh.spawn(ctx, id); err != nil {
			r.finish(comment.Result{}, err)
			return
		}
	}
	if c.stopping {
		c.buffer = append(c.buffer, r)
		sh.sys.buffered.Add(1)
		return
	}
	c.lastSeen = time.Now()
	ctx.Send(c.pid, r)
}

func (sh *shard) spawn(ctx actor.Context, id string) (*child, error) {
	pid, err := ctx.SpawnNamed(sh.childProps, id)
	if err != nil {
		// The old incarnation is removed from the registry before its
		// Terminated is sent, so this cannot happen; say so loudly.
		sh.sys.log.Error("actors: spawn comment actor", "id", id, "err", err)
		return nil, fmt.Errorf("actors: spawn %s: %w", id, err)
	}
	c := &child{pid: pid, lastSeen: time.Now()}
	sh.children[id] = c
	sh.sys.metrics.live.Inc()
	return c, nil
}

// sweep poisons the children idle for at least IdleTimeout. A poisoned child
// handles what is already in its mailbox and then stops.
func (sh *shard) sweep(ctx actor.Context) {
	now := time.Now()
	for _, c := range sh.children {
		if !c.stopping && now.Sub(c.lastSeen) >= sh.sys.cfg.IdleTimeout {
			c.stopping = true
			ctx.Poison(c.pid)
			sh.sys.metrics.passivated.Inc()
		}
	}
}

// terminated forgets a stopped child and, if requests arrived while it was
// stopping, spawns a new incarnation and hands them over in order.
func (sh *shard) terminated(ctx actor.Context, who *actor.PID) {
	id := who.Id[strings.LastIndexByte(who.Id, '/')+1:]
	c := sh.children[id]
	if c == nil || c.pid.Id != who.Id {
		return
	}
	delete(sh.children, id)
	sh.sys.metrics.live.Dec()
	if !c.stopping && !sh.stopping {
		sh.sys.log.Warn("actors: comment actor stopped unexpectedly", "id", id)
	}
	if len(c.buffer) == 0 || sh.stopping {
		return
	}
	for _, r := range c.buffer {
		sh.route(ctx, r)
	}
}
