package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignToken returns an HS256 JWT for user, signed with secret, expiring after
// ttl (no exp claim when ttl <= 0). It is what commentd accepts as a bearer
// token.
func SignToken(secret []byte, user string, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("bench: empty auth secret")
	}
	claims := jwt.MapClaims{"sub": user, "iat": time.Now().Unix()}
	if ttl > 0 {
		claims["exp"] = time.Now().Add(ttl).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("bench: sign token: %w", err)
	}
	return s, nil
}

// ReadSecret reads the server's auth secret from <dataDir>/auth-secret,
// without surrounding white space.
func ReadSecret(dataDir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "auth-secret"))
	if err != nil {
		return nil, fmt.Errorf("bench: read auth secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("bench: %s is empty", filepath.Join(dataDir, "auth-secret"))
	}
	return b, nil
}
