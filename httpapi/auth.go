package httpapi

import (
	"bytes"
	"errors"
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
type Verifier struct {
	secret []byte
	parser *jwt.Parser
}

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
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})),
	}, nil
}

// Verify checks a compact JWT and returns its subject, the acting user.
// Every failure is a *comment.Error with code unauthenticated, whose message
// never repeats the token.
func (v *Verifier) Verify(token string) (string, error) {
	if token == "" || len(token) > maxTokenLen {
		return "", errBadToken
	}
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, v.key)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return "", comment.Errorf(comment.CodeUnauthenticated, "token expired")
		}
		if errors.Is(err, jwt.ErrTokenNotValidYet) {
			return "", comment.Errorf(comment.CodeUnauthenticated, "token not valid yet")
		}
		return "", errBadToken
	}
	if claims.Subject == "" {
		return "", comment.Errorf(comment.CodeUnauthenticated, "token has no subject")
	}
	if comment.ValidateID(claims.Subject) != nil {
		return "", comment.Errorf(comment.CodeUnauthenticated, "token subject is not a valid identifier")
	}
	return claims.Subject, nil
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
// scheme is case-insensitive.
func bearerToken(h []byte) (string, error) {
	if len(h) == 0 {
		return "", errNoToken
	}
	if len(h) > maxTokenLen+len("Bearer ") {
		return "", errBadToken
	}
	const scheme = "bearer "
	if len(h) < len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		return "", errBadToken
	}
	tok := bytes.TrimSpace(h[len(scheme):])
	if len(tok) == 0 {
		return "", errBadToken
	}
	return string(tok), nil
}
