package main

import (
	"strings"
	"testing"
)

// TestMaxActorsFlag checks --max-actors and COMMENTS_MAX_ACTORS: the flag
// beats the variable, and a negative or malformed value is a usage error.
func TestMaxActorsFlag(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   string
		want  int
		usage bool
	}{
		{"default", nil, "", 0, false},
		{"flag", []string{"--max-actors", "5000"}, "", 5000, false},
		{"env", nil, "700", 700, false},
		{"flag beats env", []string{"--max-actors=9"}, "700", 9, false},
		{"negative", []string{"--max-actors", "-1"}, "", 0, true},
		{"negative env", nil, "-3", 0, true},
		{"not a number", []string{"--max-actors", "many"}, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			m.Stderr = &strings.Builder{}
			err := m.ParseFlags(tc.args, func(k string) string {
				if k == "COMMENTS_MAX_ACTORS" {
					return tc.env
				}
				return ""
			})
			if tc.usage {
				if !IsUsageError(err) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.MaxActors != tc.want {
				t.Fatalf("MaxActors = %d, want %d", m.Config.MaxActors, tc.want)
			}
		})
	}
}
