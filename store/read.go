package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// acquire holds the database open for a read; the caller must call release.
// Reads may nest (fn of ScanAll may read again): once Close began, new
// reads fail with ErrClosed while the ones in progress finish.
func (s *Store) acquire() error {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.readClosed {
		return ErrClosed
	}
	s.readers++
	return nil
}

func (s *Store) release() {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.readers--
	if s.readers == 0 && s.readersGone != nil {
		close(s.readersGone)
		s.readersGone = nil
	}
}

// closeReads refuses new reads and waits for those in progress.
func (s *Store) closeReads() {
	s.readMu.Lock()
	s.readClosed = true
	if s.readers == 0 {
		s.readMu.Unlock()
		return
	}
	gone := make(chan struct{})
	s.readersGone = gone
	s.readMu.Unlock()
	<-gone
}

// rawFunc receives one record; stream and data alias Pebble's memory and
// are valid only during the call.
type rawFunc func(pos uint64, stream []byte, version uint64, t int64, data []byte) error

// scan calls fn for each durable record with a position in (after, end],
// where end is LastPosition bounded by limit (limit <= 0: no bound).
func (s *Store) scan(after uint64, limit int, fn rawFunc) error {
	last := s.last.Load()
	if after >= last {
		return nil
	}
	end := last
	if limit > 0 && uint64(limit) < last-after {
		end = after + uint64(limit)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	var lower, upper [eventKeyLen]byte
	putEventKey(lower[:], after+1)
	putEventKey(upper[:], end+1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower[:], UpperBound: upper[:]})
	if err != nil {
		return fmt.Errorf("store: read log: %w", err)
	}
	want := after + 1
	for ok := it.First(); ok; ok = it.Next() {
		pos, err := decodeEventKey(it.Key())
		if err == nil && pos != want {
			err = fmt.Errorf("%w: position %d where %d was expected", errCorrupt, pos, want)
		}
		if err != nil {
			return errors.Join(err, it.Close())
		}
		val, err := it.ValueAndErr()
		if err != nil {
			break // reported by it.Close
		}
		stream, version, t, data, err := decodeRecord(val)
		if err != nil {
			return errors.Join(fmt.Errorf("store: position %d: %w", pos, err), it.Close())
		}
		if err := fn(pos, stream, version, t, data); err != nil {
			return errors.Join(err, it.Close())
		}
		want++
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: read log: %w", err)
	}
	if want != end+1 {
		return fmt.Errorf("%w: log ends at position %d, want %d", errCorrupt, want-1, end)
	}
	return nil
}

// ScanAll calls fn for every durable record with Position > after, in
// position order, at most limit of them (limit <= 0: all). It stops at the
// first error fn returns and returns it. Record.Data aliases Pebble's memory
// and is valid only during the call (Record.Stream is an ordinary string).
// fn may call the store's other methods but Close, which waits for ScanAll
// to return.
func (s *Store) ScanAll(after uint64, limit int, fn func(Record) error) error {
	var prev string
	return s.scan(after, limit, func(pos uint64, stream []byte, version uint64, t int64, data []byte) error {
		if string(stream) != prev {
			prev = string(stream)
		}
		return fn(Record{Position: pos, Stream: prev, Version: version, Time: t, Data: data})
	})
}

// ReadAll returns the durable records with Position > after, ascending, at
// most limit of them (limit <= 0: all). The records own their memory.
func (s *Store) ReadAll(after uint64, limit int) ([]Record, error) {
	last := s.last.Load() // once: a commit between two loads could underflow n
	n := last - min(after, last)
	if limit > 0 && uint64(limit) < n {
		n = uint64(limit)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]Record, 0, n)
	var c copier
	err := s.scan(after, limit, func(pos uint64, stream []byte, version uint64, t int64, data []byte) error {
		out = append(out, Record{Position: pos, Stream: c.stream(stream), Version: version, Time: t, Data: c.bytes(data)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// copier copies record data into shared slabs (one allocation for many
// records) and reuses the previous stream string when it repeats.
type copier struct {
	slab []byte
	prev string
}

func (c *copier) bytes(b []byte) []byte {
	if cap(c.slab)-len(c.slab) < len(b) {
		size := min(max(2*cap(c.slab), 4<<10), 1<<20)
		c.slab = make([]byte, 0, max(size, len(b)))
	}
	start := len(c.slab)
	c.slab = append(c.slab, b...)
	return c.slab[start:len(c.slab):len(c.slab)]
}

func (c *copier) stream(b []byte) string {
	if string(b) != c.prev {
		c.prev = string(b)
	}
	return c.prev
}

// ReadStream returns the stream's durable records with Version >=
// fromVersion (0 and 1 both mean from the start), in version order. An
// unknown stream has no records.
func (s *Store) ReadStream(stream string, fromVersion uint64) ([]Record, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	fromVersion = max(fromVersion, 1)
	last := s.last.Load()
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	lower := appendStreamKey(nil, stream, fromVersion)
	upper := appendStreamKey(nil, stream, ^uint64(0))
	idx, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("store: read stream %q: %w", stream, err)
	}
	defer idx.Close()
	events, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1},
	})
	if err != nil {
		return nil, fmt.Errorf("store: read stream %q: %w", stream, err)
	}
	defer events.Close()
	var out []Record
	var c copier
	var key [eventKeyLen]byte
	want := fromVersion
	for ok := idx.First(); ok; ok = idx.Next() {
		k := idx.Key()
		version := binary.BigEndian.Uint64(k[len(k)-8:])
		val, err := idx.ValueAndErr()
		if err != nil {
			break
		}
		pos, err := decodeUint64(val)
		if err != nil {
			return nil, fmt.Errorf("store: stream %q version %d: %w", stream, version, err)
		}
		if pos > last {
			break
		}
		if version != want {
			return nil, fmt.Errorf("%w: stream %q has version %d where %d was expected", errCorrupt, stream, version, want)
		}
		putEventKey(key[:], pos)
		if !events.SeekGE(key[:]) || string(events.Key()) != string(key[:]) {
			if err := events.Error(); err != nil {
				return nil, fmt.Errorf("store: read stream %q: %w", stream, err)
			}
			return nil, fmt.Errorf("%w: stream %q version %d: no event at position %d", errCorrupt, stream, version, pos)
		}
		ev, err := events.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("store: read stream %q: %w", stream, err)
		}
		rs, rv, t, data, err := decodeRecord(ev)
		if err != nil || string(rs) != stream || rv != version {
			return nil, fmt.Errorf("%w: position %d does not hold stream %q version %d (%v)", errCorrupt, pos, stream, version, err)
		}
		out = append(out, Record{Position: pos, Stream: stream, Version: version, Time: t, Data: c.bytes(data)})
		want++
	}
	if err := idx.Error(); err != nil {
		return nil, fmt.Errorf("store: read stream %q: %w", stream, err)
	}
	return out, nil
}

// SaveSnapshot stores data as the stream's snapshot at version, replacing
// the previous one. The version must not be beyond the stream's head. The
// snapshot goes through the writer and is synced with its batch; a snapshot
// is an optimisation its owner can rebuild from the stream's events.
func (s *Store) SaveSnapshot(stream string, version uint64, data []byte) error {
	if err := validStream(stream); err != nil {
		return err
	}
	if version == 0 {
		return errors.New("store: snapshot at version 0")
	}
	if err := s.Err(); err != nil {
		return err
	}
	r := getRequest()
	r.kind = kindSnapshot
	r.ctx = context.Background()
	r.stream = stream
	r.version = version
	r.snap = data
	if err := s.enqueue(r); err != nil {
		putRequest(r)
		return err
	}
	_, err := s.await(context.Background(), r)
	return err
}

// LoadSnapshot returns the stream's latest snapshot and the version it
// reflects: version 0, nil data and a nil error when there is none. The data
// is a copy the caller owns.
func (s *Store) LoadSnapshot(stream string) (version uint64, data []byte, err error) {
	if err := validStream(stream); err != nil {
		return 0, nil, err
	}
	if err := s.acquire(); err != nil {
		return 0, nil, err
	}
	defer s.release()
	val, closer, err := s.db.Get(appendSnapshotKey(nil, stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store: load snapshot of %q: %w", stream, err)
	}
	defer closer.Close()
	if len(val) < 8 {
		return 0, nil, fmt.Errorf("%w: snapshot of %q has %d bytes", errCorrupt, stream, len(val))
	}
	return binary.BigEndian.Uint64(val), append([]byte{}, val[8:]...), nil
}

// Wait blocks until LastPosition() > after and returns it. It returns early
// with ctx.Err(), ErrClosed once Close began, or the fail-stop error; the
// position returned with an error is the current one. It does not poll:
// the writer wakes it after each durable batch.
func (s *Store) Wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		s.notifyMu.Lock()
		ch, stopped := s.notify, s.stopped
		s.notifyMu.Unlock()
		last := s.last.Load()
		switch {
		case last > after:
			return last, nil
		case stopped:
			return last, ErrClosed
		}
		if err := s.Err(); err != nil {
			return last, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s.last.Load(), ctx.Err()
		}
	}
}
