package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/commentd/commentd/comment"
)

// contractCodes lists, per status, the error codes the contract allows.
var contractCodes = map[int][]comment.Code{
	400: {comment.CodeInvalidArgument},
	401: {comment.CodeUnauthenticated},
	403: {comment.CodeForbidden},
	404: {comment.CodeNotFound},
	405: {comment.CodeMethodNotAllowed},
	409: {comment.CodeConflict},
	410: {comment.CodeGone},
	412: {comment.CodePreconditionFailed},
	413: {comment.CodePayloadTooLarge},
	415: {comment.CodeUnsupportedMediaType},
	503: {comment.CodeOverloaded, comment.CodeStale, comment.CodeNotReady},
}

// swapBus lets a fuzz target start every input from an empty log without
// building a new server.
type swapBus struct{ *memBus }

// Events does not wait: a fuzz input must not stall the run.
func (b *swapBus) Events(ctx context.Context, after uint64, limit int, _ time.Duration) ([]comment.Event, uint64, error) {
	return b.memBus.Events(ctx, after, limit, 0)
}

// noWaitQueries answers every wait for a position it has not reached as
// timed out at once.
type noWaitQueries struct{ *fakeQueries }

func (q noWaitQueries) WaitForPosition(ctx context.Context, pos uint64) (uint64, error) {
	if p := q.Position(); p >= pos {
		return p, nil
	}
	return q.Position(), context.DeadlineExceeded
}

// FuzzRequest drives arbitrary requests through the handler (with the real
// domain rules behind a fake bus) and checks the contract holds for each:
// no panic, no 500, only the table's status/code pairs, JSON everywhere but
// /metrics, Retry-After on 503, and only valid commands reach the bus.
func FuzzRequest(f *testing.F) {
	alice := mustSign(f, "alice")
	f.Add("POST", "/v1/pictures/p1/comments", "", "Content-Type: application/json", []byte(`{"text":"hi","id":"c1"}`), uint8(1))
	f.Add("PATCH", "/v1/pictures/p1/comments/c1", "", "Content-Type: application/json\nIf-Match: \"1\"", []byte(`{"text":"hello"}`), uint8(1))
	f.Add("DELETE", "/v1/pictures/p1/comments/c1", "", "If-Match: W/\"1\"", []byte(nil), uint8(1))
	f.Add("GET", "/v1/pictures/p1/comments", "limit=5&after=x&minPosition=3&wait=1ms", "", []byte(nil), uint8(0))
	f.Add("GET", "/v1/pictures/p1/comments/c1/history", "", "", []byte(nil), uint8(1))
	f.Add("GET", "/v1/events", "after=0&limit=10&wait=0s", "", []byte(nil), uint8(2))
	f.Add("POST", "/v1/pictures/%41/comments", "", "Content-Type: text/plain", []byte(`{"text":`), uint8(0))
	f.Add("PUT", "/healthz", "", "", []byte(nil), uint8(4))

	bus := &swapBus{newMemBus()}
	q := noWaitQueries{newFakeQueries()}
	srv, err := New(Config{Bus: bus, Queries: q, Events: bus, Secret: testSecret, Registerer: prometheus.NewRegistry(),
		QueryAuth: false})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, path, query, headers string, body []byte, flags uint8) {
		bus.memBus = newMemBus()
		// Some state to hit: an existing and a deleted comment.
		for _, c := range []comment.Command{
			comment.Create{PictureID: "p1", ID: "c1", Text: "hi", User: "alice", At: time.Unix(1, 0)},
			comment.Create{PictureID: "p1", ID: "d1", Text: "bye", User: "alice", At: time.Unix(1, 0)},
			comment.Delete{PictureID: "p1", ID: "d1", User: "alice", At: time.Unix(1, 0)},
		} {
			if _, err := bus.Send(t.Context(), c); err != nil {
				t.Fatal(err)
			}
		}
		seeded := bus.sentCount()
		srv.ready.Store(flags&4 == 0)
		srv.cfg.QueryAuth = flags&8 != 0

		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		ctx.Request.Header.SetMethod(method)
		uri := path
		if query != "" {
			uri += "?" + query
		}
		ctx.Request.SetRequestURI(uri)
		for _, line := range strings.Split(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && k != "" {
				ctx.Request.Header.Set(k, strings.TrimSpace(v))
			}
		}
		switch flags & 3 {
		case 1:
			ctx.Request.Header.Set("Authorization", "Bearer "+alice)
		case 2:
			ctx.Request.Header.Set("Authorization", "Bearer "+string(body))
		}
		if len(body) > 0 {
			ctx.Request.SetBody(body)
		}
		h(&ctx)

		status := ctx.Response.StatusCode()
		ct := string(ctx.Response.Header.ContentType())
		isMetrics := status == 200 && strings.HasPrefix(ct, "text/plain")
		if !isMetrics && ct != "application/json" {
			t.Fatalf("status %d with Content-Type %q", status, ct)
		}
		out := ctx.Response.Body()
		if status >= 400 {
			codes, ok := contractCodes[status]
			if !ok {
				t.Fatalf("status %d is not in the contract: %s", status, out)
			}
			var eb errorBody
			dec := json.NewDecoder(bytes.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&eb); err != nil || eb.Error.Message == "" {
				t.Fatalf("bad error body %q: %v", out, err)
			}
			found := false
			for _, c := range codes {
				found = found || eb.Error.Code == string(c)
			}
			if !found {
				t.Fatalf("status %d with code %q", status, eb.Error.Code)
			}
			if status == 503 && len(ctx.Response.Header.Peek("Retry-After")) == 0 {
				t.Fatalf("503 without Retry-After")
			}
			if status < 404 || status == 413 || status == 415 {
				if bus.sentCount() != seeded {
					t.Fatalf("a %d request reached the bus", status)
				}
			}
		} else if !isMetrics && len(out) > 0 && !json.Valid(out) {
			t.Fatalf("status %d with invalid JSON %q", status, out)
		}
		if bus.sentCount() > seeded {
			checkCommand(t, bus.lastSent())
		}
	})
}

// checkCommand checks that a command that reached the bus was validated.
func checkCommand(t *testing.T, cmd comment.Command) {
	t.Helper()
	var picture, user, text string
	hasText := false
	switch c := cmd.(type) {
	case comment.Create:
		picture, user, text, hasText = c.PictureID, c.User, c.Text, true
		if c.ID != "" && comment.ValidateID(c.ID) != nil {
			t.Fatalf("bad id reached the bus: %q", c.ID)
		}
	case comment.UpdateText:
		picture, user, text, hasText = c.PictureID, c.User, c.Text, true
		if comment.ValidateID(c.ID) != nil {
			t.Fatalf("bad id reached the bus: %q", c.ID)
		}
	case comment.Delete:
		picture, user = c.PictureID, c.User
		if comment.ValidateID(c.ID) != nil {
			t.Fatalf("bad id reached the bus: %q", c.ID)
		}
	}
	if comment.ValidateID(picture) != nil || comment.ValidateID(user) != nil {
		t.Fatalf("bad picture or user reached the bus: %+v", cmd)
	}
	if _, err := comment.NormalizeText(text); hasText && err != nil {
		t.Fatalf("bad text reached the bus: %q", text)
	}
}

func mustSign(tb testing.TB, user string) string {
	tb.Helper()
	tok, err := SignToken(testSecret, user, 24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// FuzzToken checks the token verifier on arbitrary tokens, and on tokens
// correctly signed with the server's secret but with arbitrary headers and
// claims: it never panics, and accepts only HS256 tokens with a valid
// subject that are neither expired nor not yet valid.
func FuzzToken(f *testing.F) {
	f.Add("", `{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice"}`)
	f.Add("", `{"alg":"none"}`, `{"sub":"alice"}`)
	f.Add("", `{"alg":"HS512"}`, `{"sub":"alice","exp":1}`)
	f.Add("", `{"alg":"RS256"}`, `{"sub":"alice"}`)
	f.Add("", `{"alg":"HS256"}`, `{"sub":"a b"}`)
	f.Add("", `{"alg":"HS256"}`, `{"sub":"alice","nbf":99999999999}`)
	f.Add("", `{"alg":"HS256"}`, `{"sub":"alice","exp":1e400}`)
	f.Add(mustSign(f, "alice"), "", "")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "", "")
	f.Add("a.b.c", "", "")
	v, err := NewVerifier(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, header, payload string) {
		tok := raw
		if tok == "" {
			tok = handMade(header, payload, testSecret)
		}
		user, err := v.Verify(tok)
		if err != nil {
			if comment.ErrorCode(err) != comment.CodeUnauthenticated {
				t.Fatalf("error code %q", comment.ErrorCode(err))
			}
			if len(tok) > 8 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error repeats the token")
			}
			return
		}
		if comment.ValidateID(user) != nil {
			t.Fatalf("accepted subject %q", user)
		}
		parts := strings.Split(tok, ".")
		hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			t.Fatalf("accepted a token with a bad header encoding")
		}
		var h struct{ Alg string }
		if err := json.Unmarshal(hdr, &h); err != nil || h.Alg != "HS256" {
			t.Fatalf("accepted header %s", hdr)
		}
		claims, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatalf("accepted a token with a bad claims encoding")
		}
		var c struct {
			Exp *float64 `json:"exp"`
			Nbf *float64 `json:"nbf"`
		}
		if json.Unmarshal(claims, &c) == nil {
			now := float64(time.Now().Unix())
			if c.Exp != nil && *c.Exp < now-1 {
				t.Fatalf("accepted an expired token: %s", claims)
			}
			if c.Nbf != nil && *c.Nbf > now+1 {
				t.Fatalf("accepted a token not yet valid: %s", claims)
			}
		}
	})
}

// FuzzCommandBody checks that the fast command-body decoder, whenever it
// answers, answers exactly what the general decoder does.
func FuzzCommandBody(f *testing.F) {
	for _, s := range []string{
		`{"text":"hi"}`, ` { "text" : "hi" , "id" : "c1" } `, `{"id":"c1","text":"a\"b\\c\/d\n\t\r\b\f"}`,
		`{"text":"x","text":"y"}`, `{"text":null}`, `{"text":"\u00e9"}`, `{"Text":"x"}`, `{}`, `{"text":"x"}x`,
		`{"text":"x",}`, `{"text":"x"`, `{"text":1}`, "{\"text\":\"a\x01\"}", `{"text":"héllo ✓"}`, `[]`, ``,
		`{"text":"\q"}`, `{"id":"c1"}`, "\t{\"text\":\"x\"}\r\n",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, allowID bool) {
		got, err := decodeCommandBody(body, allowID)
		fast, ok := decodeCommandBodyFast(body, allowID)
		if !ok || !utf8.Valid(body) || hasLoneSurrogate(body) {
			return
		}
		want, wantErr := decodeCommandBodyJSON(body, allowID)
		if err != nil || wantErr != nil {
			t.Fatalf("%q: fast decoder accepted, general decoder says %v", body, wantErr)
		}
		for _, r := range []commandBody{got, fast} {
			if !sameStringPtr(r.Text, want.Text) || !sameStringPtr(r.ID, want.ID) {
				t.Fatalf("%q: fast decoder gave text %v id %v, want %v %v", body, deref(r.Text), deref(r.ID), deref(want.Text), deref(want.ID))
			}
		}
	})
}

func sameStringPtr(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Quote(*p)
}
