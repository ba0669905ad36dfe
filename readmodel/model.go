package readmodel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCacheBytes is the in-memory index budget when Options.CacheBytes is 0.
const DefaultCacheBytes = 64 << 20

// ErrClosed is returned by every method of a closed Model.
var ErrClosed = errors.New("readmodel: closed")

// Options configures Open.
type Options struct {
	FS         vfs.FS                // nil: vfs.Default
	CacheBytes int64                 // bound of the in-memory index (approximate bytes); 0: DefaultCacheBytes
	Registerer prometheus.Registerer // nil: no metrics
	Logger     *slog.Logger          // nil: discard
}

// Comment is one live comment as queries show it.
type Comment struct {
	ID        string
	PictureID string
	Author    string
	Text      string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   uint64
}

// Page is one page of a picture's comments, in creation order. Next is the
// cursor of the following page, "" (JSON null) when no comment follows.
type Page struct {
	Comments []Comment
	Next     string
}

// Model is the read model: the read store plus the in-memory index.
//
// Apply must be called by one goroutine at a time (the projection); every
// other method is safe for concurrent use. Queries never block on Apply:
// they read immutable snapshots. Close must be called once the model is no
// longer used; it is idempotent.
type Model struct {
	db     *pebble.DB
	log    *slog.Logger
	cache  *cache
	opened []prometheus.Collector
	reg    prometheus.Registerer

	pos atomic.Uint64 // published position: everything up to it is visible

	waitMu sync.Mutex
	waitCh chan struct{} // closed and replaced by each Apply and by Close

	// dbMu is held for reading by every use of db, and for writing by
	// Close, so that the database is never used after it is closed.
	dbMu   sync.RWMutex
	closed bool

	applyMu sync.Mutex
	pending map[string]*pending // scratch of Apply, reused
	changed []*pending          // scratch of Apply, reused
	byID    []*pending          // scratch of Apply, reused
	keyBuf  []byte
	valBuf  []byte
}

// Open opens (creating if needed) the read store in dir. It fails if dir
// holds a store of another format version; such a store is deleted and
// rebuilt from the event log rather than migrated.
func Open(dir string, opts Options) (*Model, error) {
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.CacheBytes < 0 {
		return nil, fmt.Errorf("readmodel: negative CacheBytes %d", opts.CacheBytes)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Apply writes one batch per call and reads a comment by id for every
	// update and deletion, mostly of comments no longer in the memtable:
	// bloom filters and a block cache that holds the filters and the hot
	// by-id blocks keep those reads off the disk; a large memtable keeps
	// flushes from stalling the projection.
	po := &pebble.Options{
		FS:           opts.FS,
		Logger:       pebbleLogger{log},
		MemTableSize: 32 << 20,
		CacheSize:    64 << 20,
	}
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10) // inherited by the other levels
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("readmodel: open %s: %w", dir, err)
	}
	m := &Model{
		db:      db,
		log:     log,
		cache:   newCache(opts.CacheBytes),
		waitCh:  make(chan struct{}),
		pending: make(map[string]*pending),
	}
	cp, err := m.checkFormat()
	if err != nil {
		db.Close()
		return nil, err
	}
	m.pos.Store(cp)
	if opts.Registerer != nil {
		if err := m.register(opts.Registerer); err != nil {
			db.Close()
			return nil, err
		}
	}
	return m, nil
}

// checkFormat writes the format version into an empty store, or checks it,
// and returns the checkpoint.
func (m *Model) checkFormat() (uint64, error) {
	v, closer, err := m.db.Get(keyFormatVersion)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		it, err := m.db.NewIter(nil)
		if err != nil {
			return 0, fmt.Errorf("readmodel: %w", err)
		}
		empty := !it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return 0, fmt.Errorf("readmodel: %w", err)
		}
		if !empty {
			return 0, corruptf("no format version")
		}
		err = m.db.Set(keyFormatVersion, binary.BigEndian.AppendUint32(nil, formatVersion), pebble.Sync)
		if err != nil {
			return 0, fmt.Errorf("readmodel: write format version: %w", err)
		}
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("readmodel: read format version: %w", err)
	}
	ok := len(v) == 4 && binary.BigEndian.Uint32(v) == formatVersion
	got := append([]byte(nil), v...)
	closer.Close()
	if !ok {
		return 0, fmt.Errorf("readmodel: store format %x, want %d: delete the read store to rebuild it", got, formatVersion)
	}
	v, closer, err = m.db.Get(keyCheckpoint)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("readmodel: read checkpoint: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, corruptf("checkpoint of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the read store, unregisters the metrics and wakes every
// WaitForPosition with ErrClosed. It is idempotent.
func (m *Model) Close() error {
	m.dbMu.Lock()
	if m.closed {
		m.dbMu.Unlock()
		return nil
	}
	m.closed = true
	err := m.db.Close()
	m.dbMu.Unlock()

	m.waitMu.Lock()
	close(m.waitCh)
	m.waitMu.Unlock()
	if m.reg != nil {
		for _, c := range m.opened {
			m.reg.Unregister(c)
		}
	}
	if err != nil {
		return fmt.Errorf("readmodel: close: %w", err)
	}
	return nil
}

// Position returns the checkpoint: the position of the last applied event
// (0 when none). Every query that starts after Position returned n reflects
// at least position n.
func (m *Model) Position() uint64 { return m.pos.Load() }

// WaitForPosition blocks until the model reflects at least position pos and
// returns the current position. It returns ctx's error when ctx ends first
// and ErrClosed when the model is closed. It does not poll: each Apply wakes
// the waiters.
func (m *Model) WaitForPosition(ctx context.Context, pos uint64) (uint64, error) {
	for {
		if cur := m.pos.Load(); cur >= pos {
			return cur, nil
		}
		m.waitMu.Lock()
		ch := m.waitCh
		m.waitMu.Unlock()
		// Re-check: an Apply may have published between the load and
		// taking the channel (it publishes before it replaces it).
		if cur := m.pos.Load(); cur >= pos {
			return cur, nil
		}
		select {
		case <-ch:
			m.dbMu.RLock()
			closed := m.closed
			m.dbMu.RUnlock()
			if closed {
				return m.pos.Load(), ErrClosed
			}
		case <-ctx.Done():
			return m.pos.Load(), ctx.Err()
		}
	}
}

// publish makes position pos visible and wakes the waiters.
func (m *Model) publish(pos uint64) {
	m.pos.Store(pos)
	m.waitMu.Lock()
	close(m.waitCh)
	m.waitCh = make(chan struct{})
	m.waitMu.Unlock()
}

// pebbleLogger sends Pebble's log lines to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "db", "readmodel")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "db", "readmodel")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "db", "readmodel")
	panic(msg)
}
