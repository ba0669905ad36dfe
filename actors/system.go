package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
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
	// MaxActors bounds the live comment actors, in shares of
	// MaxActors/Shards (at least 1) per shard; 0: 100,000. A shard over its
	// share passivates its least recently used actors that have no command
	// in progress.
	MaxActors int
}

// DefaultMaxActors is the bound on live comment actors when
// Config.MaxActors is 0.
const DefaultMaxActors = 100_000

// Bounds used by Close and the projection.
const (
	closeDrainTimeout   = 10 * time.Second // waiting for in-flight commands
	closeProjectTimeout = 10 * time.Second // waiting for the projection to apply what is durable
	maxIdleWorkers      = 1024             // bound on the parked goroutines of workerDispatcher
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
	afterAppend  func(id string)                      // runs once the append is enqueued; may panic
	beforeLoad   func(id string)                      // may panic
	started      func(id string)                      // a comment actor incarnation started
	evictSkip    func(busy *atomic.Int32)             // an eviction skipped a child with a request in progress
	// beforeVerdict runs in the caller once the actor handed it the
	// command's enqueued append, before it waits for the store; may block.
	beforeVerdict func(ctx context.Context, id string)
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
	metrics  *metrics
	workers  *workerDispatcher // runs the comment actors' mailboxes

	// seqMu is the sequencer of creates with a server-picked id: it makes
	// generating the id and enqueueing the append one step (see Send).
	seqMu sync.Mutex
	ids   idGen

	inflight atomic.Int64
	buffered atomic.Int64 // commands that arrived while their actor was stopping
	active   atomic.Int64 // comment actors spawned and not asked to stop, over all shards
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
	if err := s.seedIDs(); err != nil {
		return nil, fmt.Errorf("actors: read the newest record: %w", err)
	}
	m, err := newMetrics(s, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	logger := cfg.Logger.With("lib", "protoactor")
	s.as = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	s.ctx, s.cancel = context.WithCancel(context.Background())

	s.workers = newWorkerDispatcher(300, min(cfg.MaxInFlight, maxIdleWorkers))
	childProps := actor.PropsFromProducer(func() actor.Actor { return &commentActor{sys: s} }, actor.WithDispatcher(s.workers))
	s.shards = make([]*shardRef, cfg.Shards)
	for i := range s.shards {
		sh := newShard(s, childProps, max(cfg.MaxActors/cfg.Shards, 1))
		props := actor.PropsFromProducer(func() actor.Actor { return sh }, actor.WithDispatcher(shardDispatcher))
		pid, err := s.as.Root.SpawnNamed(props, fmt.Sprintf("shard%d", i))
		if err != nil {
			s.shutdownActors()
			return nil, fmt.Errorf("actors: spawn shard: %w", err)
		}
		s.shards[i] = &shardRef{pid: pid}
	}
	// The projection runs on the workers too: it is woken on every commit
	// and applies on a deep stack.
	projProps := actor.PropsFromProducer(func() actor.Actor { return s.proj }, actor.WithDispatcher(s.workers))
	pid, err := s.as.Root.SpawnNamed(projProps, "projection")
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
	if cfg.MaxActors <= 0 {
		cfg.MaxActors = DefaultMaxActors
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
// A create with a server-picked id addresses an aggregate nobody else can
// know yet, so it does not go through an actor: it is decided against the
// empty state and appended directly, with the id generated and the append
// enqueued in the store together under the sequencer mutex. The store's
// queue order being its position order, server ids sort as strings in
// position (creation) order, also for concurrent creates. The store's
// expected-version check (the stream must not exist) stays the arbiter
// should a client pick the same id at the same time.
//
// Errors: *comment.Error from Decide; overloaded when over the in-flight
// bound, when the store's queue is full, or when the deadline (ctx's, else
// Config.CommandTimeout) passes ("command timed out": the command then did
// not and will not take effect; a command whose append the store already
// took when the deadline passed is answered with the append's outcome,
// which comes within the store's fsync pipeline); not_ready when closing or after the store failed; internal
// otherwise.
func (s *System) Send(ctx context.Context, cmd comment.Command) (comment.Result, error) {
	start := time.Now()
	typ := commandType(cmd)
	res, err := s.send(ctx, cmd, start, false)
	s.metrics.observe(typ, err, time.Since(start))
	return res, err
}

func (s *System) send(ctx context.Context, cmd comment.Command, start time.Time, retried bool) (comment.Result, error) {
	if c, ok := cmd.(comment.Create); ok && c.ID == "" {
		return s.createNew(ctx, c, start)
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
	if err := s.admit(); err != nil {
		return comment.Result{}, err
	}
	if err := s.admitShard(sh); err != nil {
		return comment.Result{}, err
	}
	if err := s.ready(sh); err != nil {
		return comment.Result{}, err
	}

	// The deadline travels as a value: no context is derived per command.
	// The actor checks it before it starts; the caller waits for it on a
	// pooled timer when ctx has no deadline of its own.
	deadline, ctxDeadline := ctx.Deadline()
	if !ctxDeadline {
		deadline = start.Add(s.cfg.CommandTimeout)
	}
	req := getRequest()
	req.ctx, req.deadline, req.cmd, req.sys, req.shard = ctx, deadline, cmd, s, sh
	s.as.Root.Send(sh.pid, req)
	var timeout <-chan time.Time
	if !ctxDeadline {
		t := getTimer(time.Until(deadline))
		defer putTimer(t)
		timeout = t.C
	}
	var rep reply
	expired := false
	select {
	case rep = <-req.reply:
	case <-ctx.Done():
		expired = true
	case <-timeout:
		expired = true
	}
	if expired {
		// The deadline passed before an answer came.
		if req.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			// The actor has not started the append and now never will;
			// nobody will answer the request: it is not recycled.
			return comment.Result{}, errTimedOut
		}
		// The actor answered, or is enqueueing the append (a non-blocking
		// step): the answer is coming.
		rep = <-req.reply
	}
	putRequest(req)
	if rep.inf == nil {
		return rep.res, rep.err
	}
	res, err := s.verdict(ctx, rep.inf, timeout, expired)
	if errors.Is(err, store.ErrVersionConflict) {
		// Somebody else wrote the stream (a create on an id that was
		// also picked elsewhere): the actor reloads; decide once more.
		if !retried {
			return s.send(ctx, cmd, start, true)
		}
		return comment.Result{}, comment.Errorf(comment.CodeConflict, "concurrent modification; retry")
	}
	return res, err
}

// verdict waits for the store's outcome of the append the actor handed over
// in inf, hands it back to the actor (see commentActor.handle) and returns
// the answer. When the deadline passes first (or had passed, expired), it
// withdraws the append if the store has not taken it yet, and answers that
// the command timed out: nothing was written. Otherwise the append is
// already in a batch, its outcome comes within the fsync pipeline, and the
// answer is that outcome, so a command answered "timed out" never takes
// effect. A version conflict is returned as the store's error, for Send to
// retry. Should the caller panic before it settled inf, the deferred
// settlement hands inf back abandoned: the actor then waits for the store
// and releases the admission counts itself.
func (s *System) verdict(ctx context.Context, inf *inflight, timeout <-chan time.Time, expired bool) (comment.Result, error) {
	settled := false
	defer func() {
		if !settled {
			inf.settled <- outcome{abandoned: true}
		}
	}()
	if h := s.hooks.beforeVerdict; h != nil {
		h(ctx, inf.id)
	}
	if !expired {
		select {
		case <-inf.p.Ready():
		case <-ctx.Done():
			expired = true
		case <-timeout:
			expired = true
		}
	}
	infShard := inf.shard
	if expired {
		if inf.p.Cancel() {
			settled = true
			inf.settled <- outcome{cancelled: true} // inf belongs to the actor again
			s.release(infShard)
			return comment.Result{}, errTimedOut
		}
		<-inf.p.Ready()
	}
	ar, err := inf.p.Result()
	res := inf.result(ar)
	settled = true
	inf.settled <- outcome{res: ar, err: err} // inf belongs to the actor again
	s.release(infShard)
	if err == nil {
		return res, nil
	}
	if errors.Is(err, store.ErrVersionConflict) {
		return comment.Result{}, err
	}
	return comment.Result{}, storeError(err)
}

var errTimedOut = comment.Errorf(comment.CodeOverloaded, "command timed out")

// admit counts a command against the total in-flight bound. Admission
// counts first and looks at closing after (ready), so that Close, which sets
// closing and then waits for the count to reach zero, sees every command
// that got past it.
func (s *System) admit() error {
	if s.inflight.Add(1) > s.maxTotal {
		s.release(nil)
		return comment.Errorf(comment.CodeOverloaded, "too many commands in flight")
	}
	return nil
}

// admitShard counts an admitted command against its shard's bound; on
// failure it releases both counts.
func (s *System) admitShard(sh *shardRef) error {
	if sh.inflight.Add(1) > s.perShard {
		s.release(sh)
		return comment.Errorf(comment.CodeOverloaded, "too many commands in flight")
	}
	return nil
}

// ready fails a command counted by admit (and admitShard when sh is not
// nil) while closing or after the store failed, releasing its counts.
func (s *System) ready(sh *shardRef) error {
	if s.closing.Load() {
		s.release(sh)
		return comment.Errorf(comment.CodeNotReady, "shutting down")
	}
	if err := s.cfg.Store.Err(); err != nil {
		s.release(sh)
		return comment.Errorf(comment.CodeNotReady, "event store unavailable")
	}
	return nil
}

// placeholderID stands for the server id in the decision of a create whose
// id is picked only once it is sequenced: Decide does not depend on the id
// beyond copying it into the event.
const placeholderID = "x"

// createNew carries out a create whose id the server picks (see Send): the
// same admission, checks and answer as through an actor, without the actor.
func (s *System) createNew(ctx context.Context, c comment.Create, start time.Time) (res comment.Result, err error) {
	if ctx.Err() != nil {
		return comment.Result{}, errTimedOut
	}
	if err := s.admit(); err != nil {
		return comment.Result{}, err
	}
	if err := s.ready(nil); err != nil {
		return comment.Result{}, err
	}
	var sh *shardRef // counted once the id, and so the shard, is known
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("actors: panic in a create", "panic", p, "stack", string(debug.Stack()))
			res, err = comment.Result{}, comment.Errorf(comment.CodeInternal, "internal error")
		}
		s.release(sh)
	}()
	if h := s.hooks.beforeDecide; h != nil {
		h(c)
	}
	c.ID = placeholderID
	events, err := comment.Decide(comment.State{}, c)
	if err != nil {
		return comment.Result{}, err
	}
	if len(events) != 1 {
		panic(fmt.Sprintf("actors: a create on the empty state decided %d events", len(events)))
	}
	e := events[0]
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(s.cfg.CommandTimeout))
		defer cancel()
	}
	buf := getBuffer()
	defer putBuffer(buf)
	pending, shard, err := s.sequence(ctx, &e, buf)
	sh = shard
	if err != nil {
		return comment.Result{}, err
	}
	ar, err := pending.Wait()
	if err != nil {
		return comment.Result{}, createError(err, e.CommentID)
	}
	return comment.Result{
		PictureID: e.PictureID,
		ID:        e.CommentID,
		Version:   ar.FirstVersion,
		Position:  ar.FirstPosition,
		Created:   true,
	}, nil
}

// sequence is the sequencer: under seqMu it picks the id, counts the
// command against the id's shard and enqueues the append, so that the ids'
// order is the enqueue order, which is the position order of the appends
// that succeed. It sets e.CommentID and encodes e into buf.
func (s *System) sequence(ctx context.Context, e *comment.Event, buf *[]byte) (*store.Pending, *shardRef, error) {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	e.CommentID = s.ids.next()
	sh := s.shards[shardIndex(e.CommentID, len(s.shards))]
	if sh.inflight.Add(1) > s.perShard {
		sh.inflight.Add(-1)
		return nil, nil, comment.Errorf(comment.CodeOverloaded, "too many commands in flight")
	}
	*buf = comment.AppendEvent((*buf)[:0], *e)
	p, err := s.cfg.Store.AppendAsync(ctx, e.CommentID, 0, *buf)
	if err != nil {
		return nil, sh, createError(err, e.CommentID)
	}
	return p, sh, nil
}

// createError maps the store's answer to a create with a server id.
func createError(err error, id string) error {
	if errors.Is(err, store.ErrVersionConflict) {
		return comment.Errorf(comment.CodeConflict, "comment %s already exists", id)
	}
	return storeError(err)
}

// release undoes the admission counts of one command: the total, and sh's
// when sh is not nil.
func (s *System) release(sh *shardRef) {
	if sh != nil {
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
// exactly once, through finish or hand. Requests are pooled with their
// reply channel; one goes back to the pool only once its caller received
// the answer, never after the caller gave up (state reqAbandoned).
type request struct {
	ctx      context.Context // the caller's
	deadline time.Time       // ctx's deadline, else Send's time + CommandTimeout
	cmd      comment.Command
	sys      *System
	shard    *shardRef
	busy     *atomic.Int32 // set by the shard: its child's count of requests in progress
	over     *atomic.Bool  // set by the shard: its flag of being over its bound
	reply    chan reply    // capacity 1: an answer never blocks
	answered atomic.Bool
	state    atomic.Uint32 // reqWaiting, then reqAppending and/or reqReplied (by the actor) or reqAbandoned (by the caller)
}

// Request states: whoever moves a request out of reqWaiting first decides
// whether the caller takes the answer or the actor finishes alone. The
// actor moves it to reqAppending just before it enqueues the append; the
// caller can then no longer abandon it and waits for the hand-over, which
// follows at once (enqueueing does not block).
const (
	reqWaiting uint32 = iota
	reqAppending
	reqReplied
	reqAbandoned
)

// reply is a final answer (res, err), or an inflight whose append's
// outcome the caller is to wait for.
type reply struct {
	res comment.Result
	err error
	inf *inflight
}

var requestPool = sync.Pool{New: func() any { return &request{reply: make(chan reply, 1)} }}

func getRequest() *request {
	r := requestPool.Get().(*request)
	r.answered.Store(false)
	r.state.Store(reqWaiting)
	return r
}

func putRequest(r *request) {
	r.ctx, r.cmd, r.sys, r.shard, r.busy, r.over = nil, nil, nil, nil, nil, nil
	requestPool.Put(r)
}

// expired reports whether the request's deadline passed or its caller gave
// up.
func (r *request) expired() bool {
	return r.ctx.Err() != nil || !time.Now().Before(r.deadline)
}

// finish answers the request and releases its admission counts. A second
// call is a bug; it is logged and ignored so the caller is never answered
// twice. The send on reply is the last use of r: the caller may recycle it
// at once.
func (r *request) finish(res comment.Result, err error) {
	if !r.answered.CompareAndSwap(false, true) {
		r.sys.log.Error("actors: command answered twice", "id", r.cmd.CommentID())
		return
	}
	r.sys.release(r.shard)
	if r.state.CompareAndSwap(reqWaiting, reqReplied) || r.state.CompareAndSwap(reqAppending, reqReplied) {
		r.reply <- reply{res: res, err: err}
	}
}

// appending tells the caller that the append is about to be enqueued, after
// which it no longer abandons the request. It reports false if the caller
// already gave up: the command must then not be carried out.
func (r *request) appending() bool {
	return r.state.CompareAndSwap(reqWaiting, reqAppending)
}

// hand gives the caller the inflight of the request's append (the request
// is in reqAppending, see appending). On true the caller settles inf and
// releases the admission counts (or hands inf back abandoned), and r may
// be recycled at once; on false (the caller gave up, which appending rules
// out) the actor must settle alone and release them.
func (r *request) hand(inf *inflight) bool {
	if !r.answered.CompareAndSwap(false, true) {
		panic("actors: command answered twice")
	}
	if r.state.CompareAndSwap(reqAppending, reqReplied) || r.state.CompareAndSwap(reqWaiting, reqReplied) {
		r.reply <- reply{inf: inf}
		return true
	}
	return false
}

// timerPool holds stopped timers for callers whose context has no deadline.
var timerPool sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// putTimer stops t and pools it. Since Go 1.23 a stopped timer's channel
// delivers no stale value, so a pooled timer can be reset safely.
func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}

// bufferPool holds event payload buffers; the store reads a payload until
// the append's outcome is known, after which the buffer is reused.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bufferPool.Put(b)
	}
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
	if !s.workers.stop(closeDrainTimeout) {
		s.log.Warn("actors: comment actors still running after shutdown")
	}
}
