package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	first, created, loose, err := loadOrCreateSecret(dir)
	if err != nil || !created || loose {
		t.Fatalf("first call: created %v loose %v err %v", created, loose, err)
	}
	again, created, loose, err := loadOrCreateSecret(dir)
	if err != nil || created || loose || string(again) != string(first) {
		t.Fatalf("second call: %q created %v loose %v err %v, want %q", again, created, loose, err, first)
	}
	path := filepath.Join(dir, SecretFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, loose, err := loadOrCreateSecret(dir); err != nil || !loose {
		t.Fatalf("a 0644 secret file: loose %v err %v", loose, err)
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only %s", len(entries), SecretFile)
	}
}

func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	dir := t.TempDir()
	secrets := make([]string, 8)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, _, err := loadOrCreateSecret(dir)
			if err != nil {
				t.Error(err)
			}
			secrets[i] = string(s)
		}()
	}
	wg.Wait()
	for _, s := range secrets {
		if s != secrets[0] || len(s) != 64 {
			t.Fatalf("concurrent starts disagree on the secret: %q", secrets)
		}
	}
}

func TestReadSecretEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SecretFile), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSecret(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty secret file: err = %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"64MiB", 64 << 20, true}, {"2GiB", 2 << 30, true},
		{"3KiB", 3 << 10, true}, {"10B", 10, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"lots", 0, false}, {"99999999999GiB", 0, false},
	} {
		got, err := parseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
