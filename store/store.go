package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// AnyVersion as the expected version of Append skips the version check.
const AnyVersion = ^uint64(0)

// Sentinel errors. Test for them with errors.Is: the returned errors may wrap
// them with context.
var (
	// ErrVersionConflict: the stream's current version is not the expected one.
	ErrVersionConflict = errors.New("store: version conflict")
	// ErrOverloaded: the append queue is full; retry later.
	ErrOverloaded = errors.New("store: overloaded")
	// ErrClosed: the store is closed or closing.
	ErrClosed = errors.New("store: closed")
	// ErrFailed: a write or sync failed and the store stopped (fail-stop). The
	// appends of the failed batch were not acknowledged; reopen to recover.
	ErrFailed = errors.New("store: failed")
)

const (
	defaultQueueSize = 8192
	// maxBatchRecords and maxBatchBytes cap one group commit. An append is
	// never split, so one batch may exceed them by its last append.
	maxBatchRecords = 4096
	maxBatchBytes   = 4 << 20
	memTableSize    = 64 << 20
	cacheSize       = 64 << 20
)

// maxHeadCache bounds the writer's cache of stream heads; it is emptied when
// full, between batches (every entry can be read back from the head keys).
// A variable so that tests can make eviction frequent.
var maxHeadCache = 1 << 16

// Options configure Open. The zero value is usable.
type Options struct {
	FS         vfs.FS                // nil: vfs.Default. Tests inject errorfs or vfs.NewMem.
	QueueSize  int                   // bound on pending appends; 0: 8192. Full: ErrOverloaded at once.
	Registerer prometheus.Registerer // nil: no metrics
	Logger     *slog.Logger          // nil: discard
}

// Record is one event of the log.
type Record struct {
	Position uint64 // global, gap-free, from 1
	Stream   string
	Version  uint64 // per stream, contiguous from 1
	Time     int64  // commit time, Unix ns, non-decreasing in position order
	Data     []byte
}

// AppendResult is what Append assigned.
type AppendResult struct {
	FirstPosition uint64 // the records got positions FirstPosition, FirstPosition+1, ...
	FirstVersion  uint64 // and versions FirstVersion, FirstVersion+1, ...
	Time          int64  // their commit time (Unix ns)
}

// Store is the event log. All methods are safe for concurrent use.
//
// Design: appends travel through a bounded queue to a single writer goroutine
// (writer.go) that owns position assignment and the stream-head cache, so
// neither needs a lock. An acker goroutine waits for each batch's WAL sync in
// commit order and only then publishes the durable position in an atomic and
// answers the batch; readers bound every read by that atomic, which is what
// keeps unsynced records invisible. Close stops intake, lets the pipeline
// commit what was queued, refuses new reads and waits for those in progress
// before it closes Pebble, so no reader touches a closed database.
type Store struct {
	db     *pebble.DB
	log    *slog.Logger
	queue  chan *request
	failed atomic.Pointer[error] // fail-stop cause, wrapping ErrFailed
	last   atomic.Uint64         // newest durable position
	// poisoned: Pebble panicked inside Apply; its commit pipeline may hold
	// a lock forever, so Close must not call DB.Close.
	poisoned atomic.Bool
	met      *metrics

	// sendMu guards closed against sends on queue: Append holds it shared
	// while it checks closed and enqueues; Close holds it exclusively to set
	// closed before it closes queue.
	sendMu sync.RWMutex
	closed bool

	// readMu guards the count of reads in progress (see acquire).
	readMu      sync.Mutex
	readers     int
	readClosed  bool
	readersGone chan struct{} // closed when readers drops to 0 after readClosed

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after every durable batch
	stopped  bool          // under notifyMu: Close began; Wait returns ErrClosed

	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	w writer // the commit pipeline (writer.go)
}

// Open opens (creating if needed) the event log in dir and starts its writer.
func Open(dir string, opts Options) (*Store, error) {
	return open(dir, opts, nil)
}

func open(dir string, opts Options, beforeCollect func()) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	qs := opts.QueueSize
	if qs <= 0 {
		qs = defaultQueueSize
	}
	s := &Store{
		log:        log,
		queue:      make(chan *request, qs),
		notify:     make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		FS:                 opts.FS,
		Cache:              cache,
		MemTableSize:       memTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             &pebbleLogger{log: log, fatal: func(err error) { s.fail(err) }},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s.db = db
	if err := s.recover(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.w.init(s)
	s.w.beforeCollect = beforeCollect
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer, s)
		if err != nil {
			return nil, errors.Join(err, db.Close())
		}
		s.met = m
	}
	s.w.start()
	return s, nil
}

// recover checks the format version and finds the last position and time.
func (s *Store) recover() error {
	v, closer, err := s.db.Get(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set(formatKey, binary.BigEndian.AppendUint32(nil, FormatVersion), pebble.Sync); err != nil {
			return fmt.Errorf("store: write format version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("store: read format version: %w", err)
	default:
		defer closer.Close()
		if len(v) != 4 {
			return fmt.Errorf("%w: format version of %d bytes", errCorrupt, len(v))
		}
		if f := binary.BigEndian.Uint32(v); f > FormatVersion {
			return fmt.Errorf("store: database format version %d is newer than %d", f, FormatVersion)
		}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return fmt.Errorf("store: recover last position: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	pos, err := decodeEventKey(it.Key())
	if err != nil {
		return err
	}
	val, err := it.ValueAndErr()
	if err != nil {
		return fmt.Errorf("store: recover last position: %w", err)
	}
	_, _, t, _, err := decodeRecord(val)
	if err != nil {
		return fmt.Errorf("store: record at position %d: %w", pos, err)
	}
	s.last.Store(pos)
	s.w.lastPos, s.w.lastTime = pos, t
	return nil
}

// Close stops accepting appends (later ones fail with ErrClosed), commits
// what was already queued, wakes waiters with ErrClosed and closes Pebble.
// It is idempotent; every call returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.sendMu.Lock()
		s.closed = true
		s.sendMu.Unlock()
		close(s.queue)
		<-s.writerDone

		s.notifyMu.Lock()
		s.stopped = true
		close(s.notify)
		s.notifyMu.Unlock()

		s.closeReads()
		s.closeErr = s.closeDB()
		if s.met != nil {
			s.met.unregister()
		}
	})
	return s.closeErr
}

// closeDB flushes the memtable of a healthy store (so the next Open replays
// less WAL) and closes Pebble. A failed store skips the flush: its memtable
// may hold a batch whose sync failed.
func (s *Store) closeDB() (err error) {
	if s.poisoned.Load() {
		return fmt.Errorf("store: close: not closing Pebble after it panicked: %w", s.Err())
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: close: pebble panic: %v", r)
		}
	}()
	if s.Err() == nil {
		if ferr := s.db.Flush(); ferr != nil {
			err = fmt.Errorf("store: flush: %w", ferr)
		}
	}
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("store: close: %w", cerr))
	}
	return err
}

// Err reports nil while the store is healthy and an error wrapping ErrFailed
// (and the cause) after it stopped on a write or sync failure.
func (s *Store) Err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// LastPosition returns the newest durable position (0 when the log is empty).
func (s *Store) LastPosition() uint64 { return s.last.Load() }

// Append appends data as consecutive records of stream if the stream's
// current version is expectedVersion (0: the stream must not exist yet;
// AnyVersion: no check). It returns only once the records are durable, or
// with an error: ErrVersionConflict, ErrOverloaded (queue full, at once),
// ErrClosed, ErrFailed, or ctx.Err() when ctx ended before the records were
// written (they then never will be). Once the writer has taken the append
// into a batch, Append waits for that batch's outcome whatever ctx does.
// The data slices are read until Append returns; they are not retained.
//
// Append is AppendAsync followed by Wait.
func (s *Store) Append(ctx context.Context, stream string, expectedVersion uint64, data ...[]byte) (AppendResult, error) {
	p, err := s.AppendAsync(ctx, stream, expectedVersion, data...)
	if err != nil {
		return AppendResult{}, err
	}
	return p.Wait()
}

// Pending is an append handed to the writer by AppendAsync whose outcome is
// not known yet. Exactly one of Wait, Result after a value was received
// from Ready, or a Cancel that reported true must be called, once (a Cancel
// that reported false may precede the others); the Pending must not be
// used after.
type Pending request

// AppendAsync is the first half of Append: it checks the arguments and
// hands the append to the writer's queue without waiting for it. The
// append's outcome, the same as Append's, comes from Wait on the returned
// Pending. An error (an invalid stream or no data, ctx already ended,
// ErrFailed, ErrClosed, ErrOverloaded) means the append was not queued and
// there is nothing to wait for.
//
// Enqueue order is position order: if AppendAsync for an append a returned
// before AppendAsync for an append b was called, and both succeed, every
// position of a is lower than every position of b. (The queue is a FIFO
// channel with a single consumer, the writer, which takes requests into
// batches in queue order, assigns positions within a batch in that order,
// and builds batches one after another; an append that fails takes no
// position and does not reorder the others.) A caller that serialises its
// calls to AppendAsync, for instance under a mutex, thus decides the order
// of the positions before any of the appends is durable.
//
// The data slices are read until Wait returns; they are not retained.
func (s *Store) AppendAsync(ctx context.Context, stream string, expectedVersion uint64, data ...[]byte) (*Pending, error) {
	var start time.Time
	if s.met != nil {
		start = time.Now()
	}
	r, err := s.enqueueAppend(ctx, stream, expectedVersion, data)
	if err != nil {
		if s.met != nil {
			s.met.observeAppend(start, err)
		}
		return nil, err
	}
	r.start = start
	return (*Pending)(r), nil
}

// Wait waits for the outcome of the append: it returns once the records are
// durable, or with an error as Append does. While the append is still
// queued, the end of the context given to AppendAsync cancels it.
func (p *Pending) Wait() (AppendResult, error) {
	r := (*request)(p)
	s, start := r.s, r.start
	res, err := s.await(r.ctx, r)
	if s.met != nil {
		s.met.observeAppend(start, err)
	}
	return res, err
}

// Ready returns a channel that receives one value once the outcome of the
// append is known. A caller that received it must call Result, not Wait,
// to get the outcome. Unlike Wait, Ready does not watch the context given
// to AppendAsync: a caller that stops waiting on Ready calls Wait to settle
// the append.
func (p *Pending) Ready() <-chan struct{} { return p.done }

// Result returns the outcome of the append once a value was received from
// Ready. Like Wait, it releases the Pending.
func (p *Pending) Result() (AppendResult, error) {
	r := (*request)(p)
	s, start := r.s, r.start
	res, err := r.res, r.err
	putRequest(r)
	if s.met != nil {
		s.met.observeAppend(start, err)
	}
	return res, err
}

// Cancel withdraws the append if the writer has not taken it yet: it then
// reports true, the append is never written and takes no position, and the
// Pending is released (it must not be used after). It reports false once
// the writer took the append into a batch; the outcome then comes from
// Wait, or from Ready and Result, as usual.
func (p *Pending) Cancel() bool {
	r := (*request)(p)
	s, start := r.s, r.start
	if !r.state.CompareAndSwap(stateQueued, stateCancelled) {
		return false
	}
	// The writer will skip r and recycle it.
	if s.met != nil {
		s.met.observeAppend(start, context.Canceled)
	}
	return true
}

func (s *Store) enqueueAppend(ctx context.Context, stream string, expectedVersion uint64, data [][]byte) (*request, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errors.New("store: append of no records")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	r := getRequest()
	r.kind = kindAppend
	r.s = s
	r.ctx = ctx
	r.stream = stream
	r.version = expectedVersion
	r.data = data
	if err := s.enqueue(r); err != nil {
		putRequest(r)
		return nil, err
	}
	return r, nil
}

// enqueue hands r to the writer without blocking.
func (s *Store) enqueue(r *request) error {
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- r:
		return nil
	default:
		return ErrOverloaded
	}
}

// await waits for the writer's answer to r, or for ctx while r is still
// queued. It recycles r unless the writer now owns it.
func (s *Store) await(ctx context.Context, r *request) (AppendResult, error) {
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateCancelled) {
			// The writer will skip r and recycle it.
			return AppendResult{}, ctx.Err()
		}
		<-r.done // taken into a batch: its outcome is coming
	}
	res, err := r.res, r.err
	putRequest(r)
	return res, err
}
