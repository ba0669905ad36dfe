package readmodel

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/commentd/commentd/comment"
)

// pending is the state of one comment while a batch of events is applied.
type pending struct {
	rec     record
	inStore bool // the comment is in the store (it was created by an earlier batch)
	deleted bool
	changed bool // listed in Model.changed
}

// Apply applies committed events, in position order, starting right after
// Position() (events at or below Position() are skipped as already applied;
// a gap is an error). It writes all their changes and the new checkpoint in
// one batch (NoSync: the store is rebuilt from the log after a crash),
// updates the cached pictures, then publishes the new position and wakes
// WaitForPosition. On error nothing is applied.
//
// An event that cannot apply (an update of an unknown or deleted comment, a
// creation whose version is not 1, a stale version) is skipped with a
// warning rather than corrupting the model; the event log's rules make it
// impossible.
//
// Apply must not be called concurrently with itself.
func (m *Model) Apply(events []comment.Event) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	cur := m.pos.Load()
	for len(events) > 0 && events[0].Position <= cur {
		events = events[1:]
	}
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if want := cur + 1 + uint64(i); events[i].Position != want {
			return fmt.Errorf("readmodel: apply: event at position %d, want %d", events[i].Position, want)
		}
	}
	last := events[len(events)-1].Position

	clear(m.pending)
	m.changed = m.changed[:0]
	for i := range events {
		if err := m.applyEvent(&events[i]); err != nil {
			return err
		}
	}
	// Sorted keys make the memtable inserts cheaper: each insert starts
	// its skiplist search from the previous one's position.
	slices.SortFunc(m.changed, func(a, b *pending) int {
		if c := cmp.Compare(a.rec.PictureID, b.rec.PictureID); c != 0 {
			return c
		}
		return cmp.Compare(a.rec.Pos, b.rec.Pos)
	})
	m.byID = append(m.byID[:0], m.changed...)
	slices.SortFunc(m.byID, func(a, b *pending) int { return cmp.Compare(a.rec.ID, b.rec.ID) })
	if err := m.write(last); err != nil {
		return err
	}
	m.updateIndex(last)
	m.publish(last)
	return nil
}

// applyEvent folds e into m.pending.
func (m *Model) applyEvent(e *comment.Event) error {
	if !validID(e.CommentID) || !validID(e.PictureID) {
		m.skip(e, "invalid identifier")
		return nil
	}
	if e.Type == comment.TypeCreated {
		// The log gives a comment's creation version 1 and never a second
		// version 1 to the same id, so this needs no read.
		if e.Version != 1 {
			m.skip(e, "creation with a version other than 1")
			return nil
		}
		if _, ok := m.pending[e.CommentID]; ok {
			m.skip(e, "comment exists")
			return nil
		}
		at := e.At.UnixNano()
		p := &pending{rec: record{
			PictureID: e.PictureID, Pos: e.Position, ID: e.CommentID, Author: e.Author,
			Text: e.Text, CreatedAt: at, UpdatedAt: at, Version: e.Version,
		}}
		m.pending[e.CommentID] = p
		m.markChanged(p)
		return nil
	}
	p, err := m.lookup(e.CommentID, e.PictureID)
	switch {
	case err != nil:
		return err
	case p == nil:
		m.skip(e, "unknown comment")
		return nil
	case p.deleted:
		m.skip(e, "deleted comment")
		return nil
	case p.rec.PictureID != e.PictureID:
		m.skip(e, "comment of another picture")
		return nil
	case e.Version <= p.rec.Version:
		m.skip(e, "stale version")
		return nil
	}
	switch e.Type {
	case comment.TypeTextUpdated:
		p.rec.Text = e.Text
		p.rec.UpdatedAt = e.At.UnixNano()
	case comment.TypeDeleted:
		p.deleted = true
	default:
		m.skip(e, "unknown event type")
		return nil
	}
	p.rec.Version = e.Version
	m.markChanged(p)
	return nil
}

func (m *Model) markChanged(p *pending) {
	if !p.changed {
		p.changed = true
		m.changed = append(m.changed, p)
	}
}

func (m *Model) skip(e *comment.Event, why string) {
	m.log.Warn("readmodel: event skipped", "reason", why, "position", e.Position,
		"type", e.Type.String(), "picture", e.PictureID, "comment", e.CommentID, "version", e.Version)
}

// lookup returns the pending state of a comment, taking it on first use in
// this batch from the cached snapshot of pictureID (the picture the event
// names) when that holds it, else reading it from the store; nil if the
// comment is neither live nor changed in this batch. The text and updatedAt
// of a comment read from the store are not known (they are not needed: an
// update replaces them, a deletion removes the comment).
func (m *Model) lookup(id, pictureID string) (*pending, error) {
	if p, ok := m.pending[id]; ok {
		return p, nil
	}
	if p := m.cachedPending(id, pictureID); p != nil {
		m.pending[id] = p
		return p, nil
	}
	m.keyBuf = appendByIDKey(m.keyBuf[:0], id)
	v, closer, err := m.db.Get(m.keyBuf)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("readmodel: read comment %q: %w", id, err)
	}
	p := &pending{inStore: true, rec: record{ID: id}}
	err = decodeByIDValue(v, &p.rec)
	closer.Close()
	if err != nil {
		return nil, fmt.Errorf("readmodel: comment %q: %w", id, err)
	}
	m.pending[id] = p
	return p, nil
}

// cachedPending builds the pending state of comment id from the cached
// snapshot of pictureID, or returns nil when the picture is not cached (or
// only as a large marker) or its snapshot does not hold the comment; the
// store then decides.
//
// A cached snapshot is as current as the store before this batch: snapshots
// come from the store (installed only when no Apply touched their shard
// since the checkpoint they were read at) or from merges by earlier Applies,
// and every Apply merges its changes into each cached picture it touches
// (see updateIndex and cache.install). A snapshot lists only live comments,
// so a comment found in it is live, under pictureID, at the entry's
// version.
func (m *Model) cachedPending(id, pictureID string) *pending {
	s := m.cache.peek(pictureID)
	if s == nil {
		return nil
	}
	snap := s.snap.Load()
	if snap.large {
		return nil
	}
	e := snap.find(id)
	if e == nil {
		return nil
	}
	return &pending{inStore: true, rec: record{
		PictureID: snap.id, Pos: e.pos, ID: e.c.ID, Author: e.c.Author, Text: e.c.Text,
		CreatedAt: e.c.CreatedAt.UnixNano(), UpdatedAt: e.c.UpdatedAt.UnixNano(), Version: e.c.Version,
	}}
}

// write commits the changed comments and the checkpoint in one batch:
// the listing keys in key order (m.changed is sorted by picture and
// position), then the by-id keys in key order (m.byID).
func (m *Model) write(last uint64) error {
	b := m.db.NewBatch()
	defer b.Close()
	for _, p := range m.changed {
		if p.deleted && !p.inStore {
			continue
		}
		m.keyBuf = appendListingKey(m.keyBuf[:0], p.rec.PictureID, p.rec.Pos)
		var err error
		if p.deleted {
			err = b.Delete(m.keyBuf, nil)
		} else {
			m.valBuf = appendListingValue(m.valBuf[:0], &p.rec)
			err = b.Set(m.keyBuf, m.valBuf, nil)
		}
		if err != nil {
			return fmt.Errorf("readmodel: batch: %w", err)
		}
	}
	for _, p := range m.byID {
		if p.deleted && !p.inStore {
			continue
		}
		m.keyBuf = appendByIDKey(m.keyBuf[:0], p.rec.ID)
		var err error
		if p.deleted {
			err = b.Delete(m.keyBuf, nil)
		} else {
			m.valBuf = appendByIDValue(m.valBuf[:0], &p.rec)
			err = b.Set(m.keyBuf, m.valBuf, nil)
		}
		if err != nil {
			return fmt.Errorf("readmodel: batch: %w", err)
		}
	}
	m.valBuf = binary.BigEndian.AppendUint64(m.valBuf[:0], last)
	if err := b.Set(keyCheckpoint, m.valBuf, nil); err != nil {
		return fmt.Errorf("readmodel: batch: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("readmodel: commit: %w", err)
	}
	return nil
}

// updateIndex brings the cached pictures that the batch changed up to
// position last. Pictures that are not cached are only marked as touched
// (see shard.lastTouch). m.changed is sorted by picture and position.
func (m *Model) updateIndex(last uint64) {
	var changes []change
	for i := 0; i < len(m.changed); {
		pic := m.changed[i].rec.PictureID
		j := i + 1
		for j < len(m.changed) && m.changed[j].rec.PictureID == pic {
			j++
		}
		group := m.changed[i:j]
		i = j
		s := m.cache.touch(pic, last)
		if s == nil {
			continue
		}
		old := s.snap.Load()
		if old.pos >= last {
			continue // loaded after this batch was committed
		}
		if old.large {
			// Only deletions can bring a large picture back under the
			// budget: drop the marker so the next query measures it again.
			for _, p := range group {
				if p.deleted {
					m.cache.drop(s)
					break
				}
			}
			continue
		}
		changes = changes[:0]
		for _, p := range group {
			changes = append(changes, change{rec: &p.rec, deleted: p.deleted})
		}
		np := old.merge(changes, last)
		if np.size > m.cache.maxPicture {
			np = &picture{id: pic, pos: last, large: true, size: pictureOverhead + int64(len(pic))}
		}
		m.cache.replace(s, np)
	}
}
