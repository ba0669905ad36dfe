package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

type requestKind uint8

const (
	kindAppend requestKind = iota
	kindSnapshot
)

// Request states. A request is queued until the writer takes it into a batch
// or its caller cancels it, whichever CompareAndSwap wins. The winner decides
// who recycles it: a cancelled request is recycled by the writer, a taken one
// by its caller after the answer.
const (
	stateQueued uint32 = iota
	stateTaken
	stateCancelled
)

// request is one Append or SaveSnapshot on its way to the writer. Requests
// are pooled so that the hot path allocates nothing per append.
type request struct {
	state   atomic.Uint32
	kind    requestKind
	s       *Store    // append: the store whose await answers it
	start   time.Time // append: when AppendAsync was called (metrics only)
	ctx     context.Context
	stream  string
	version uint64   // expected version (append) or snapshot version
	data    [][]byte // append
	snap    []byte   // snapshot
	res     AppendResult
	err     error
	done    chan struct{} // capacity 1: the writer's answer
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

func getRequest() *request {
	r := requestPool.Get().(*request)
	r.state.Store(stateQueued)
	return r
}

func putRequest(r *request) {
	r.s, r.ctx, r.stream, r.data, r.snap = nil, nil, "", nil, nil
	r.start = time.Time{}
	r.res, r.err = AppendResult{}, nil
	requestPool.Put(r)
}

// pipelineDepth is how many batches may be in Pebble's hands awaiting their
// WAL sync. While one fsync runs, the writer keeps applying what arrives, so
// Pebble starts the next fsync as soon as one ends and an append waits for
// at most about two fsyncs (with two slots it would often wait for three:
// the batch buffered behind the running fsync is built too early to hold
// it). The bound keeps the writer from applying a tiny batch per arrival
// during a slow fsync; appends then gather in the queue.
const pipelineDepth = 4

// slot is one group-commit batch on its way through the pipeline.
type slot struct {
	batch   *pebble.Batch
	reqs    []*request
	records int    // records written (0: none, positions unchanged)
	lastPos uint64 // position of the last record written
	applied bool   // handed to Pebble: its sync outcome comes from SyncWait
	err     error  // the batch failed before its sync (the store had stopped)
}

// writer owns the commit pipeline. Its goroutine (run) takes a free slot,
// gathers the pending requests, checks them, assigns positions and versions
// and hands the batch to Pebble with ApplyNoSyncWait; the acker goroutine
// (ack) waits for each batch's WAL sync in order, publishes the durable
// position and answers the requests. Everything in writer but the channels
// is owned by the run goroutine; lastPos and lastTime are set by Open
// before it starts.
type writer struct {
	s        *Store
	free     chan *slot        // slots ready for the next batch
	inflight chan *slot        // applied batches in commit order
	heads    map[string]uint64 // stream -> head version; bounded cache of the stream index
	lo, hi   []byte            // key buffers of head lookups
	lastPos  uint64            // last position assigned (durable once its batch is synced)
	lastTime int64

	// beforeCollect, when set (by tests, before start), runs each time the
	// writer received the first request of a batch.
	beforeCollect func()
}

func (w *writer) init(s *Store) {
	w.s = s
	w.heads = make(map[string]uint64)
	w.free = make(chan *slot, pipelineDepth)
	w.inflight = make(chan *slot, pipelineDepth)
	for range pipelineDepth {
		w.free <- &slot{batch: s.db.NewBatch(pebble.WithMaxRetainedSizeBytes(2 * maxBatchBytes))}
	}
}

// start runs the writer and the acker; writerDone is closed once both end,
// after the queue was closed and every batch was answered.
func (w *writer) start() {
	go w.run()
	go w.ack()
}

func (w *writer) run() {
	defer close(w.inflight)
	for {
		sl := <-w.free // blocks while pipelineDepth batches await their sync
		r, ok := <-w.s.queue
		if !ok {
			return
		}
		if w.beforeCollect != nil {
			w.beforeCollect()
		}
		closed := w.collect(sl, r)
		w.build(sl)
		w.inflight <- sl
		if closed {
			return
		}
	}
}

// collect gathers first and every request already queued behind it, up to
// the batch caps. It reports whether the queue was closed.
func (w *writer) collect(sl *slot, first *request) (closed bool) {
	records, size := 0, 0
	add := func(r *request) {
		sl.reqs = append(sl.reqs, r)
		records += len(r.data)
		size += len(r.stream) + len(r.snap)
		for _, d := range r.data {
			size += len(d)
		}
	}
	add(first)
	for records < maxBatchRecords && size < maxBatchBytes {
		select {
		case r, ok := <-w.s.queue:
			if !ok {
				return true
			}
			add(r)
		default:
			return false
		}
	}
	return false
}

// build checks the slot's requests, writes the accepted ones into its
// batch and applies it without waiting for the sync. This is the hot path:
// it reuses the batch, the request slice, the key buffers and the head
// cache, and writes keys in place with SetDeferred.
func (w *writer) build(sl *slot) {
	s := w.s
	// Take ownership; requests cancelled while queued are dropped here.
	taken := sl.reqs[:0]
	for _, r := range sl.reqs {
		if r.state.CompareAndSwap(stateQueued, stateTaken) {
			taken = append(taken, r)
		} else {
			putRequest(r)
		}
	}
	clear(sl.reqs[len(taken):])
	sl.reqs = taken

	if err := s.Err(); err != nil {
		sl.err = err
		return
	}
	// Bound the head cache between batches only: within a batch it holds
	// the heads of appends not yet in Pebble.
	if len(w.heads) >= maxHeadCache {
		clear(w.heads)
	}
	now := time.Now().UnixNano()
	if now < w.lastTime {
		now = w.lastTime
	}
	pos := w.lastPos
	for _, r := range sl.reqs {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		head, err := w.head(r.stream)
		if err != nil {
			r.err = err
			continue
		}
		if r.kind == kindSnapshot {
			r.err = w.putSnapshot(sl.batch, r, head)
			continue
		}
		if r.version != AnyVersion && r.version != head {
			r.err = fmt.Errorf("%w: stream %q is at version %d, expected %d", ErrVersionConflict, r.stream, head, r.version)
			continue
		}
		r.res = AppendResult{FirstPosition: pos + 1, FirstVersion: head + 1, Time: now}
		for _, d := range r.data {
			pos++
			head++
			putEvent(sl.batch, r.stream, pos, head, now, d)
		}
		w.heads[r.stream] = head
		sl.records += len(r.data)
	}
	// The stream index keys go after all the event keys: Pebble inserts a
	// batch into its memtable in order, reusing the previous insert's place
	// in the skiplist when it brackets the next key, which makes a run of
	// ascending event keys cheap.
	for _, r := range sl.reqs {
		if r.kind != kindAppend || r.err != nil {
			continue
		}
		for j := range r.data {
			putIndex(sl.batch, r.stream, r.res.FirstVersion+uint64(j), r.res.FirstPosition+uint64(j))
		}
	}
	if sl.batch.Empty() {
		return
	}
	if err := s.apply(sl.batch); err != nil {
		sl.err = s.fail(err)
		return
	}
	sl.applied = true
	if sl.records > 0 {
		sl.lastPos = pos
		w.lastPos, w.lastTime = pos, now
	}
}

// ack answers the batches in commit order once their WAL sync is done.
func (w *writer) ack() {
	defer close(w.s.writerDone)
	for sl := range w.inflight {
		w.finish(sl)
		w.free <- sl
	}
}

func (w *writer) finish(sl *slot) {
	s := w.s
	err := sl.err
	if sl.applied {
		if serr := sl.batch.SyncWait(); serr != nil && err == nil {
			err = s.fail(serr)
		}
	}
	if err == nil {
		// A batch after a failed one is not acknowledged even if its own
		// sync reported success: the failed sync may have lost earlier data
		// that this batch builds on.
		err = s.Err()
	}
	if err == nil && sl.records > 0 {
		s.last.Store(sl.lastPos)
		s.wake()
		if s.met != nil {
			s.met.batchRecords.Observe(float64(sl.records))
		}
	}
	for i, r := range sl.reqs {
		if err != nil {
			r.res, r.err = AppendResult{}, err
		}
		r.done <- struct{}{}
		sl.reqs[i] = nil
	}
	sl.reqs = sl.reqs[:0]
	if err == nil {
		sl.batch.Reset()
	}
	sl.records, sl.lastPos, sl.applied, sl.err = 0, 0, false, nil
}

// head returns the stream's current version: from the cache, else from the
// stream's last index key (0 when the stream does not exist). Pebble shows
// the batches applied but not yet synced, as the cache does; if one of them
// fails, nothing after it is acknowledged.
func (w *writer) head(stream string) (uint64, error) {
	if v, ok := w.heads[stream]; ok {
		return v, nil
	}
	w.lo = appendStreamKey(w.lo[:0], stream, 0)
	w.hi = appendStreamKey(w.hi[:0], stream, ^uint64(0))
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: w.lo, UpperBound: w.hi})
	if err != nil {
		return 0, fmt.Errorf("store: read head of %q: %w", stream, err)
	}
	var v uint64
	if it.Last() {
		k := it.Key()
		v = binary.BigEndian.Uint64(k[len(k)-8:])
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("store: read head of %q: %w", stream, err)
	}
	w.heads[stream] = v
	return v, nil
}

func putEvent(b *pebble.Batch, stream string, pos, version uint64, t int64, data []byte) {
	op := b.SetDeferred(eventKeyLen, recordLen(stream, data))
	putEventKey(op.Key, pos)
	putRecord(op.Value, stream, version, t, data)
	finish(op)
}

func putIndex(b *pebble.Batch, stream string, version, pos uint64) {
	op := b.SetDeferred(streamKeyLen(stream), 8)
	putStreamKey(op.Key, stream, version)
	binary.BigEndian.PutUint64(op.Value, pos)
	finish(op)
}

func (w *writer) putSnapshot(b *pebble.Batch, r *request, head uint64) error {
	if r.version > head {
		return fmt.Errorf("store: snapshot of %q at version %d beyond its head %d", r.stream, r.version, head)
	}
	op := b.SetDeferred(1+len(r.stream), 8+len(r.snap))
	op.Key[0] = prefixSnapshot
	copy(op.Key[1:], r.stream)
	binary.BigEndian.PutUint64(op.Value, r.version)
	copy(op.Value[8:], r.snap)
	finish(op)
	return nil
}

// finish completes a deferred batch operation. Finish fails only for an
// indexed batch, and the writer's batch is not indexed.
func finish(op *pebble.DeferredBatchOp) {
	if err := op.Finish(); err != nil {
		panic(fmt.Sprintf("store: unindexed batch operation failed: %v", err))
	}
}

// apply hands b to Pebble for a synced commit without waiting for the sync
// (ApplyNoSyncWait); the acker waits with Batch.SyncWait, which returns the
// WAL write or sync error. Pebble reports other commit failures through
// Logger.Fatalf (our pebbleLogger stops the store instead of exiting) and
// may panic when a batch is written to a WAL writer that already failed;
// both become errors here. A panic inside the commit pipeline leaves its
// mutex locked, so the store is then marked poisoned and Close leaves
// Pebble alone (DB.Close would block).
func (s *Store) apply(b *pebble.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.poisoned.Store(true)
			err = fmt.Errorf("pebble panic: %v", r)
		}
	}()
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return err
	}
	return s.Err() // set by a Fatalf during the apply
}

// fail records the fail-stop cause (the first one wins), wakes waiters and
// returns the stored error.
func (s *Store) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	if s.failed.CompareAndSwap(nil, &err) {
		s.log.Error("event store stopped after a write failure", "err", cause)
		s.wake()
	}
	return s.Err()
}

// wake releases every Wait blocked on the current notify channel.
func (s *Store) wake() {
	s.notifyMu.Lock()
	if !s.stopped {
		close(s.notify)
		s.notify = make(chan struct{})
	}
	s.notifyMu.Unlock()
}
