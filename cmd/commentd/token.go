package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/httpapi"
)

// runToken is the token command: it prints a signed token for --user. The
// secret comes from --auth-secret, else COMMENTS_AUTH_SECRET, else
// <data>/auth-secret, where data is --data, else COMMENTS_DATA, else ./data.
// It never creates a secret.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		user, secret, dataDir string
		ttl                   time.Duration
	)
	flags := flag.NewFlagSet("commentd token", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&user, "user", "", "the token's subject: a user `id` of [A-Za-z0-9_-]{1,128} (required)")
	flags.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	flags.StringVar(&secret, "auth-secret", "", "HS256 `secret` [COMMENTS_AUTH_SECRET] (default: <data>/auth-secret)")
	flags.StringVar(&dataDir, "data", DefaultDataDir, "data `directory` holding auth-secret [COMMENTS_DATA]")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: commentd token --user <id> [--ttl 24h] [--auth-secret S] [--data DIR]\n\nPrints a signed bearer token for the user.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	err := parseWithEnv(flags, args, getenv, []envFlag{
		{"auth-secret", "COMMENTS_AUTH_SECRET"},
		{"data", "COMMENTS_DATA"},
	})
	if err != nil {
		return err
	}
	if user == "" {
		return usagef("--user is required")
	}
	if err := comment.ValidateID(user); err != nil {
		return usagef("invalid --user %q: must be 1-128 characters of [A-Za-z0-9_-]", user)
	}
	if ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	key := []byte(secret)
	if len(key) == 0 {
		key, err = readSecret(dataDir)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no token secret: pass --auth-secret, or start the server once with --data %s to generate one", dataDir)
		}
		if err != nil {
			return err
		}
	}
	token, err := httpapi.SignToken(key, user, ttl)
	if err != nil {
		return fmt.Errorf("sign token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
