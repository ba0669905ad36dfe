package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the name, inside the data directory, of the generated token
// secret.
const SecretFile = "auth-secret"

// ensureDataDir creates dir with mode 0700 if it does not exist. It answers
// whether an existing directory is readable by others than its owner, so the
// caller can warn.
func ensureDataDir(dir string) (worldReadable bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create data directory: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("data directory: %w", err)
	}
	if !info.IsDir() {
		return false, fmt.Errorf("data directory %s is not a directory", dir)
	}
	return info.Mode().Perm()&0o077 != 0, nil
}

// readSecret reads the secret kept in <dir>/auth-secret. It answers
// fs.ErrNotExist (wrapped) when there is none.
func readSecret(dir string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, SecretFile))
	if err != nil {
		return nil, fmt.Errorf("read token secret: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return nil, fmt.Errorf("token secret file %s is empty", filepath.Join(dir, SecretFile))
	}
	return []byte(secret), nil
}

// loadOrCreateSecret answers the secret kept in <dir>/auth-secret, creating
// it on first use: 32 random bytes, hex-encoded, in a file of mode 0600,
// written to a temporary file, synced and renamed into place so that a crash
// never leaves a half-written secret. The secret is the file's text (so that
// "--auth-secret $(cat data/auth-secret)" is the same secret). created
// reports whether it was generated now; loose reports an existing file that
// others than its owner may read.
func loadOrCreateSecret(dir string) (secret []byte, created, loose bool, err error) {
	path := filepath.Join(dir, SecretFile)
	secret, err = readSecret(dir)
	if err == nil {
		info, statErr := os.Stat(path)
		if statErr != nil {
			return nil, false, false, fmt.Errorf("token secret: %w", statErr)
		}
		return secret, false, info.Mode().Perm()&0o077 != 0, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, false, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, false, false, fmt.Errorf("generate token secret: %w", err)
	}
	text := hex.EncodeToString(raw[:])
	tmp, err := os.CreateTemp(dir, SecretFile+".tmp-*")
	if err != nil {
		return nil, false, false, fmt.Errorf("write token secret: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := writeSyncClose(tmp, text+"\n"); err != nil {
		return nil, false, false, fmt.Errorf("write token secret: %w", err)
	}
	// Link fails if another process created the secret meanwhile: then
	// theirs wins and is read back.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			secret, err = readSecret(dir)
			return secret, false, false, err
		}
		return nil, false, false, fmt.Errorf("write token secret: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, false, false, fmt.Errorf("write token secret: %w", err)
	}
	return []byte(text), true, false, nil
}

func writeSyncClose(f *os.File, text string) error {
	// CreateTemp makes the file 0600 already; Chmod guards against a
	// platform that does otherwise.
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
