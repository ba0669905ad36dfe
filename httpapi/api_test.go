package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/commentd/commentd/comment"
)

func TestStatusOfEveryCode(t *testing.T) {
	want := map[comment.Code]int{
		comment.CodeInvalidArgument:      400,
		comment.CodeUnauthenticated:      401,
		comment.CodeForbidden:            403,
		comment.CodeNotFound:             404,
		comment.CodeMethodNotAllowed:     405,
		comment.CodeConflict:             409,
		comment.CodeGone:                 410,
		comment.CodePreconditionFailed:   412,
		comment.CodePayloadTooLarge:      413,
		comment.CodeUnsupportedMediaType: 415,
		comment.CodeOverloaded:           503,
		comment.CodeStale:                503,
		comment.CodeNotReady:             503,
		comment.CodeInternal:             500,
		"no_such_code":                   500,
	}
	for code, status := range want {
		if got := statusOf(code); got != status {
			t.Errorf("statusOf(%q) = %d, want %d", code, got, status)
		}
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	e := startEnv(t, nil)
	r := e.create("alice", "p1", "c1", "  nice  ")
	wantStatus(t, r, 201)
	if got := r.header.Get("Location"); got != "/v1/pictures/p1/comments/c1" {
		t.Errorf("Location = %q", got)
	}
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag = %q", got)
	}
	if got, want := string(r.body), `{"pictureId":"p1","id":"c1","version":1,"position":1}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	c := e.bus.lastSent().(comment.Create)
	if c.User != "alice" || c.PictureID != "p1" || c.ID != "c1" || c.Text != "  nice  " || c.At.IsZero() {
		t.Errorf("command = %+v", c)
	}

	// A safe retry answers 200 with the original creation.
	r = e.create("alice", "p1", "c1", "nice")
	wantStatus(t, r, 200)
	if got, want := string(r.body), `{"pictureId":"p1","id":"c1","version":1,"position":1}`; got != want {
		t.Errorf("retry body = %s, want %s", got, want)
	}

	// Server-chosen id.
	r = e.create("alice", "p1", "", "hello")
	wantStatus(t, r, 201)
	var res struct {
		PictureID string
		ID        string
		Version   uint64
		Position  uint64
	}
	if err := json.Unmarshal(r.body, &res); err != nil || res.ID == "" || res.Version != 1 || res.Position != 2 {
		t.Errorf("body = %s (%v)", r.body, err)
	}
	if got := r.header.Get("Location"); got != "/v1/pictures/p1/comments/"+res.ID {
		t.Errorf("Location = %q", got)
	}

	tok := token(t, "alice")
	r = e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nicer"}`, token: tok,
		hdr: map[string]string{"If-Match": `"1"`}})
	wantStatus(t, r, 200)
	if got, want := string(r.body), `{"pictureId":"p1","id":"c1","version":2,"position":3}`; got != want {
		t.Errorf("update body = %s, want %s", got, want)
	}
	if got := r.header.Get("ETag"); got != `"2"` {
		t.Errorf("ETag = %q", got)
	}
	r = e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: tok, hdr: map[string]string{"If-Match": "2"}})
	wantStatus(t, r, 200)
	if got, want := string(r.body), `{"pictureId":"p1","id":"c1","version":3,"position":4}`; got != want {
		t.Errorf("delete body = %s, want %s", got, want)
	}
	if got := r.header.Get("ETag"); got != `"3"` {
		t.Errorf("ETag = %q", got)
	}
}

// TestErrorTable drives every row of the contract's error table over HTTP.
func TestErrorTable(t *testing.T) {
	e := startEnv(t, nil)
	alice, bob := token(t, "alice"), token(t, "bob")
	wantStatus(t, e.create("alice", "p1", "c1", "nice"), 201)
	wantStatus(t, e.create("alice", "p1", "gone1", "bye"), 201)
	wantStatus(t, e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/gone1", token: alice}), 200)
	e.queries.setPosition(3)

	big := `{"text":"` + strings.Repeat("a", MaxBodySize) + `"}`
	cases := []struct {
		name   string
		req    req
		status int
		code   comment.Code
	}{
		{"malformed JSON", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":`, token: alice}, 400, comment.CodeInvalidArgument},
		{"unknown field", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x","extra":1}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"field name case", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"Text":"x"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"missing text", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"id":"c9"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"null text", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":null}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"wrong type", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":5}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"object text", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":{"a":1}}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"array body", req{method: "POST", path: "/v1/pictures/p1/comments", body: `["x"]`, token: alice}, 400, comment.CodeInvalidArgument},
		{"trailing data", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}{}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"trailing garbage", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"} x`, token: alice}, 400, comment.CodeInvalidArgument},
		{"invalid UTF-8", req{method: "POST", path: "/v1/pictures/p1/comments", body: "{\"text\":\"a\xffb\"}", token: alice}, 400, comment.CodeInvalidArgument},
		{"empty body", req{method: "POST", path: "/v1/pictures/p1/comments", hdr: map[string]string{"Content-Type": "application/json"}, token: alice}, 400, comment.CodeInvalidArgument},
		{"id in update", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x","id":"c1"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"bad body id", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x","id":"a b"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"empty body id", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x","id":""}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"bad picture id", req{method: "POST", path: "/v1/pictures/a.b/comments", body: `{"text":"x"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"long picture id", req{method: "GET", path: "/v1/pictures/" + strings.Repeat("p", 129) + "/comments"}, 400, comment.CodeInvalidArgument},
		{"escaped slash id", req{method: "GET", path: "/v1/pictures/a%2Fb/comments"}, 400, comment.CodeInvalidArgument},
		{"empty picture id", req{method: "GET", path: "/v1/pictures//comments"}, 400, comment.CodeInvalidArgument},
		{"bad comment id", req{method: "GET", path: "/v1/pictures/p1/comments/c%201"}, 400, comment.CodeInvalidArgument},
		{"bad text empty", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"  \r\n "}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"bad text control", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"a\u0007b"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"bad text bidi", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"a\u202eb"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"bad text long", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"` + strings.Repeat("é", 2001) + `"}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"bad query param", req{method: "GET", path: "/v1/pictures/p1/comments?limit=0"}, 400, comment.CodeInvalidArgument},
		{"no token", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`}, 401, comment.CodeUnauthenticated},
		{"no token update", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x"}`}, 401, comment.CodeUnauthenticated},
		{"no token delete", req{method: "DELETE", path: "/v1/pictures/p1/comments/c1"}, 401, comment.CodeUnauthenticated},
		{"no token history", req{method: "GET", path: "/v1/pictures/p1/comments/c1/history"}, 401, comment.CodeUnauthenticated},
		{"stranger update", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x"}`, token: bob}, 403, comment.CodeForbidden},
		{"stranger delete", req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: bob}, 403, comment.CodeForbidden},
		{"stranger history", req{method: "GET", path: "/v1/pictures/p1/comments/c1/history", token: bob}, 403, comment.CodeForbidden},
		{"unknown route", req{method: "GET", path: "/v2/pictures"}, 404, comment.CodeNotFound},
		{"unknown subroute", req{method: "GET", path: "/v1/pictures/p1/comments/c1/likes"}, 404, comment.CodeNotFound},
		{"root", req{method: "GET", path: "/"}, 404, comment.CodeNotFound},
		{"unknown comment get", req{method: "GET", path: "/v1/pictures/p1/comments/nope"}, 404, comment.CodeNotFound},
		{"unknown comment update", req{method: "PATCH", path: "/v1/pictures/p1/comments/nope", body: `{"text":"x"}`, token: alice}, 404, comment.CodeNotFound},
		{"other picture update", req{method: "PATCH", path: "/v1/pictures/p2/comments/c1", body: `{"text":"x"}`, token: alice}, 404, comment.CodeNotFound},
		{"other picture history", req{method: "GET", path: "/v1/pictures/p2/comments/c1/history", token: alice}, 404, comment.CodeNotFound},
		{"unknown history", req{method: "GET", path: "/v1/pictures/p1/comments/nope/history", token: alice}, 404, comment.CodeNotFound},
		{"wrong method list", req{method: "PUT", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, token: alice}, 405, comment.CodeMethodNotAllowed},
		{"wrong method comment", req{method: "POST", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x"}`, token: alice}, 405, comment.CodeMethodNotAllowed},
		{"wrong method history", req{method: "DELETE", path: "/v1/pictures/p1/comments/c1/history", token: alice}, 405, comment.CodeMethodNotAllowed},
		{"wrong method events", req{method: "POST", path: "/v1/events"}, 405, comment.CodeMethodNotAllowed},
		{"wrong method healthz", req{method: "POST", path: "/healthz"}, 405, comment.CodeMethodNotAllowed},
		{"wrong method metrics", req{method: "DELETE", path: "/metrics"}, 405, comment.CodeMethodNotAllowed},
		{"conflict other text", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"other","id":"c1"}`, token: alice}, 409, comment.CodeConflict},
		{"conflict other author", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"nice","id":"c1"}`, token: bob}, 409, comment.CodeConflict},
		{"conflict other picture", req{method: "POST", path: "/v1/pictures/p2/comments", body: `{"text":"nice","id":"c1"}`, token: alice}, 409, comment.CodeConflict},
		{"gone update", req{method: "PATCH", path: "/v1/pictures/p1/comments/gone1", body: `{"text":"x"}`, token: alice}, 410, comment.CodeGone},
		{"gone delete", req{method: "DELETE", path: "/v1/pictures/p1/comments/gone1", token: alice}, 410, comment.CodeGone},
		{"precondition", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"If-Match": `"7"`}}, 412, comment.CodePreconditionFailed},
		{"precondition delete", req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: alice, hdr: map[string]string{"If-Match": "7"}}, 412, comment.CodePreconditionFailed},
		{"too large", req{method: "POST", path: "/v1/pictures/p1/comments", body: big, token: alice}, 413, comment.CodePayloadTooLarge},
		{"not JSON", req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"Content-Type": "text/plain"}}, 415, comment.CodeUnsupportedMediaType},
		{"stale", req{method: "GET", path: "/v1/pictures/p1/comments?minPosition=99&wait=10ms"}, 503, comment.CodeStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.bus.sentCount()
			r := e.do(c.req)
			wantError(t, r, c.status, c.code)
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if c.status < 403 && e.bus.sentCount() != before {
				t.Errorf("a rejected request reached the bus")
			}
		})
	}
}

func TestAllowHeader(t *testing.T) {
	e := startEnv(t, nil)
	for path, want := range map[string]string{
		"/v1/pictures/p1/comments":            "GET, HEAD, POST",
		"/v1/pictures/p1/comments/c1":         "DELETE, GET, HEAD, PATCH",
		"/v1/pictures/p1/comments/c1/history": "GET, HEAD",
		"/v1/events":                          "GET, HEAD",
		"/readyz":                             "GET, HEAD",
	} {
		r := e.do(req{method: "PUT", path: path})
		wantError(t, r, 405, comment.CodeMethodNotAllowed)
		if got := r.header.Get("Allow"); got != want {
			t.Errorf("%s: Allow = %q, want %q", path, got, want)
		}
	}
}

func TestOverloadedAndInternal(t *testing.T) {
	e := startEnv(t, nil)
	e.bus.fail = func(comment.Command) error { return comment.Errorf(comment.CodeOverloaded, "queue full") }
	r := e.create("alice", "p1", "c1", "x")
	wantError(t, r, 503, comment.CodeOverloaded)

	e.bus.fail = func(comment.Command) error { return comment.Errorf(comment.CodeNotReady, "closing") }
	wantError(t, e.create("alice", "p1", "c1", "x"), 503, comment.CodeNotReady)

	e.bus.fail = func(comment.Command) error {
		return errors.New("pebble: open /var/lib/commentd/events/000123.log: input/output error")
	}
	r = e.create("alice", "p1", "c1", "x")
	wantError(t, r, 500, comment.CodeInternal)
	if strings.Contains(string(r.body), "/var/lib") || strings.Contains(string(r.body), "pebble") {
		t.Errorf("internal error leaked: %s", r.body)
	}
}

// TestPrecedence checks the contract's order when several errors apply.
func TestPrecedence(t *testing.T) {
	var ready, failed atomic.Bool
	ready.Store(true)
	e := startEnv(t, func(c *Config) {
		c.Ready = ready.Load
		c.WriteFailed = failed.Load
	})
	alice, bob := token(t, "alice"), token(t, "bob")
	wantStatus(t, e.create("alice", "p1", "c1", "nice"), 201)
	wantStatus(t, e.create("alice", "p1", "del", "x"), 201)
	wantStatus(t, e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/del", token: alice}), 200)

	huge := "{" + strings.Repeat(" ", MaxBodySize+10)
	cases := []struct {
		name   string
		req    req
		status int
		code   comment.Code
	}{
		{"unauthenticated oversized malformed", req{method: "POST", path: "/v1/pictures/p1/comments", body: huge}, 401, comment.CodeUnauthenticated},
		{"bad id without token", req{method: "POST", path: "/v1/pictures/bad!id/comments", body: `{"text":"x"}`}, 401, comment.CodeUnauthenticated},
		{"bad token and bad id", req{method: "PATCH", path: "/v1/pictures/p1/comments/a.b", body: `{"text":"x"}`, token: "garbage"}, 401, comment.CodeUnauthenticated},
		{"oversized without JSON type", req{method: "POST", path: "/v1/pictures/p1/comments", body: huge, token: alice, hdr: map[string]string{"Content-Type": "text/plain"}}, 413, comment.CodePayloadTooLarge},
		{"oversized no content type", req{method: "POST", path: "/v1/pictures/p1/comments", body: huge, token: alice, hdr: map[string]string{"Content-Type": "<none>"}}, 413, comment.CodePayloadTooLarge},
		{"oversized delete", req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", body: huge, token: alice}, 413, comment.CodePayloadTooLarge},
		{"wrong type and malformed and bad id", req{method: "POST", path: "/v1/pictures/b@d/comments", body: `{`, token: alice, hdr: map[string]string{"Content-Type": "text/plain"}}, 415, comment.CodeUnsupportedMediaType},
		{"bad id and bad If-Match", req{method: "PATCH", path: "/v1/pictures/p1/comments/nope", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"If-Match": "*"}}, 400, comment.CodeInvalidArgument},
		{"bad text on unknown comment", req{method: "PATCH", path: "/v1/pictures/p1/comments/nope", body: `{"text":""}`, token: alice}, 400, comment.CodeInvalidArgument},
		{"stranger on unknown picture", req{method: "PATCH", path: "/v1/pictures/p2/comments/c1", body: `{"text":"x"}`, token: bob}, 404, comment.CodeNotFound},
		{"stranger on deleted", req{method: "DELETE", path: "/v1/pictures/p1/comments/del", token: bob}, 403, comment.CodeForbidden},
		{"author on deleted", req{method: "DELETE", path: "/v1/pictures/p1/comments/del", token: alice}, 410, comment.CodeGone},
		{"author on deleted with stale If-Match", req{method: "PATCH", path: "/v1/pictures/p1/comments/del", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"If-Match": `"9"`}}, 410, comment.CodeGone},
		{"same text stale If-Match", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nice"}`, token: alice, hdr: map[string]string{"If-Match": `"9"`}}, 412, comment.CodePreconditionFailed},
		{"stranger stale If-Match", req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x"}`, token: bob, hdr: map[string]string{"If-Match": `"9"`}}, 403, comment.CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do(c.req), c.status, c.code)
		})
	}

	// not_ready beats everything, including a missing token.
	ready.Store(false)
	e.srv.ready.Store(false)
	for _, r := range []req{
		{method: "POST", path: "/v1/pictures/bad!/comments", body: huge},
		{method: "GET", path: "/v1/pictures/p1/comments"},
		{method: "GET", path: "/v1/events"},
		{method: "PUT", path: "/v1/events"},
		{method: "GET", path: "/v1/nothing"},
		{method: "GET", path: "/readyz"},
	} {
		wantError(t, e.do(r), 503, comment.CodeNotReady)
	}
	wantStatus(t, e.do(req{method: "GET", path: "/healthz"}), 200)
	ready.Store(true)

	// After a write-side failure commands (only) answer not_ready first.
	failed.Store(true)
	before := e.bus.sentCount()
	wantError(t, e.do(req{method: "POST", path: "/v1/pictures/bad!/comments", body: huge}), 503, comment.CodeNotReady)
	wantError(t, e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: alice}), 503, comment.CodeNotReady)
	wantError(t, e.do(req{method: "GET", path: "/readyz"}), 503, comment.CodeNotReady)
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments"}), 200)
	if e.bus.sentCount() != before {
		t.Errorf("commands reached the bus after a write failure")
	}
}

func TestIfMatchForms(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	wantStatus(t, e.create("alice", "p1", "c1", "nice"), 201)
	for _, h := range []string{`"1"`, `1`} {
		r := e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nice"}`, token: alice, hdr: map[string]string{"If-Match": h}})
		wantStatus(t, r, 200)
		if got := e.bus.lastSent().(comment.UpdateText).ExpectedVersion; got != 1 {
			t.Errorf("If-Match %s: ExpectedVersion = %d", h, got)
		}
	}
	r := e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nice"}`, token: alice})
	wantStatus(t, r, 200)
	if got := e.bus.lastSent().(comment.UpdateText).ExpectedVersion; got != 0 {
		t.Errorf("no If-Match: ExpectedVersion = %d", got)
	}
	for _, h := range []string{`W/"1"`, `*`, `"1", "2"`, `1,2`, `"1`, `1"`, `""`, `abc`, `-1`, `+1`, `0`, `01`, `1.0`, `" 1"`, `'1'`, `99999999999999999999999`} {
		before := e.bus.sentCount()
		r := e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nice"}`, token: alice, hdr: map[string]string{"If-Match": h}})
		wantError(t, r, 400, comment.CodeInvalidArgument)
		r = e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: alice, hdr: map[string]string{"If-Match": h}})
		wantError(t, r, 400, comment.CodeInvalidArgument)
		if e.bus.sentCount() != before {
			t.Errorf("If-Match %s reached the bus", h)
		}
	}
}

func TestMediaTypes(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	wantStatus(t, e.create("alice", "p1", "c1", "x"), 201)
	for i, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8",
		"application/json;charset=UTF-8", `application/json; charset="utf-8"`, "application/json ; foo=bar"} {
		r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"Content-Type": ct}})
		wantStatus(t, r, 201)
		_ = i
	}
	for _, ct := range []string{"<none>", "text/plain", "application/jsonx", "application/x-www-form-urlencoded",
		"application/json; charset=latin1", "multipart/form-data; boundary=x", "json", "application/json-patch+json"} {
		before := e.bus.sentCount()
		r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"Content-Type": ct}})
		wantError(t, r, 415, comment.CodeUnsupportedMediaType)
		r = e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"x"}`, token: alice, hdr: map[string]string{"Content-Type": ct}})
		wantError(t, r, 415, comment.CodeUnsupportedMediaType)
		if e.bus.sentCount() != before {
			t.Errorf("Content-Type %q reached the bus", ct)
		}
	}
	// DELETE has no body: its type is not checked.
	wantStatus(t, e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: alice, hdr: map[string]string{"Content-Type": "text/plain"}}), 200)
}

// TestBodyLimit checks the 64 KiB boundary, declared and chunked.
func TestBodyLimit(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	body := func(n int) string {
		b := `{"text":"x"}`
		return b + strings.Repeat(" ", n-len(b))
	}
	wantStatus(t, e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: body(MaxBodySize), token: alice}), 201)
	r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: body(MaxBodySize + 1), token: alice})
	wantError(t, r, 413, comment.CodePayloadTooLarge)
	wantStatus(t, e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/" + lastID(t, e), body: body(MaxBodySize), token: alice}), 200)

	// Chunked bodies have no declared length: the reader stops at the limit.
	chunked := func(n int) resp {
		b := body(n)
		var sb strings.Builder
		sb.WriteString("POST /v1/pictures/p1/comments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
		sb.WriteString("Authorization: Bearer " + alice + "\r\nTransfer-Encoding: chunked\r\n\r\n")
		for len(b) > 0 {
			n := min(len(b), 1000)
			fmt.Fprintf(&sb, "%x\r\n%s\r\n", n, b[:n])
			b = b[n:]
		}
		sb.WriteString("0\r\n\r\n")
		return e.raw(sb.String())
	}
	wantStatus(t, chunked(MaxBodySize), 201)
	wantError(t, chunked(MaxBodySize+1), 413, comment.CodePayloadTooLarge)
	wantError(t, chunked(4*MaxBodySize), 413, comment.CodePayloadTooLarge)
	// A body far beyond what the server drains: still a proper 413.
	wantError(t, e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: body(2 << 20), token: alice}), 413, comment.CodePayloadTooLarge)
	// The connection pool keeps working afterwards.
	wantStatus(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments"}), 200)
}

func lastID(t *testing.T, e *env) string {
	t.Helper()
	c, ok := e.bus.lastSent().(comment.Create)
	if !ok {
		t.Fatalf("last command is %T", e.bus.lastSent())
	}
	e.bus.mu.Lock()
	defer e.bus.mu.Unlock()
	return e.bus.log[len(e.bus.log)-1].CommentID + c.ID[:0]
}

// TestBodyStrictness: a lone UTF-16 surrogate escape is not valid UTF-8 text
// and a member given twice is ambiguous; both are 400 invalid_argument,
// while a proper surrogate pair and an escaped backslash before "u" are fine.
func TestBodyStrictness(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	for _, body := range []string{
		`{"text":"\ud800"}`,
		`{"text":"a\udfffb"}`,
		`{"text":"\ud83dx"}`,
		`{"text":"\ud83d\u0041"}`,
		`{"text":"\ud83d\ud83d\ude00"}`,
		`{"text":"\ude00\ud83d"}`,
		`{"text":"x\uD800"}`,
		`{"text":"\ud83d\n"}`,
		`{"text":"a","text":"b"}`,
		`{"text":"a","id":"c1","id":"c2"}`,
		`{"text":"a","text":null}`,
	} {
		r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: body, token: alice})
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400 (%s)", body, r.status, r.body)
			continue
		}
		wantError(t, r, 400, comment.CodeInvalidArgument)
	}
	r := e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"a","text":"a"}`, token: alice})
	wantError(t, r, 400, comment.CodeInvalidArgument)
	for i, body := range []string{`{"text":"\ud83d\ude00"}`, `{"text":"\\ud800"}`, `{"text":"a\\\ud83d\ude00"}`} {
		r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: body, token: alice})
		if r.status != 201 {
			t.Errorf("case %d %s: status %d, want 201 (%s)", i, body, r.status, r.body)
		}
	}
}

// TestIfMatchOnSeveralLines: If-Match given on two header lines is a list,
// 400 invalid_argument, for updates and deletes alike, even when one of the
// versions is current.
func TestIfMatchOnSeveralLines(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	wantStatus(t, e.create("alice", "p1", "c1", "hi"), 201)
	body := `{"text":"new"}`
	r := e.raw("PATCH /v1/pictures/p1/comments/c1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice +
		"\r\nContent-Type: application/json\r\nIf-Match: \"1\"\r\nIf-Match: \"2\"\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	wantError(t, r, 400, comment.CodeInvalidArgument)
	r = e.raw("DELETE /v1/pictures/p1/comments/c1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice +
		"\r\nIf-Match: 1\r\nIf-Match: 1\r\n\r\n")
	wantError(t, r, 400, comment.CodeInvalidArgument)
	// One line still works.
	r = e.raw("DELETE /v1/pictures/p1/comments/c1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice +
		"\r\nIf-Match: 1\r\n\r\n")
	wantStatus(t, r, 200)
}
