package readmodel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// AppendList appends to dst the API's list response for a picture's
// comments: at most limit comments created after the cursor's position,
// oldest first, and the cursor of the next page (null when none follows).
// It returns the position the answer reflects at least. A bad cursor or a
// limit below 1 is an invalid_argument *comment.Error.
//
// On a cache hit it does not allocate when dst has room: the comments'
// JSON is encoded when they are applied or loaded, not here. It retains
// neither dst nor its string arguments, which may alias the caller's
// reusable buffers.
func (m *Model) AppendList(dst []byte, pictureID string, limit int, cursor string) ([]byte, uint64, error) {
	pos := m.pos.Load()
	entries, hasNext, err := m.page(pictureID, limit, cursor)
	if err != nil {
		return dst, pos, err
	}
	dst = appendListHead(dst, pictureID)
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e.json...)
	}
	var nextPos uint64
	if hasNext {
		nextPos = entries[len(entries)-1].pos
	}
	return appendListTail(dst, hasNext, nextPos), pos, nil
}

// List is AppendList returning structured values.
func (m *Model) List(pictureID string, limit int, cursor string) (Page, uint64, error) {
	pos := m.pos.Load()
	entries, hasNext, err := m.page(pictureID, limit, cursor)
	if err != nil {
		return Page{}, pos, err
	}
	page := Page{Comments: make([]Comment, len(entries))}
	for i, e := range entries {
		page.Comments[i] = e.c
	}
	if hasNext {
		page.Next = string(appendCursor(nil, entries[len(entries)-1].pos))
	}
	return page, pos, nil
}

// page returns the entries of one page of a picture and whether more
// follow. On a cache hit the entries are a slice of the snapshot's.
func (m *Model) page(pictureID string, limit int, cursor string) ([]*entry, bool, error) {
	if !validID(pictureID) {
		return nil, false, errBadID("picture id", pictureID)
	}
	if limit < 1 {
		return nil, false, errBadLimit
	}
	after, err := parseCursor(cursor)
	if err != nil {
		return nil, false, err
	}
	p, err := m.snapshot(pictureID)
	if err != nil {
		return nil, false, err
	}
	if p.large {
		return m.readPage(pictureID, after, limit)
	}
	entries, hasNext := p.page(after, limit)
	return entries, hasNext, nil
}

// AppendComment appends to dst the API's object for one comment and returns
// the position the answer reflects at least. A comment that is unknown,
// under another picture or deleted is a not_found *comment.Error. On a cache
// hit it does not allocate when dst has room. Like AppendList, it retains
// none of its arguments.
func (m *Model) AppendComment(dst []byte, pictureID, commentID string) ([]byte, uint64, error) {
	pos := m.pos.Load()
	e, err := m.find(pictureID, commentID)
	if err != nil {
		return dst, pos, err
	}
	return append(dst, e.json...), pos, nil
}

// Get is AppendComment returning a structured value.
func (m *Model) Get(pictureID, commentID string) (Comment, uint64, error) {
	pos := m.pos.Load()
	e, err := m.find(pictureID, commentID)
	if err != nil {
		return Comment{}, pos, err
	}
	return e.c, pos, nil
}

// find returns the live comment commentID of pictureID.
func (m *Model) find(pictureID, commentID string) (*entry, error) {
	if !validID(pictureID) {
		return nil, errBadID("picture id", pictureID)
	}
	if !validID(commentID) {
		return nil, errBadID("comment id", commentID)
	}
	p, err := m.snapshot(pictureID)
	if err != nil {
		return nil, err
	}
	var e *entry
	if p.large {
		e, err = m.readComment(pictureID, commentID)
		if err != nil {
			return nil, err
		}
	} else {
		e = p.find(commentID)
	}
	if e == nil {
		return nil, errNotFound(pictureID, commentID)
	}
	return e, nil
}

// snapshot returns the picture from the cache, or loads it from the store
// and caches it. The result reflects at least the position published
// before the call.
func (m *Model) snapshot(pictureID string) (*picture, error) {
	if p := m.cache.get(pictureID); p != nil {
		return p, nil
	}
	// The snapshot keeps its id (as the cache key and in every entry), and
	// callers may pass a string that aliases a buffer they reuse: copy it.
	p, cp, err := m.load(strings.Clone(pictureID))
	if err != nil {
		return nil, err
	}
	return m.cache.install(p, cp), nil
}

// load reads a picture and the checkpoint it reflects from one consistent
// view of the store. A picture whose size exceeds the cache's per-picture
// bound is returned as a large marker without entries.
func (m *Model) load(pictureID string) (*picture, uint64, error) {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.closed {
		return nil, 0, ErrClosed
	}
	prefix := appendListingPrefix(make([]byte, 0, len(pictureID)+2+8), pictureID)
	it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: keyCheckpoint, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, 0, fmt.Errorf("readmodel: %w", err)
	}
	defer it.Close()
	var cp uint64
	if it.SeekGE(keyCheckpoint) && bytes.Equal(it.Key(), keyCheckpoint) {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, 0, fmt.Errorf("readmodel: read checkpoint: %w", err)
		}
		if len(v) != 8 {
			return nil, 0, corruptf("checkpoint of %d bytes", len(v))
		}
		cp = binary.BigEndian.Uint64(v)
	}
	var entries []*entry
	size := pictureOverhead + int64(len(pictureID))
	for ok := it.SeekGE(prefix); ok; ok = it.Next() {
		e, err := entryAt(it, pictureID)
		if err != nil {
			return nil, 0, err
		}
		entries = append(entries, e)
		if size += e.size(); size > m.cache.maxPicture {
			return &picture{id: pictureID, pos: cp, large: true, size: pictureOverhead + int64(len(pictureID))}, cp, nil
		}
	}
	if err := it.Error(); err != nil {
		return nil, 0, fmt.Errorf("readmodel: read picture: %w", err)
	}
	return newPicture(pictureID, cp, entries), cp, nil
}

// entryAt builds the entry at the iterator's current listing key.
func entryAt(it *pebble.Iterator, pictureID string) (*entry, error) {
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, fmt.Errorf("readmodel: read picture: %w", err)
	}
	r := record{PictureID: pictureID, Pos: decodeListingPos(it.Key())}
	if err := decodeListingValue(v, &r); err != nil {
		return nil, err
	}
	return newEntry(&r, pictureID), nil
}

// readPage reads one page of a picture straight from the store (for
// pictures too large to cache).
func (m *Model) readPage(pictureID string, after uint64, limit int) ([]*entry, bool, error) {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	prefix := appendListingPrefix(nil, pictureID)
	it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, false, fmt.Errorf("readmodel: %w", err)
	}
	defer it.Close()
	var entries []*entry
	for ok := it.SeekGE(appendListingKey(nil, pictureID, after+1)); ok; ok = it.Next() {
		if len(entries) == limit {
			return entries, true, nil
		}
		e, err := entryAt(it, pictureID)
		if err != nil {
			return nil, false, err
		}
		entries = append(entries, e)
	}
	if err := it.Error(); err != nil {
		return nil, false, fmt.Errorf("readmodel: read picture: %w", err)
	}
	return entries, false, nil
}

// readComment reads one comment straight from the store; nil if it is not
// a live comment of pictureID.
func (m *Model) readComment(pictureID, commentID string) (*entry, error) {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	// One iterator gives a consistent view of both keys.
	it, err := m.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("readmodel: %w", err)
	}
	defer it.Close()
	key := appendByIDKey(nil, commentID)
	if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
		return nil, it.Error()
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, fmt.Errorf("readmodel: read comment: %w", err)
	}
	var r record
	if err := decodeByIDValue(v, &r); err != nil || r.PictureID != pictureID {
		return nil, err
	}
	key = appendListingKey(nil, pictureID, r.Pos)
	if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
		if err := it.Error(); err != nil {
			return nil, fmt.Errorf("readmodel: read comment: %w", err)
		}
		return nil, corruptf("comment %q has no listing entry", commentID)
	}
	return entryAt(it, pictureID)
}
