package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/readmodel"
	"github.com/commentd/commentd/store"
)

// Config configures Start. Store and ReadModel are required and stay owned by
// the caller: Close does not close them, and they must outlive the System.
type Config struct {
	Store          *store.Store
	ReadModel      *readmodel.Model
	Logger         *slog.Logger          // nil: discard
	Registerer     prometheus.Registerer // nil: metrics are kept but not registered
	Shards         int                   // 0: 2*GOMAXPROCS (at least 8)
	IdleTimeout    time.Duration         // passivation of idle comment actors; 0: 1m
	SnapshotEvery  int                   // 0: 100 events
	MaxInFlight    int                   // total bound on commands in flight; 0: 8192 (per shard: MaxInFlight/Shards*2)
	CommandTimeout time.Duration         // per command deadline if ctx has none; 0: 5s
}

// Bounds used by Close and the projection.
const (
	closeDrainTimeout   = 10 * time.Second // waiting for in-flight commands
	closeProjectTimeout = 10 * time.Second // waiting for the projection to apply what is durable
	projectionBatch     = 1000
	retryDelay          = 100 * time.Millisecond
)

// shardDispatcher runs a shard's mailbox in the goroutine that posted to it
// when the shard is idle, instead of starting a goroutine per wake-up: a
// shard only routes (it never blocks), and this saves one goroutine hand-off
// per command. The mailbox still guarantees one message at a time.
var shardDispatcher = actor.NewSynchronizedDispatcher(300)

// hooks are test injection points; all nil in production.
type hooks struct {
	beforeDecide func(cmd comment.Command)            // may panic or block
	beforeAppend func(ctx context.Context, id string) // may block
}

// System is the write side (comment actors behind shard actors) and the
// projection actor, in one protoactor actor system. Send, CaughtUp, History
// and Events are safe for concurrent use. Close stops everything the System
// started; it does not close the Store or the ReadModel.
type System struct {
	cfg      Config
	log      *slog.Logger
	hooks    hooks
	as       *actor.ActorSystem
	shards   []*shardRef
	perShard int64
	maxTotal int64
	ids      idGen
	metrics  *metrics

	inflight atomic.Int64
	buffered atomic.Int64 // commands that arrived while their actor was stopping
	closing  atomic.Bool
	idleOnce sync.Once
	idle     chan struct{} // closed when closing and no command is in flight

	proj     *projection
	projPID  *actor.PID
	caughtUp chan struct{}

	ctx    context.Context // cancelled by Close: stops the helper goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// shardRef is what callers know of a shard: its PID and its in-flight count.
type shardRef struct {
	pid      *actor.PID
	inflight atomic.Int64
}

// Start creates the actor system, the shard actors and the projection actor.
// The projection starts catching up at once; CaughtUp reports when it has.
func Start(cfg Config) (*System, error) {
	return start(cfg, hooks{})
}

func start(cfg Config, h hooks) (*System, error) {
	if cfg.Store == nil || cfg.ReadModel == nil {
		return nil, errors.New("actors: Config.Store and Config.ReadModel are required")
	}
	cfg = withDefaults(cfg)
	s := &System{
		cfg:      cfg,
		log:      cfg.Logger,
		hooks:    h,
		idle:     make(chan struct{}),
		caughtUp: make(chan struct{}),
		maxTotal: int64(cfg.MaxInFlight),
		perShard: max(int64(cfg.MaxInFlight/cfg.Shards*2), 1),
	}
	s.proj = newProjection(s)
	s.proj.target = cfg.Store.LastPosition()
	m, err := newMetrics(s, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	logger := cfg.Logger.With("lib", "protoactor")
	s.as = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	s.ctx, s.cancel = context.WithCancel(context.Background())

	childProps := actor.PropsFromProducer(func() actor.Actor { return &commentActor{sys: s} })
	s.shards = make([]*shardRef, cfg.Shards)
	for i := range s.shards {
		sh := &shard{sys: s, childProps: childProps, children: make(map[string]*child)}
		props := actor.PropsFromProducer(func() actor.Actor { return sh }, actor.WithDispatcher(shardDispatcher))
		pid, err := s.as.Root.SpawnNamed(props, fmt.Sprintf("shard%d", i))
		if err != nil {
			s.shutdownActors()
			return nil, fmt.Errorf("actors: spawn shard: %w", err)
		}
		s.shards[i] = &shardRef{pid: pid}
	}
	pid, err := s.as.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return s.proj }), "projection")
	if err != nil {
		s.shutdownActors()
		return nil, fmt.Errorf("actors: spawn projection: %w", err)
	}
	s.projPID = pid
	s.goFunc(s.sweepLoop)
	s.goFunc(s.proj.waitLoop)
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Shards <= 0 {
		cfg.Shards = max(2*runtime.GOMAXPROCS(0), 8)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 100
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8192
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	return cfg
}

// goFunc runs f in a goroutine that Close waits for; f must return once s.ctx
// is done.
func (s *System) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// sweepLoop asks every shard to passivate its idle children, periodically.
func (s *System) sweepLoop() {
	interval := max(s.cfg.IdleTimeout/2, time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			for _, sh := range s.shards {
				s.as.Root.Send(sh.pid, sweepTick{})
			}
		}
	}
}

// Send is the command bus. It fills an empty Create.ID with a new server id
// (sortable in creation order, [A-Za-z0-9_-]), routes the command to its
// comment's actor and answers after the events are durable.
//
// Errors: *comment.Error from Decide; overloaded when over the in-flight
// bound, when the store's queue is full, or when the deadline (ctx's, else
// Config.CommandTimeout) passes ("command timed out"; the command may still
// take effect); not_ready when closing or after the store failed; internal
// otherwise.
func (s *System) Send(ctx context.Context, cmd comment.Command) (comment.Result, error) {
	start := time.Now()
	typ := commandType(cmd)
	res, err := s.send(ctx, cmd)
	s.metrics.observe(typ, err, time.Since(start))
	return res, err
}

func (s *System) send(ctx context.Context, cmd comment.Command) (comment.Result, error) {
	fresh := false
	if c, ok := cmd.(comment.Create); ok && c.ID == "" {
		c.ID = s.ids.next()
		cmd, fresh = c, true
	}
	if cmd == nil {
		return comment.Result{}, comment.Errorf(comment.CodeInvalidArgument, "no command")
	}
	id := cmd.CommentID()
	if err := comment.ValidateID(id); err != nil {
		return comment.Result{}, err
	}
	if ctx.Err() != nil {
		return comment.Result{}, errTimedOut
	}
	sh := s.shards[shardIndex(id, len(s.shards))]

	// Admission: count first, then look at closing, so that Close (which sets
	// closing, then waits for the count to reach zero) sees every command
	// that got past this point.
	if s.inflight.Add(1) > s.maxTotal {
		s.release(sh, false)
		return comment.Result{}, comment.Errorf(comment.CodeOverloaded, "too many commands in flight")
	}
	if sh.inflight.Add(1) > s.perShard {
		s.release(sh, true)
		return comment.Result{}, comment.Errorf(comment.CodeOverloaded, "too many commands in flight")
	}
	if s.closing.Load() {
		s.release(sh, true)
		return comment.Result{}, comment.Errorf(comment.CodeNotReady, "shutting down")
	}
	if err := s.cfg.Store.Err(); err != nil {
		s.release(sh, true)
		return comment.Result{}, comment.Errorf(comment.CodeNotReady, "event store unavailable")
	}

	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.CommandTimeout)
	}
	defer cancel()
	req := &request{ctx: ctx, cmd: cmd, fresh: fresh, sys: s, shard: sh, reply: make(chan reply, 1)}
	s.as.Root.Send(sh.pid, req)
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return comment.Result{}, errTimedOut
	}
}

var errTimedOut = comment.Errorf(comment.CodeOverloaded, "command timed out")

// release undoes the admission counters of one command.
func (s *System) release(sh *shardRef, shardCounted bool) {
	if shardCounted {
		sh.inflight.Add(-1)
	}
	if s.inflight.Add(-1) == 0 && s.closing.Load() {
		s.idleOnce.Do(func() { close(s.idle) })
	}
}

// shardIndex is FNV-1a of id modulo n.
func shardIndex(id string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// request is one command on its way to its comment actor. It is answered
// exactly once, through finish.
type request struct {
	ctx      context.Context
	cmd      comment.Command
	fresh    bool // the id was generated by this System: the comment has no history
	sys      *System
	shard    *shardRef
	reply    chan reply // buffered: finish never blocks
	answered atomic.Bool
}

type reply struct {
	res comment.Result
	err error
}

// finish answers the request and releases its admission counters. A second
// call is a bug; it is logged and ignored so the caller is never answered
// twice.
func (r *request) finish(res comment.Result, err error) {
	if !r.answered.CompareAndSwap(false, true) {
		r.sys.log.Error("actors: command answered twice", "id", r.cmd.CommentID())
		return
	}
	r.reply <- reply{res, err}
	r.sys.release(r.shard, true)
}

// CaughtUp is closed once the projection has applied the log as it was at
// Start.
func (s *System) CaughtUp() <-chan struct{} { return s.caughtUp }

// Close stops accepting commands (they fail with not_ready), waits (bounded)
// for the commands in flight, lets the projection apply what is durable
// (bounded), then stops the actors and the helper goroutines. It is
// idempotent and does not close the Store or the ReadModel.
func (s *System) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		if s.inflight.Load() == 0 {
			s.idleOnce.Do(func() { close(s.idle) })
		}
		t := time.NewTimer(closeDrainTimeout)
		select {
		case <-s.idle:
		case <-t.C:
			s.log.Warn("actors: closing with commands still in flight", "count", s.inflight.Load())
		}
		t.Stop()

		if target := s.cfg.Store.LastPosition(); s.cfg.Store.Err() == nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeProjectTimeout)
			if _, err := s.cfg.ReadModel.WaitForPosition(ctx, target); err != nil {
				s.log.Warn("actors: projection did not reach the log's end before close", "target", target, "err", err)
			}
			cancel()
		}
		s.cancel()
		s.wg.Wait()
		s.shutdownActors()
	})
	return nil
}

// shutdownActors stops the shards (and so their children) and the
// projection, then the actor system.
func (s *System) shutdownActors() {
	var futures []*actor.Future
	for _, sh := range s.shards {
		if sh != nil {
			futures = append(futures, s.as.Root.StopFuture(sh.pid))
		}
	}
	if s.projPID != nil {
		futures = append(futures, s.as.Root.StopFuture(s.projPID))
	}
	for _, f := range futures {
		if err := f.Wait(); err != nil {
			s.log.Warn("actors: stopping an actor", "err", err)
		}
	}
	s.as.Shutdown()
}
