package httpapi

import (
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/commentd/commentd/comment"
)

// Bounds of the query parameters (API.md).
const (
	defaultListLimit = 50
	maxListLimit     = 500
	defaultFeedLimit = 100
	maxFeedLimit     = 1000
	defaultQueryWait = time.Second
	maxQueryWait     = 10 * time.Second
	maxFeedWait      = 60 * time.Second
)

var headerReadPosition = []byte("X-Read-Position")

// Query parameters: unknown ones are ignored; a parameter given more than
// once takes its first value; a parameter given with an empty value is
// invalid.

func badParam(name, want string) error {
	return comment.Errorf(comment.CodeInvalidArgument, "query parameter %s must be %s", name, want)
}

// queryArgs holds the query parameters the API reads, found in one pass over
// the query string (the hot path would otherwise scan it twice per
// parameter). The values alias the request and are valid only during it.
type queryArgs struct {
	limit, after, minPosition, wait []byte
	has                             uint8 // argLimit | argAfter | ...
}

// The bits of queryArgs.has.
const (
	argLimit uint8 = 1 << iota
	argAfter
	argMinPosition
	argWait
)

// scanArgs collects the parameters the API reads, each at its first
// occurrence.
func scanArgs(args *fasthttp.Args) queryArgs {
	var q queryArgs
	for k, v := range args.All() {
		var bit uint8
		var dst *[]byte
		switch string(k) {
		case "limit":
			bit, dst = argLimit, &q.limit
		case "after":
			bit, dst = argAfter, &q.after
		case "minPosition":
			bit, dst = argMinPosition, &q.minPosition
		case "wait":
			bit, dst = argWait, &q.wait
		default:
			continue
		}
		if q.has&bit == 0 {
			q.has |= bit
			*dst = v
		}
	}
	return q
}

// intParam parses an integer parameter within [lo, hi], def when absent.
func intParam(v []byte, present bool, name string, def, lo, hi int) (int, error) {
	if !present {
		return def, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || v[0] < '0' || v[0] > '9' || n < lo || n > hi {
		return 0, badParam(name, "an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

// uintParam parses a position parameter, 0 when absent.
func uintParam(v []byte, present bool, name string) (uint64, error) {
	if !present {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, badParam(name, "a non-negative integer")
	}
	return n, nil
}

// waitParam parses a Go duration within [0, hi], def when absent.
func waitParam(v []byte, present bool, def, hi time.Duration) (time.Duration, error) {
	if !present {
		return def, nil
	}
	d, err := time.ParseDuration(string(v))
	if err != nil || d < 0 || d > hi {
		return 0, badParam("wait", "a duration (such as 500ms) from 0 to "+hi.String())
	}
	return d, nil
}

// queryPrelude applies the checks every read shares after readiness: 401
// (only with query auth, or always when needAuth), then 413. It returns the
// user when a token was checked.
func (s *Server) queryPrelude(ctx *fasthttp.RequestCtx, needAuth bool) (string, error) {
	var user string
	if needAuth || s.cfg.QueryAuth {
		var err error
		if user, err = s.authenticate(ctx); err != nil {
			return "", err
		}
	}
	return user, checkDeclaredSize(ctx)
}

// readParams are the parameters of a read-model query.
type readParams struct {
	minPosition uint64
	wait        time.Duration
}

func parseReadParams(q *queryArgs) (readParams, error) {
	var p readParams
	var err error
	if p.minPosition, err = uintParam(q.minPosition, q.has&argMinPosition != 0, "minPosition"); err != nil {
		return p, err
	}
	p.wait, err = waitParam(q.wait, q.has&argWait != 0, defaultQueryWait, maxQueryWait)
	return p, err
}

// awaitPosition reads minPosition and wait from q and waits, bounded by
// wait, until the read model reflects minPosition. It answers stale when the
// wait ends first and not_ready when the server shuts down meanwhile; both
// carry the read position they saw.
func (s *Server) awaitPosition(ctx *fasthttp.RequestCtx, q *queryArgs) error {
	p, err := parseReadParams(q)
	if err != nil {
		return err
	}
	if p.minPosition == 0 || s.cfg.Queries.Position() >= p.minPosition {
		return nil
	}
	err = errStale
	if p.wait > 0 {
		wctx, cancel := context.WithTimeout(s.waitCtx, p.wait)
		_, werr := s.cfg.Queries.WaitForPosition(wctx, p.minPosition)
		cancel()
		switch {
		case werr == nil:
			return nil
		case s.waitCtx.Err() != nil:
			err = errNotReady
		}
	}
	setReadPosition(ctx, s.cfg.Queries.Position())
	return err
}

func setReadPosition(ctx *fasthttp.RequestCtx, pos uint64) {
	var b [20]byte
	ctx.Response.Header.SetCanonical(headerReadPosition, strconv.AppendUint(b[:0], pos, 10))
}

// The two read-model queries are the hot path: they append the read model's
// pre-encoded JSON straight into a pooled buffer and swap it into the
// response, with no JSON encoding and no per-request allocation: the
// identifiers and the cursor are passed to the read model as strings that
// alias the request (see queryIDs), which Queries promises not to retain.

func (s *Server) listComments(ctx *fasthttp.RequestCtx, rawPicture []byte) {
	if _, err := s.queryPrelude(ctx, false); err != nil {
		s.writeError(ctx, err)
		return
	}
	picture, _, err := queryIDs(rawPicture, nil)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	q := scanArgs(ctx.QueryArgs())
	limit, err := intParam(q.limit, q.has&argLimit != 0, "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	// The cursor aliases the request, like picture: Queries does not
	// retain its arguments.
	cursor := unsafeString(q.after)
	if err := s.awaitPosition(ctx, &q); err != nil {
		s.writeError(ctx, err)
		return
	}
	buf := getBuf()
	b, pos, err := s.cfg.Queries.AppendList(buf.b[:0], picture, limit, cursor)
	s.answerQuery(ctx, buf, b, pos, err)
}

func (s *Server) getComment(ctx *fasthttp.RequestCtx, rawPicture, rawComment []byte) {
	if _, err := s.queryPrelude(ctx, false); err != nil {
		s.writeError(ctx, err)
		return
	}
	picture, id, err := queryIDs(rawPicture, rawComment)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	q := scanArgs(ctx.QueryArgs())
	if err := s.awaitPosition(ctx, &q); err != nil {
		s.writeError(ctx, err)
		return
	}
	buf := getBuf()
	b, pos, err := s.cfg.Queries.AppendComment(buf.b[:0], picture, id)
	s.answerQuery(ctx, buf, b, pos, err)
}

// answerQuery writes a read-model answer (or its error) with the read
// position it reflects, and returns buf to the pool. The body (appended to
// buf) is swapped into the response rather than copied: the pool gets the
// response's previous buffer in exchange.
func (s *Server) answerQuery(ctx *fasthttp.RequestCtx, buf *buffer, body []byte, pos uint64, err error) {
	if pos == 0 {
		pos = s.cfg.Queries.Position()
	}
	setReadPosition(ctx, pos)
	if err != nil {
		buf.b = body
		putBuf(buf)
		s.writeError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentTypeJSON)
	buf.b = ctx.Response.SwapBody(body)
	putBuf(buf)
}

// history serves a comment's events from the event log, to its author only.
func (s *Server) history(ctx *fasthttp.RequestCtx, rawPicture, rawComment []byte) {
	user, err := s.queryPrelude(ctx, true)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	picture, id, err := parseIDs(rawPicture, rawComment)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	events, err := s.cfg.Events.History(s.waitCtx, id)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if len(events) == 0 || events[0].PictureID != picture {
		s.writeError(ctx, errHistoryNotFound)
		return
	}
	if events[0].Author != user {
		s.writeError(ctx, errNotAuthor)
		return
	}
	buf := getBuf()
	buf.b = appendHistory(buf.b[:0], picture, id, events)
	writeJSON(ctx, fasthttp.StatusOK, buf.b)
	putBuf(buf)
}

// feed serves the event log, long-polling up to wait for the first event.
func (s *Server) feed(ctx *fasthttp.RequestCtx) {
	if _, err := s.queryPrelude(ctx, false); err != nil {
		s.writeError(ctx, err)
		return
	}
	q := scanArgs(ctx.QueryArgs())
	after, err := uintParam(q.after, q.has&argAfter != 0, "after")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	limit, err := intParam(q.limit, q.has&argLimit != 0, "limit", defaultFeedLimit, 1, maxFeedLimit)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	wait, err := waitParam(q.wait, q.has&argWait != 0, 0, maxFeedWait)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	events, last, err := s.cfg.Events.Events(s.waitCtx, after, limit, wait)
	if err != nil {
		if s.waitCtx.Err() != nil {
			err = errNotReady
		}
		s.writeError(ctx, err)
		return
	}
	buf := getBuf()
	buf.b = appendFeed(buf.b[:0], events, last)
	writeJSON(ctx, fasthttp.StatusOK, buf.b)
	putBuf(buf)
}
