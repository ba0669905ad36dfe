package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// workerDispatcher runs the mailboxes of the comment actors and of the
// projection on a pool of long-lived goroutines instead of a new goroutine
// per wake-up (protoactor's default). They decide, encode, append and apply
// on deep stacks; a fresh goroutine grows its stack by copying it several
// times on every wake-up, which cost more CPU than everything else a
// comment actor does. A worker keeps its grown stack between mailboxes.
//
// Schedule hands the mailbox to a parked worker if there is one, else it
// starts a worker for it. After its mailbox a worker parks, unless maxIdle
// workers already are, then it ends. stop ends the parked workers and
// waits (bounded) for the busy ones; a mailbox scheduled after stop runs on
// a goroutine of its own.
type workerDispatcher struct {
	throughput int
	maxIdle    int32
	work       chan func() // unbuffered: a send succeeds only to a parked worker
	quit       chan struct{}
	idle       atomic.Int32

	mu      sync.Mutex
	running int
	stopped bool
	done    chan struct{} // closed once stopped and running == 0
}

var _ actor.Dispatcher = (*workerDispatcher)(nil)

func newWorkerDispatcher(throughput, maxIdle int) *workerDispatcher {
	return &workerDispatcher{
		throughput: throughput,
		maxIdle:    int32(maxIdle),
		work:       make(chan func()),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// Schedule implements actor.Dispatcher.
func (d *workerDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		go fn()
		return
	}
	d.running++
	d.mu.Unlock()
	go d.worker(fn)
}

// Throughput implements actor.Dispatcher.
func (d *workerDispatcher) Throughput() int { return d.throughput }

func (d *workerDispatcher) worker(fn func()) {
	defer d.exit()
	for {
		fn()
		if d.idle.Add(1) > d.maxIdle {
			d.idle.Add(-1)
			return
		}
		select {
		case fn = <-d.work:
			d.idle.Add(-1)
		case <-d.quit:
			d.idle.Add(-1)
			return
		}
	}
}

func (d *workerDispatcher) exit() {
	d.mu.Lock()
	d.running--
	if d.stopped && d.running == 0 {
		close(d.done)
	}
	d.mu.Unlock()
}

// stop ends the parked workers and waits up to timeout for the busy ones.
// It reports whether all ended.
func (d *workerDispatcher) stop(timeout time.Duration) bool {
	d.mu.Lock()
	if !d.stopped {
		d.stopped = true
		close(d.quit)
		if d.running == 0 {
			close(d.done)
		}
	}
	d.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-d.done:
		return true
	case <-t.C:
		return false
	}
}
