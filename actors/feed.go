package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/store"
)

// Bounds of the event feed.
const (
	defaultFeedLimit = 100
	maxFeedLimit     = 1000
)

// decodeRecord turns a stored record into a committed event: the payload
// from the codec, Version, Position, CommentID (the stream) and At (the
// commit time) from the record. It copies what it keeps from rec.Data.
func decodeRecord(rec store.Record) (comment.Event, error) {
	e, err := comment.DecodeEvent(rec.Data)
	if err != nil {
		return comment.Event{}, fmt.Errorf("actors: decode event at position %d: %w", rec.Position, err)
	}
	e.CommentID = rec.Stream
	e.Version = rec.Version
	e.Position = rec.Position
	e.At = time.Unix(0, rec.Time).UTC()
	return e, nil
}

// History returns a comment's events, oldest first, read from the store (so
// never stale). An unknown comment is a not_found *comment.Error; an invalid
// id is invalid_argument. Authorisation is the caller's business.
func (s *System) History(ctx context.Context, commentID string) ([]comment.Event, error) {
	if err := comment.ValidateID(commentID); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recs, err := s.cfg.Store.ReadStream(commentID, 1)
	if err != nil {
		return nil, storeError(err)
	}
	if len(recs) == 0 {
		return nil, comment.Errorf(comment.CodeNotFound, "comment not found")
	}
	return decodeRecords(recs)
}

// Events is the feed: the events with position > after, in position order,
// at most limit (<= 0: 100; capped at 1000). When there are none and wait >
// 0, it waits up to wait (and ctx) for one to be committed, then answers an
// empty list if none was. last is the newest committed position of the log.
func (s *System) Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]comment.Event, uint64, error) {
	if limit <= 0 {
		limit = defaultFeedLimit
	}
	limit = min(limit, maxFeedLimit)
	st := s.cfg.Store
	recs, err := st.ReadAll(after, limit)
	if err != nil {
		return nil, 0, storeError(err)
	}
	if len(recs) == 0 && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, err := st.Wait(wctx, after)
		cancel()
		switch {
		case err == nil:
			if recs, err = st.ReadAll(after, limit); err != nil {
				return nil, 0, storeError(err)
			}
		case ctx.Err() != nil:
			return nil, 0, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// the wait ended: an empty answer
		default:
			return nil, 0, storeError(err)
		}
	}
	events, err := decodeRecords(recs)
	if err != nil {
		return nil, 0, err
	}
	last := st.LastPosition()
	if n := len(events); n > 0 && events[n-1].Position > last {
		last = events[n-1].Position
	}
	return events, last, nil
}

func decodeRecords(recs []store.Record) ([]comment.Event, error) {
	events := make([]comment.Event, len(recs))
	for i, rec := range recs {
		e, err := decodeRecord(rec)
		if err != nil {
			return nil, err
		}
		events[i] = e
	}
	return events, nil
}
