package httpapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/commentd/commentd/comment"
)

func signClaims(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handMade builds a token with any header, HMAC-SHA256-signed with secret,
// whatever the header claims.
func handMade(header, payload string, secret []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// badTokens are tokens every check must refuse, by name.
func badTokens(t *testing.T) map[string]string {
	t.Helper()
	now := time.Now()
	sub := func(s string) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Subject: s, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := SignToken(testSecret, "alice", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"alg none":           signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, sub("alice")),
		"alg none unsigned":  handMade(`{"alg":"none","typ":"JWT"}`, `{"sub":"alice"}`, testSecret)[:strings.LastIndexByte(handMade(`{"alg":"none","typ":"JWT"}`, `{"sub":"alice"}`, testSecret), '.')+1],
		"HS512":              signClaims(t, jwt.SigningMethodHS512, testSecret, sub("alice")),
		"HS384":              signClaims(t, jwt.SigningMethodHS384, testSecret, sub("alice")),
		"RS256 header":       handMade(`{"alg":"RS256","typ":"JWT"}`, `{"sub":"alice"}`, testSecret),
		"ES256":              signClaims(t, jwt.SigningMethodES256, ecKey, sub("alice")),
		"lowercase alg":      handMade(`{"alg":"hs256","typ":"JWT"}`, `{"sub":"alice"}`, testSecret),
		"wrong secret":       signClaims(t, jwt.SigningMethodHS256, []byte("another-secret"), sub("alice")),
		"expired":            expired,
		"not yet valid":      signClaims(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "alice", NotBefore: jwt.NewNumericDate(now.Add(time.Hour))}),
		"missing sub":        signClaims(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}),
		"empty sub":          signClaims(t, jwt.SigningMethodHS256, testSecret, sub("")),
		"bad sub":            signClaims(t, jwt.SigningMethodHS256, testSecret, sub("alice smith")),
		"long sub":           signClaims(t, jwt.SigningMethodHS256, testSecret, sub(strings.Repeat("a", 129))),
		"sub wrong type":     handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":42}`, testSecret),
		"exp wrong type":     handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","exp":"tomorrow"}`, testSecret),
		"garbage":            "not-a-token",
		"three garbage":      "a.b.c",
		"tampered payload":   tamper(signClaims(t, jwt.SigningMethodHS256, testSecret, sub("alice"))),
		"oversized":          signClaims(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "pad": strings.Repeat("x", 6000)}),
		"payload not object": handMade(`{"alg":"HS256","typ":"JWT"}`, `["alice"]`, testSecret),
	}
}

// tamper swaps the payload of a token for one naming another user.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`))
	return strings.Join(parts, ".")
}

func TestVerify(t *testing.T) {
	v, err := NewVerifier(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	good := token(t, "alice")
	if user, err := v.Verify(good); err != nil || user != "alice" {
		t.Fatalf("Verify(good) = %q, %v", user, err)
	}
	noExp, err := SignToken(testSecret, "bob_1-x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if user, err := v.Verify(noExp); err != nil || user != "bob_1-x" {
		t.Fatalf("Verify(no exp) = %q, %v", user, err)
	}
	for name, tok := range badTokens(t) {
		user, err := v.Verify(tok)
		if err == nil {
			t.Errorf("%s: accepted as %q", name, user)
			continue
		}
		if code := comment.ErrorCode(err); code != comment.CodeUnauthenticated {
			t.Errorf("%s: code %q", name, code)
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: error repeats the token", name)
		}
	}
	if _, err := SignToken(testSecret, "bad user", time.Hour); err == nil {
		t.Errorf("SignToken accepted a bad user")
	}
	if _, err := SignToken(nil, "alice", time.Hour); err == nil {
		t.Errorf("SignToken accepted an empty secret")
	}
	if _, err := NewVerifier(nil); err == nil {
		t.Errorf("NewVerifier accepted an empty secret")
	}
}

func TestAuthOverHTTP(t *testing.T) {
	e := startEnv(t, nil)
	for name, tok := range badTokens(t) {
		t.Run(name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, token: tok})
			wantError(t, r, 401, comment.CodeUnauthenticated)
			r = e.do(req{method: "GET", path: "/v1/pictures/p1/comments/c1/history", token: tok})
			wantError(t, r, 401, comment.CodeUnauthenticated)
		})
	}
	good := token(t, "alice")
	for name, h := range map[string]string{
		"basic scheme":    "Basic YWxpY2U6cHc=",
		"no scheme":       good,
		"empty bearer":    "Bearer ",
		"bearer only":     "Bearer",
		"huge header":     "Bearer " + strings.Repeat("a", 10000),
		"two tokens":      "Bearer " + good + " " + good,
		"scheme no space": "Bearer" + good,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, hdr: map[string]string{"Authorization": h}})
			wantError(t, r, 401, comment.CodeUnauthenticated)
		})
	}
	if e.bus.sentCount() != 0 {
		t.Fatalf("%d unauthenticated commands reached the bus", e.bus.sentCount())
	}
	r := e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, hdr: map[string]string{"Authorization": "bearer " + good}})
	wantStatus(t, r, 201)

	// A header beyond the read buffer cannot be parsed at all: a clean 400,
	// not a dropped connection.
	r = e.do(req{method: "POST", path: "/v1/pictures/p1/comments", body: `{"text":"x"}`, hdr: map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 40000)}})
	wantError(t, r, 400, comment.CodeInvalidArgument)
}

func TestQueryAuth(t *testing.T) {
	for _, queryAuth := range []bool{false, true} {
		e := startEnv(t, func(c *Config) { c.QueryAuth = queryAuth })
		e.queries.get = func(dst []byte, p, c string) ([]byte, uint64, error) { return append(dst, `{"id":"c1"}`...), 1, nil }
		queries := []string{"/v1/pictures/p1/comments", "/v1/pictures/p1/comments/c1", "/v1/events"}
		for _, path := range queries {
			r := e.do(req{method: "GET", path: path})
			if queryAuth {
				wantError(t, r, 401, comment.CodeUnauthenticated)
			} else {
				wantStatus(t, r, 200)
			}
			// Without query auth a bad Authorization header is ignored.
			r = e.do(req{method: "GET", path: path, token: "garbage"})
			if queryAuth {
				wantError(t, r, 401, comment.CodeUnauthenticated)
			} else {
				wantStatus(t, r, 200)
			}
			wantStatus(t, e.do(req{method: "GET", path: path, token: token(t, "reader")}), 200)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			wantStatus(t, e.do(req{method: "GET", path: path, token: "garbage"}), 200)
		}
		if r := e.do(req{method: "GET", path: "/metrics"}); r.status != 200 {
			t.Errorf("/metrics = %d", r.status)
		}
		// With query auth, a bad identifier without a token is still 401.
		if queryAuth {
			wantError(t, e.do(req{method: "GET", path: "/v1/pictures/b@d/comments"}), 401, comment.CodeUnauthenticated)
		}
	}
}

func TestHistory(t *testing.T) {
	e := startEnv(t, nil)
	alice := token(t, "alice")
	wantStatus(t, e.create("alice", "p1", "c1", "nice"), 201)
	wantStatus(t, e.create("bob", "p1", "other", "hey"), 201)
	wantStatus(t, e.do(req{method: "PATCH", path: "/v1/pictures/p1/comments/c1", body: `{"text":"nicer \"quoted\"\n"}`, token: alice}), 200)
	wantStatus(t, e.do(req{method: "DELETE", path: "/v1/pictures/p1/comments/c1", token: alice}), 200)

	r := e.do(req{method: "GET", path: "/v1/pictures/p1/comments/c1/history", token: alice})
	wantStatus(t, r, 200)
	want := `{"pictureId":"p1","id":"c1","events":[` +
		`{"type":"CommentCreated","version":1,"position":1,"at":"1970-01-01T00:00:00.001000000Z","author":"alice","text":"nice"},` +
		`{"type":"CommentTextUpdated","version":2,"position":3,"at":"1970-01-01T00:00:00.003000000Z","text":"nicer \"quoted\""},` +
		`{"type":"CommentDeleted","version":3,"position":4,"at":"1970-01-01T00:00:00.004000000Z"}]}`
	if string(r.body) != want {
		t.Errorf("history =\n%s\nwant\n%s", r.body, want)
	}
	wantError(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments/c1/history", token: token(t, "bob")}), 403, comment.CodeForbidden)
	wantError(t, e.do(req{method: "GET", path: "/v1/pictures/p2/comments/c1/history", token: alice}), 404, comment.CodeNotFound)
	wantError(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments/none/history", token: alice}), 404, comment.CodeNotFound)
	wantError(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments/c1/history"}), 401, comment.CodeUnauthenticated)
	wantError(t, e.do(req{method: "GET", path: "/v1/pictures/p1/comments/c!/history", token: alice}), 400, comment.CodeInvalidArgument)
}

// TestVerifiedTokensRemembered checks the memory of verified tokens: a
// remembered token is still refused once it expires, a token that differs
// only in its signature is verified in full (and refused), and the memory
// stays bounded.
func TestVerifiedTokensRemembered(t *testing.T) {
	v, err := NewVerifier(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	// exp is whole seconds: a ttl of 1s expires within two seconds.
	short, err := SignToken(testSecret, "alice", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if user, err := v.Verify(short); err != nil || user != "alice" {
		t.Fatalf("Verify(short) = %q, %v", user, err)
	}
	v.mu.RLock()
	_, remembered := v.verified[short]
	v.mu.RUnlock()
	if !remembered {
		t.Fatal("a verified token was not remembered")
	}
	if user, err := v.Verify(short); err != nil || user != "alice" {
		t.Fatalf("Verify(short) again = %q, %v", user, err)
	}

	good := token(t, "bob")
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	sig := good[strings.LastIndexByte(good, '.')+1:]
	flipped := []byte(sig)
	flipped[0] ^= 1
	if flipped[0] == '.' || !strings.ContainsRune(base64URL, rune(flipped[0])) {
		flipped[0] = 'A'
	}
	forged := good[:len(good)-len(sig)] + string(flipped)
	if forged != good {
		if user, err := v.Verify(forged); err == nil {
			t.Errorf("a token with another signature was accepted as %q", user)
		}
	}

	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := v.Verify(short)
		if err != nil {
			if code := comment.ErrorCode(err); code != comment.CodeUnauthenticated {
				t.Fatalf("expired remembered token: code %q", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a remembered token was still accepted after its expiry")
		}
		time.Sleep(50 * time.Millisecond)
	}

	for i := range maxVerified + 10 {
		tok, err := SignToken(testSecret, "u"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), time.Duration(i+1)*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	v.mu.RLock()
	n := len(v.verified)
	v.mu.RUnlock()
	if n > maxVerified {
		t.Errorf("%d tokens remembered, bound %d", n, maxVerified)
	}
}

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
