package actors

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/commentd/commentd/comment"
)

// sweepTick asks a shard to passivate its idle children.
type sweepTick struct{}

// evictTick asks a shard that is over its bound to evict again: one of the
// children it had to skip for being busy finished its request.
type evictTick struct{}

// shard owns the comment actors of the ids that hash to it: it spawns them on
// demand, forwards requests to them, passivates the idle ones and buffers the
// requests that arrive while one is stopping (see the package doc). Its state
// is touched only by its own Receive, except the children's busy counts,
// which their actors decrement.
//
// The active children (spawned and not asked to stop) are kept in a list in
// order of use, most recent first. Two things passivate them, by the same
// poison-buffer-respawn handoff: the idle sweep (children unused for
// IdleTimeout) and the bound: whenever more than maxActive children are
// active, the least recently used ones without a request in progress are
// passivated until the shard is back within its bound. So the active
// children never exceed maxActive by more than the ones with a command in
// progress.
type shard struct {
	sys        *System
	childProps *actor.Props
	children   map[string]*child // active and stopping children
	lru        child             // sentinel of the list of active children: lru.next is the most recent
	active     int               // length of the lru list
	maxActive  int
	over       atomic.Bool // the last eviction left more than maxActive active (busy) children
	stopping   bool        // the shard itself is stopping: no respawns
}

// child is the shard's record of one comment actor incarnation.
type child struct {
	pid        *actor.PID
	lastSeen   time.Time
	busy       atomic.Int32 // requests forwarded and not yet answered by the actor
	stopping   bool         // poisoned; no request may be sent to pid any more
	buffer     []*request   // requests that arrived while stopping, in order
	prev, next *child       // in the lru list while active
}

func newShard(s *System, childProps *actor.Props, maxActive int) *shard {
	sh := &shard{sys: s, childProps: childProps, children: make(map[string]*child), maxActive: maxActive}
	sh.lru.prev, sh.lru.next = &sh.lru, &sh.lru
	return sh
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
		if sh.active > sh.maxActive {
			sh.evict(ctx)
		}
	case evictTick:
		if sh.active > sh.maxActive {
			sh.evict(ctx)
		}
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
	spawned := false
	if c == nil {
		var err error
		if c, err = sh.spawn(ctx, id); err != nil {
			r.finish(comment.Result{}, err)
			return
		}
		spawned = true
	}
	if c.stopping {
		c.buffer = append(c.buffer, r)
		sh.sys.buffered.Add(1)
		return
	}
	c.lastSeen = time.Now()
	sh.toFront(c)
	c.busy.Add(1)
	r.busy, r.over = &c.busy, &sh.over
	ctx.Send(c.pid, r)
	if spawned && sh.active > sh.maxActive {
		sh.evict(ctx)
	}
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
	sh.link(c)
	sh.sys.metrics.live.Inc()
	return c, nil
}

// link puts c at the front of the lru list.
func (sh *shard) link(c *child) {
	c.prev, c.next = &sh.lru, sh.lru.next
	c.next.prev = c
	sh.lru.next = c
	sh.active++
	sh.sys.active.Add(1)
}

// unlink takes c out of the lru list.
func (sh *shard) unlink(c *child) {
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
	sh.active--
	sh.sys.active.Add(-1)
}

func (sh *shard) toFront(c *child) {
	if sh.lru.next == c {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = &sh.lru, sh.lru.next
	c.next.prev = c
	sh.lru.next = c
}

// passivate poisons an active child: it handles what is already in its
// mailbox and then stops; requests for it are buffered until its
// Terminated, then handed to a new incarnation.
func (sh *shard) passivate(ctx actor.Context, c *child) {
	c.stopping = true
	sh.unlink(c)
	ctx.Poison(c.pid)
}

// evict passivates the least recently used children without a request in
// progress until the shard is within its bound (or only busy ones are
// left). A child whose actor finishes a request just after it was skipped
// is caught by the next eviction.
//
// over is set before the scan: a child that finishes its request after the
// scan skipped it then sees it and asks for another eviction, which it
// would not if over were still false from an earlier eviction.
func (sh *shard) evict(ctx actor.Context) {
	sh.over.Store(true)
	for c := sh.lru.prev; c != &sh.lru && sh.active > sh.maxActive; {
		prev := c.prev
		if c.busy.Load() == 0 {
			sh.passivate(ctx, c)
			sh.sys.metrics.evicted.Inc()
		} else if h := sh.sys.hooks.evictSkip; h != nil {
			h(&c.busy)
		}
		c = prev
	}
	sh.over.Store(sh.active > sh.maxActive)
}

// sweep poisons the children idle for at least IdleTimeout: the tail of the
// lru list, which is in order of last use.
func (sh *shard) sweep(ctx actor.Context) {
	now := time.Now()
	for c := sh.lru.prev; c != &sh.lru && now.Sub(c.lastSeen) >= sh.sys.cfg.IdleTimeout; {
		prev := c.prev
		sh.passivate(ctx, c)
		sh.sys.metrics.passivated.Inc()
		c = prev
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
	if !c.stopping {
		sh.unlink(c)
		if !sh.stopping {
			sh.sys.log.Warn("actors: comment actor stopped unexpectedly", "id", id)
		}
	}
	if len(c.buffer) == 0 || sh.stopping {
		return
	}
	for _, r := range c.buffer {
		sh.route(ctx, r)
	}
}
