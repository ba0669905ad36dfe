package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/commentd/commentd/comment"
)

// handle is the single entry point. It routes, applies the checks every
// route shares in the contract's order, dispatches, and records metrics.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	// fasthttp has just read the clock for this request: reuse its reading
	// (one clock read less per request, which shows on the query path).
	start := ctx.Time()
	if start.IsZero() {
		start = time.Now()
	}
	path := ctx.URI().PathOriginal()
	r, rawPicture, rawComment := matchRoute(path)
	meth := parseMethod(ctx.Method())
	defer func() {
		if v := recover(); v != nil {
			s.log.LogAttrs(context.Background(), slog.LevelError, "handler panic",
				slog.String("route", routeTemplates[r]), slog.Any("panic", v))
			ctx.Response.Reset()
			writeErrorCode(ctx, comment.CodeInternal, "internal error")
		}
		status := ctx.Response.StatusCode()
		if cl := ctx.Request.Header.ContentLength(); cl > MaxBodySize || cl == -1 {
			// fasthttp closes a connection whose unread body is large (a
			// chunked body's size is unknown); let the client read this
			// answer before the connection goes.
			markLinger(ctx)
		}
		s.metrics.observe(r, meth, status, time.Since(start))
	}()

	if r == routeUnknown {
		if isV1(path) && !s.isReady() {
			s.writeError(ctx, errNotReady)
			return
		}
		s.writeError(ctx, errNotFound)
		return
	}
	if r == routeHealthz || r == routeReadyz || r == routeMetrics {
		if meth != methodGet && meth != methodHead {
			s.methodNotAllowed(ctx, r)
			return
		}
		s.serveOps(ctx, r)
		return
	}

	// Every remaining route is under /v1.
	if !s.isReady() {
		s.writeError(ctx, errNotReady)
		return
	}
	switch {
	case r == routeComments && meth == methodPost:
		s.createComment(ctx, rawPicture)
	case r == routeComment && meth == methodPatch:
		s.updateComment(ctx, rawPicture, rawComment)
	case r == routeComment && meth == methodDelete:
		s.deleteComment(ctx, rawPicture, rawComment)
	case meth != methodGet && meth != methodHead:
		s.methodNotAllowed(ctx, r)
	case r == routeComments:
		s.listComments(ctx, rawPicture)
	case r == routeComment:
		s.getComment(ctx, rawPicture, rawComment)
	case r == routeHistory:
		s.history(ctx, rawPicture, rawComment)
	case r == routeEvents:
		s.feed(ctx)
	}
}

// isReady reports startup readiness (and not shutting down). Startup
// readiness is remembered once reached, so the hot path asks no one.
func (s *Server) isReady() bool {
	if s.stopping.Load() {
		return false
	}
	if s.ready.Load() {
		return true
	}
	if s.cfg.Ready == nil || s.cfg.Ready() {
		s.ready.Store(true)
		return true
	}
	return false
}

func (s *Server) writeFailed() bool {
	return s.cfg.WriteFailed != nil && s.cfg.WriteFailed()
}

func (s *Server) methodNotAllowed(ctx *fasthttp.RequestCtx, r route) {
	ctx.Response.Header.Set("Allow", allowed[r])
	s.writeError(ctx, errMethod)
}

// serveOps answers /healthz, /readyz and /metrics, which are always public.
func (s *Server) serveOps(ctx *fasthttp.RequestCtx, r route) {
	switch r {
	case routeHealthz:
		writeJSON(ctx, fasthttp.StatusOK, bodyHealthy)
	case routeReadyz:
		if !s.isReady() || s.writeFailed() {
			s.writeError(ctx, errNotReady)
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, bodyReady)
	case routeMetrics:
		s.prom(ctx)
	}
}

var (
	bodyHealthy = appendStatus(nil, "ok")
	bodyReady   = appendStatus(nil, "ready")
)

// writeJSON writes a JSON body (copied) with the given status.
func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(body)
}

// authenticate returns the user of the request's bearer token.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (string, error) {
	tok, err := bearerToken(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if err != nil {
		return "", err
	}
	// The token aliases the request: the verifier copies it if it keeps it.
	return s.verify.verifyBytes(unsafeString(tok), "")
}

// checkDeclaredSize rejects a request whose body is too large, for routes
// that take no body. A declared length is enough; a body of unknown length
// (chunked) is read and discarded, at most MaxBodySize+1 bytes, to learn
// whether it is over the limit.
func checkDeclaredSize(ctx *fasthttp.RequestCtx) error {
	cl := ctx.Request.Header.ContentLength()
	if cl > MaxBodySize {
		return errTooLarge
	}
	if cl != -1 {
		// A known length, or no framing at all (no body).
		return nil
	}
	if stream := ctx.RequestBodyStream(); stream != nil {
		n, err := io.CopyN(io.Discard, stream, MaxBodySize+1)
		if n > MaxBodySize {
			return errTooLarge
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return comment.Errorf(comment.CodeInvalidArgument, "could not read the request body")
		}
		return nil
	}
	if len(ctx.PostBody()) > MaxBodySize {
		return errTooLarge
	}
	return nil
}

// readBody reads the request body into buf, at most MaxBodySize bytes; a
// larger body, declared or sent chunked, is 413.
func readBody(ctx *fasthttp.RequestCtx, buf *buffer) ([]byte, error) {
	if ctx.Request.Header.ContentLength() > MaxBodySize {
		return nil, errTooLarge
	}
	stream := ctx.RequestBodyStream()
	if stream == nil {
		b := ctx.PostBody()
		if len(b) > MaxBodySize {
			return nil, errTooLarge
		}
		return b, nil
	}
	b := buf.b[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := stream.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > MaxBodySize {
			buf.b = b
			return nil, errTooLarge
		}
		if err != nil {
			buf.b = b
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return nil, comment.Errorf(comment.CodeInvalidArgument, "could not read the request body")
		}
	}
}

// checkMediaType accepts application/json with, at most, a UTF-8 charset
// parameter; the comparison is case-insensitive.
func checkMediaType(ctx *fasthttp.RequestCtx) error {
	ct := ctx.Request.Header.ContentType()
	mt, params, _ := bytes.Cut(ct, []byte(";"))
	if !bytes.EqualFold(bytes.TrimSpace(mt), []byte(contentTypeJSON)) {
		return errMediaType
	}
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		p = bytes.TrimSpace(p)
		if len(p) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(p, []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(k), []byte("charset")) {
			v = bytes.Trim(bytes.TrimSpace(v), `"`)
			if !bytes.EqualFold(v, []byte("utf-8")) && !bytes.EqualFold(v, []byte("utf8")) {
				return errMediaType
			}
		}
	}
	return nil
}
