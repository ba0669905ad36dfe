package httpapi

import (
	"bytes"
	"net/url"
	"unsafe"
)

// The router is hand-written: the API has seven path shapes with at most two
// parameters, so matching by segment is a handful of byte comparisons, needs
// no allocation, and keeps the order of checks (readiness, 405, auth, then
// identifier validation) entirely under this package's control. A generic
// router would validate or reject paths before the handler could apply the
// contract's precedence, and would cost a tree walk per request.

// route identifies a path shape of the API.
type route uint8

// The routes. routeUnknown answers 404.
const (
	routeUnknown route = iota
	routeComments
	routeComment
	routeHistory
	routeEvents
	routeHealthz
	routeReadyz
	routeMetrics
	numRoutes
)

// routeTemplates are the metric labels of the routes: templates, never raw
// paths, so the label set stays bounded.
var routeTemplates = [numRoutes]string{
	routeUnknown:  "unknown",
	routeComments: "/v1/pictures/{pictureId}/comments",
	routeComment:  "/v1/pictures/{pictureId}/comments/{commentId}",
	routeHistory:  "/v1/pictures/{pictureId}/comments/{commentId}/history",
	routeEvents:   "/v1/events",
	routeHealthz:  "/healthz",
	routeReadyz:   "/readyz",
	routeMetrics:  "/metrics",
}

// allowed is the Allow header of each route's 405 answer.
var allowed = [numRoutes]string{
	routeComments: "GET, HEAD, POST",
	routeComment:  "DELETE, GET, HEAD, PATCH",
	routeHistory:  "GET, HEAD",
	routeEvents:   "GET, HEAD",
	routeHealthz:  "GET, HEAD",
	routeReadyz:   "GET, HEAD",
	routeMetrics:  "GET, HEAD",
}

// method is a request method the API distinguishes; anything else is
// methodOther (a bounded metric label).
type method uint8

// The methods.
const (
	methodOther method = iota
	methodGet
	methodHead
	methodPost
	methodPatch
	methodDelete
	numMethods
)

var methodNames = [numMethods]string{"OTHER", "GET", "HEAD", "POST", "PATCH", "DELETE"}

func parseMethod(m []byte) method {
	switch string(m) {
	case "GET":
		return methodGet
	case "HEAD":
		return methodHead
	case "POST":
		return methodPost
	case "PATCH":
		return methodPatch
	case "DELETE":
		return methodDelete
	}
	return methodOther
}

// isV1 reports whether the raw path lies under /v1, whose routes all wait for
// readiness.
func isV1(path []byte) bool {
	return bytes.Equal(path, []byte("/v1")) || bytes.HasPrefix(path, []byte("/v1/"))
}

// matchRoute matches a raw (not yet percent-decoded) path. It checks only the
// literal segments: the parameter segments are returned raw and validated
// later, after authentication, so that a bad identifier without a token is
// 401 rather than 400. An empty parameter segment between literal segments
// still matches (and fails validation as 400); a path ending in a slash
// matches no route (404).
func matchRoute(path []byte) (r route, picture, commentID []byte) {
	switch string(path) {
	case "/v1/events":
		return routeEvents, nil, nil
	case "/healthz":
		return routeHealthz, nil, nil
	case "/readyz":
		return routeReadyz, nil, nil
	case "/metrics":
		return routeMetrics, nil, nil
	}
	const prefix = "/v1/pictures/"
	if !bytes.HasPrefix(path, []byte(prefix)) {
		return routeUnknown, nil, nil
	}
	rest := path[len(prefix):]
	i := bytes.IndexByte(rest, '/')
	if i < 0 {
		return routeUnknown, nil, nil
	}
	picture, rest = rest[:i], rest[i+1:]
	const comments = "comments"
	if !bytes.HasPrefix(rest, []byte(comments)) {
		return routeUnknown, nil, nil
	}
	rest = rest[len(comments):]
	if len(rest) == 0 {
		return routeComments, picture, nil
	}
	if rest[0] != '/' {
		return routeUnknown, nil, nil
	}
	rest = rest[1:]
	if len(rest) == 0 {
		// A trailing slash after "comments" is no route of the API (rather
		// than a comment with an empty id): 404 whatever the method.
		return routeUnknown, nil, nil
	}
	i = bytes.IndexByte(rest, '/')
	if i < 0 {
		return routeComment, picture, rest
	}
	commentID, rest = rest[:i], rest[i+1:]
	if string(rest) == "history" {
		return routeHistory, picture, commentID
	}
	return routeUnknown, nil, nil
}

// pathParam copies a raw path segment into a string, percent-decoding it. The
// ok result is false when the escape sequences are malformed.
func pathParam(seg []byte) (string, bool) {
	if bytes.IndexByte(seg, '%') < 0 {
		return string(seg), true
	}
	s, err := url.PathUnescape(string(seg))
	return s, err == nil
}

// queryParam is pathParam without the copy when there is nothing to decode:
// the string aliases seg and is valid only while seg is.
func queryParam(seg []byte) (string, bool) {
	if bytes.IndexByte(seg, '%') < 0 {
		return unsafeString(seg), true
	}
	return pathParam(seg)
}

// unsafeString returns a string sharing b's bytes, "" for an empty b. The
// caller must not let it outlive b or let b change while it is in use.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
