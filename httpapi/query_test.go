package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/comment"
)

func TestQueryParams(t *testing.T) {
	e := startEnv(t, nil)
	var gotLimit int
	var gotCursor string
	e.queries.list = func(dst []byte, p string, limit int, cursor string) ([]byte, uint64, error) {
		gotLimit, gotCursor = limit, cursor
		if cursor == "bad" {
			return dst, 0, comment.Errorf(comment.CodeInvalidArgument, "bad cursor")
		}
		return append(dst, `{"pictureId":"p1","comments":[],"next":null}`...), 0, nil
	}
	e.queries.setPosition(5)

	for q, want := range map[string]int{"": 50, "?limit=1": 1, "?limit=500": 500, "?limit=7&limit=9": 7, "?foo=bar&limit=3": 3} {
		wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments" + q}), 200)
		if gotLimit != want {
			t.Errorf("%q: limit = %d, want %d", q, gotLimit, want)
		}
	}
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments?after=abc%2Bdef%3D"}), 200)
	if gotCursor != "abc+def=" {
		t.Errorf("cursor = %q", gotCursor)
	}
	r := e.do(req{method: "GET", path: "/v1/pictures/p1/comments?after=bad"})
	wantError(t, r, 400, comment.CodeInvalidArgument)
	if got := r.header.Get("X-Read-Position"); got != "5" {
		t.Errorf("X-Read-Position on 400 = %q", got)
	}

	for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=99999999999999999999",
		"wait=-1s", "wait=11s", "wait=10001ms", "wait=abc", "wait=5", "wait=",
		"minPosition=-1", "minPosition=abc", "minPosition=", "minPosition=1e3"} {
		for _, path := range []string{"/v1/pictures/p1/comments?", "/v1/pictures/p1/comments/c1?"} {
			if strings.HasPrefix(q, "limit") && strings.Contains(path, "c1") {
				continue // get has no limit
			}
			wantError(t, e.do(req{method: "GET", path: path + q}), 400, comment.CodeInvalidArgument)
		}
	}
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments?wait=10s&minPosition=5"}), 200)
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments?wait=0s&minPosition=0"}), 200)

	// Feed bounds.
	wantStatus(t, e.create("alice", "p1", "c1", "x"), 201)
	for _, q := range []string{"limit=1000", "limit=1", "wait=60s", "after=0", "after=0&wait=1m"} {
		wantStatus(t, e.do(req{method: "GET", path: "/v1/events?" + q}), 200)
	}
	for _, q := range []string{"limit=0", "limit=1001", "wait=61s", "wait=-1ms", "wait=x", "after=-1", "after=x", "after="} {
		wantError(t, e.do(req{method: "GET", path: "/v1/events?" + q}), 400, comment.CodeInvalidArgument)
	}
}

func TestStaleAndReadPosition(t *testing.T) {
	e := startEnv(t, nil)
	e.queries.setPosition(5)
	r := e.do(req{method: "GET", path: "/v1/pictures/p1/comments?minPosition=7&wait=20ms"})
	wantError(t, r, 503, comment.CodeStale)
	if got := r.header.Get("X-Read-Position"); got != "5" {
		t.Errorf("X-Read-Position = %q, want 5", got)
	}
	if got := r.header.Get("Retry-After"); got == "" {
		t.Errorf("no Retry-After")
	}
	// wait=0 answers stale at once.
	wantError(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments/c1?minPosition=6&wait=0s"}), 503, comment.CodeStale)

	// The position arrives during the wait.
	done := e.async(req{method: "GET", path: "/v1/pictures/p1/comments?minPosition=7&wait=10s"})
	time.Sleep(20 * time.Millisecond)
	e.queries.setPosition(6)
	e.queries.setPosition(7)
	r = <-done
	wantStatus(t, r, 200)
	if got := r.header.Get("X-Read-Position"); got != "7" {
		t.Errorf("X-Read-Position = %q, want 7", got)
	}
	// A 404 carries it too.
	r = e.do(req{method: "GET", path: "/v1/pictures/p1/comments/nope?minPosition=7"})
	wantError(t, r, 404, comment.CodeNotFound)
	if got := r.header.Get("X-Read-Position"); got != "7" {
		t.Errorf("X-Read-Position on 404 = %q, want 7", got)
	}
	// The read model's own answer body is passed through untouched.
	e.queries.get = func(dst []byte, p, c string) ([]byte, uint64, error) {
		return append(dst, `{"id":"`+c+`","pictureId":"`+p+`"}`...), 7, nil
	}
	r = e.do(req{method: "GET", path: "/v1/pictures/%41b/comments/c_1-"})
	wantStatus(t, r, 200)
	if got, want := string(r.body), `{"id":"c_1-","pictureId":"Ab"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	// HEAD answers the headers only.
	r = e.do(req{method: "HEAD", path: "/v1/pictures/p1/comments/c1"})
	if r.status != 200 || len(r.body) != 0 || r.header.Get("X-Read-Position") != "7" {
		t.Errorf("HEAD = %d %q %v", r.status, r.body, r.header)
	}
}

func TestFeed(t *testing.T) {
	e := startEnv(t, nil)
	r := e.do(req{method: "GET", path: "/v1/events?wait=20ms"})
	wantStatus(t, r, 200)
	if got, want := string(r.body), `{"events":[],"last":0}`; got != want {
		t.Errorf("empty feed = %s, want %s", got, want)
	}
	wantStatus(t, e.create("alice", "p1", "c1", "nice"), 201)
	wantStatus(t, e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nicer"}`, token: token(t, "alice")}), 200)
	r = e.do(req{method: "GET", path: "/v1/events"})
	wantStatus(t, r, 200)
	want := `{"events":[` +
		`{"position":1,"type":"CommentCreated","pictureId":"p1","commentId":"c1","version":1,"at":"1970-01-01T00:00:00.001000000Z","author":"alice","text":"nice"},` +
		`{"position":2,"type":"CommentTextUpdated","pictureId":"p1","commentId":"c1","version":2,"at":"1970-01-01T00:00:00.002000000Z","text":"nicer"}` +
		`],"last":2}`
	if string(r.body) != want {
		t.Errorf("feed =\n%s\nwant\n%s", r.body, want)
	}
	r = e.do(req{method: "GET", path: "/v1/events?after=1&limit=1"})
	var page struct {
		Events []struct{ Position uint64 }
		Last   uint64
	}
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Events) != 1 || page.Events[0].Position != 2 || page.Last != 2 {
		t.Errorf("page = %s (%v)", r.body, err)
	}

	// Long poll: the request waits until an event is committed.
	done := e.async(req{method: "GET", path: "/v1/events?after=2&wait=10s"})
	time.Sleep(30 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("long poll answered before any event: %s", r.body)
	default:
	}
	wantStatus(t, e.create("bob", "p2", "c2", "hi"), 201)
	r = <-done
	wantStatus(t, r, 200)
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Events) != 1 || page.Events[0].Position != 3 || page.Last != 3 {
		t.Errorf("long poll = %s (%v)", r.body, err)
	}
}

func TestAbsoluteFormAndOddPaths(t *testing.T) {
	e := startEnv(t, nil)
	r := e.raw("GET http://example.com/v1/pictures/p1/comments?limit=2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
	wantStatus(t, r, 200)
	for path, want := range map[string]int{
		"/v1/pictures/p1/comments/":      404, // a trailing slash is no route
		"/v1/pictures/p1/comments//":     404,
		"/v1/pictures/p1/commentsx":      404,
		"/v1/pictures/p1":                404,
		"/v1/pictures/":                  404,
		"/v1/pictures/p1/comments/c1/":   404,
		"/v1//pictures/p1/comments":      404,
		"/v1/pictures/p1/../p2/comments": 404,
		"/v1/pictures/p%zz/comments":     400,
		"/V1/events":                     404,
		"/healthz/":                      404,
	} {
		r := e.raw("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if r.status != want {
			t.Errorf("%s: status %d, want %d (%s)", path, r.status, want, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
}

// TestTrailingSlashIsUnknownRoute: a path ending in a slash after
// "comments" is no route of the API, so every method answers 404 not_found,
// before authentication and body checks, rather than 400 (empty comment id),
// 401 or 405.
func TestTrailingSlashIsUnknownRoute(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	for _, path := range []string{"/v1/pictures/p1/comments/", "/v1/pictures/p1/comments/c1/", "/v1/pictures/p1/comments/c1/history/"} {
		for _, method := range []string{"GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"} {
			for _, tok := range []string{"", alice} {
				r := e.do(req{method: method, path: path, body: `{"text":"x"}`, token: tok})
				if method == "HEAD" {
					wantStatus(t, r, 404)
					continue
				}
				wantError(t, r, 404, comment.CodeNotFound)
			}
		}
	}
}

// TestChunkedBodyOnBodylessRoutes: a body over 64 KiB is 413 on every route,
// also when it is sent chunked (its length unknown up front) to a route
// that takes no body; a small chunked body there is ignored.
func TestChunkedBodyOnBodylessRoutes(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	wantStatus(t, e.create("alice", "p1", "c1", "hi"), 201)
	chunked := func(method, path, auth, body string) resp {
		return e.raw(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
			method, path, auth, len(body), body))
	}
	bearer := "Authorization: Bearer " + alice + "\r\n"
	big := strings.Repeat("a", MaxBodySize+1)
	for _, c := range []struct{ method, path, auth string }{
		{"GET", "/v1/pictures/p1/comments", ""},
		{"GET", "/v1/pictures/p1/comments/c1", ""},
		{"GET", "/v1/events", ""},
		{"GET", "/v1/pictures/p1/comments/c1/history", bearer},
		{"DELETE", "/v1/pictures/p1/comments/c1", bearer},
	} {
		wantError(t, chunked(c.method, c.path, c.auth, big), 413, comment.CodePayloadTooLarge)
	}
	wantStatus(t, chunked("GET", "/v1/pictures/p1/comments", "", strings.Repeat("a", MaxBodySize)), 200)
	wantStatus(t, chunked("POST", "/v1/pictures/p1/comments", bearer+"Content-Type: application/json\r\n", `{"text":"chunked"}`), 201)
	wantError(t, chunked("POST", "/v1/pictures/p1/comments", bearer+"Content-Type: application/json\r\n", `{"text":"`+big+`"}`), 413, comment.CodePayloadTooLarge)
	// Without a token, 401 comes first.
	wantError(t, chunked("DELETE", "/v1/pictures/p1/comments/c1", "", big), 401, comment.CodeUnauthenticated)
}

// TestIntParamsAreDigits: limit takes decimal digits only; a sign (which
// strconv.Atoi would accept) is 400 invalid_argument like any other junk.
func TestIntParamsAreDigits(t *testing.T) {
	e := startEnv(t, nil)
	for _, q := range []string{
		"/v1/pictures/p1/comments?limit=%2B5", "/v1/pictures/p1/comments?limit=-0",
		"/v1/events?limit=%2B5", "/v1/events?limit=%2B1000",
	} {
		wantError(t, e.do(req{method: "GET", path: q}), 400, comment.CodeInvalidArgument)
	}
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments?limit=5"}), 200)
	wantStatus(t, e.do(req{method: "GET", path: "/v1/events?limit=1000"}), 200)
}
