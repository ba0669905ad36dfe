package httpapi

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/commentd/commentd/comment"
)

// maxTokenLen bounds the bearer token the verifier will look at. Real tokens
// are a few hundred bytes; anything longer is rejected before any decoding.
const maxTokenLen = 4096

// SignToken returns an HS256-signed JWT whose subject is user. A ttl of 0
// gives a token without expiry; a negative ttl gives one that has already
// expired. user must be a valid identifier.
func SignToken(secret []byte, user string, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("httpapi: empty secret")
	}
	if err := comment.ValidateID(user); err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:  user,
		IssuedAt: jwt.NewNumericDate(now),
	}
	if ttl != 0 {
		claims.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// Verifier checks bearer tokens. It is safe for concurrent use.
//
// Clients send the same token with many requests, and checking one (base64,
// two JSON documents, an HMAC) costs more than the rest of a command's HTTP
// work. So a Verifier remembers, for a bounded number of tokens, the subject
// and expiry of tokens it has verified, keyed by the whole token string: a
// token that differs in any byte, its signature included, is verified from
// scratch. Only successful verifications are remembered, and the expiry is
// checked again at every use, so a remembered token is refused from the
// moment it expires exactly as a fresh verification would refuse it. (A
// remembered token's not-before time had passed when it was verified, and
// time does not go back.)
type Verifier struct {
	secret []byte
	parser *jwt.Parser

	mu       sync.RWMutex
	verified map[string]verifiedToken
}

// verifiedToken is what a Verifier remembers of a token it accepted.
type verifiedToken struct {
	user string
	exp  int64 // Unix seconds of the exp claim; 0: none
}

// maxVerified bounds the tokens a Verifier remembers. When full it forgets
// them all: a steady load has far fewer distinct tokens, and a flood of
// distinct ones then costs what it would cost without the memory.
const maxVerified = 4096

// NewVerifier returns a Verifier for HS256 tokens signed with secret. It
// copies secret.
func NewVerifier(secret []byte) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, errors.New("httpapi: empty secret")
	}
	return &Verifier{
		secret: bytes.Clone(secret),
		// Only HS256: "none", the other HMAC sizes and every asymmetric
		// algorithm (and so key confusion with a public key) are refused
		// before the key function runs. exp and nbf are enforced when present.
		parser:   jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})),
		verified: make(map[string]verifiedToken),
	}, nil
}

// Verify checks a compact JWT and returns its subject, the acting user.
// Every failure is a *comment.Error with code unauthenticated, whose message
// never repeats the token.
func (v *Verifier) Verify(token string) (string, error) {
	return v.verifyBytes(token, token)
}

// verifyBytes is Verify for a token that may alias a request buffer: tok is
// used only for the lookup, and copied (or owned, when the caller passes it
// as owned) before it is remembered.
func (v *Verifier) verifyBytes(tok, owned string) (string, error) {
	if tok == "" || len(tok) > maxTokenLen {
		return "", errBadToken
	}
	v.mu.RLock()
	t, ok := v.verified[tok]
	v.mu.RUnlock()
	if ok {
		// The same test as jwt's: expired once now is not before exp.
		if t.exp != 0 && !time.Now().Before(time.Unix(t.exp, 0)) {
			return "", errExpired
		}
		return t.user, nil
	}
	token := owned
	if token == "" {
		token = strings.Clone(tok)
	}
	user, exp, err := v.verify(token)
	if err != nil {
		return "", err
	}
	v.mu.Lock()
	if len(v.verified) >= maxVerified {
		clear(v.verified)
	}
	v.verified[token] = verifiedToken{user: user, exp: exp}
	v.mu.Unlock()
	return user, nil
}

var errExpired = comment.Errorf(comment.CodeUnauthenticated, "token expired")

// verify checks a token in full and returns its subject and exp claim
// (Unix seconds, 0 when absent).
func (v *Verifier) verify(token string) (string, int64, error) {
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, v.key)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return "", 0, errExpired
		}
		if errors.Is(err, jwt.ErrTokenNotValidYet) {
			return "", 0, comment.Errorf(comment.CodeUnauthenticated, "token not valid yet")
		}
		return "", 0, errBadToken
	}
	if claims.Subject == "" {
		return "", 0, comment.Errorf(comment.CodeUnauthenticated, "token has no subject")
	}
	if comment.ValidateID(claims.Subject) != nil {
		return "", 0, comment.Errorf(comment.CodeUnauthenticated, "token subject is not a valid identifier")
	}
	var exp int64
	if claims.ExpiresAt != nil {
		exp = claims.ExpiresAt.Unix()
		if exp == 0 {
			// An exp of the epoch itself: long past, and 0 means "none"
			// here, so do not remember it.
			return "", 0, errExpired
		}
	}
	return claims.Subject, exp, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	// WithValidMethods already refused other algorithms; this guards the
	// key type as well, so an HMAC key is never handed to another method.
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok || t.Method.Alg() != "HS256" {
		return nil, errors.New("unexpected signing method")
	}
	return v.secret, nil
}

// bearerToken extracts the token from an Authorization header value. The
// scheme is case-insensitive. The token aliases h.
func bearerToken(h []byte) ([]byte, error) {
	if len(h) == 0 {
		return nil, errNoToken
	}
	if len(h) > maxTokenLen+len("Bearer ") {
		return nil, errBadToken
	}
	const scheme = "bearer "
	if len(h) < len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		return nil, errBadToken
	}
	tok := bytes.TrimSpace(h[len(scheme):])
	if len(tok) == 0 {
		return nil, errBadToken
	}
	return tok, nil
}
