package httpapi

import (
	"context"
	"errors"
	"log/slog"

	"github.com/valyala/fasthttp"

	"github.com/commentd/commentd/comment"
)

// statusOf maps an application error code to its HTTP status. It is the only
// place where codes become statuses; a code it does not know is a bug and
// answers 500.
func statusOf(code comment.Code) int {
	switch code {
	case comment.CodeInvalidArgument:
		return fasthttp.StatusBadRequest
	case comment.CodeUnauthenticated:
		return fasthttp.StatusUnauthorized
	case comment.CodeForbidden:
		return fasthttp.StatusForbidden
	case comment.CodeNotFound:
		return fasthttp.StatusNotFound
	case comment.CodeMethodNotAllowed:
		return fasthttp.StatusMethodNotAllowed
	case comment.CodeConflict:
		return fasthttp.StatusConflict
	case comment.CodeGone:
		return fasthttp.StatusGone
	case comment.CodePreconditionFailed:
		return fasthttp.StatusPreconditionFailed
	case comment.CodePayloadTooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	case comment.CodeUnsupportedMediaType:
		return fasthttp.StatusUnsupportedMediaType
	case comment.CodeOverloaded, comment.CodeStale, comment.CodeNotReady:
		return fasthttp.StatusServiceUnavailable
	default:
		return fasthttp.StatusInternalServerError
	}
}

// retryAfterSeconds is the Retry-After value of every 503.
const retryAfterSeconds = "1"

// Reusable error values for the rejections the handler makes itself.
var (
	errNotReady        = comment.Errorf(comment.CodeNotReady, "the server is not ready")
	errNotFound        = comment.Errorf(comment.CodeNotFound, "no such route")
	errMethod          = comment.Errorf(comment.CodeMethodNotAllowed, "method not allowed")
	errTooLarge        = comment.Errorf(comment.CodePayloadTooLarge, "request body over 65536 bytes")
	errMediaType       = comment.Errorf(comment.CodeUnsupportedMediaType, "Content-Type must be application/json")
	errNoToken         = comment.Errorf(comment.CodeUnauthenticated, "a bearer token is required")
	errBadToken        = comment.Errorf(comment.CodeUnauthenticated, "invalid bearer token")
	errStale           = comment.Errorf(comment.CodeStale, "the read model has not reached minPosition within the wait")
	errHistoryNotFound = comment.Errorf(comment.CodeNotFound, "comment not found")
	errNotAuthor       = comment.Errorf(comment.CodeForbidden, "only the author may read the history")
)

// writeError answers err in the contract's error shape. Errors without a
// code are internal: they are logged (never shown) and answered 500.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	code := comment.ErrorCode(err)
	msg := comment.ErrorMessage(err)
	if code == comment.CodeInternal {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// A deadline that expired inside a dependency: the request could
			// not be served in time, which clients should retry like an
			// overload rather than treat as a bug; or the server is
			// shutting down.
			code, msg = comment.CodeOverloaded, "the request timed out"
			if s.waitCtx.Err() != nil {
				code, msg = comment.CodeNotReady, errNotReady.Message
			}
		} else {
			s.log.LogAttrs(context.Background(), slog.LevelError, "request failed",
				slog.String("method", string(ctx.Method())),
				slog.String("path", string(ctx.Path())),
				slog.String("error", err.Error()))
			msg = "internal error"
		}
	}
	writeErrorCode(ctx, code, msg)
}

// writeErrorCode writes an error response with the given code and a message
// already known to be safe for clients.
func writeErrorCode(ctx *fasthttp.RequestCtx, code comment.Code, msg string) {
	status := statusOf(code)
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentTypeJSON)
	if status == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", retryAfterSeconds)
	}
	buf := getBuf()
	b := append(buf.b[:0], `{"error":{"code":`...)
	b = comment.AppendJSONString(b, string(code))
	b = append(b, `,"message":`...)
	b = comment.AppendJSONString(b, msg)
	b = append(b, "}}"...)
	ctx.SetBody(b)
	buf.b = b
	putBuf(buf)
}
