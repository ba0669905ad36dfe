package comment

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
		msg  string // substring of the message when rejected
	}{
		{"one letter", "a", true, ""},
		{"all classes", "Az09_-", true, ""},
		{"128 characters", strings.Repeat("x", 128), true, ""},
		{"empty", "", false, "identifier is empty"},
		{"129 characters", strings.Repeat("x", 129), false, "longer than 128"},
		{"space", "a b", false, "outside [A-Za-z0-9_-] at byte 2"},
		{"slash", "a/b", false, "at byte 2"},
		{"dot", ".", false, "at byte 1"},
		{"percent", "a%20", false, "at byte 2"},
		{"non-ASCII letter", "é", false, "at byte 1"},
		{"NUL", "a\x00", false, "at byte 2"},
		{"invalid UTF-8", "\xff", false, "at byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidArgument {
				t.Fatalf("ValidateID(%q) = %v, want *Error %s", tt.id, err, CodeInvalidArgument)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.msg)
			}
		})
	}
}

func TestNormalizeText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // normalised text; "" when rejected
		msg  string // substring of the message when rejected
	}{
		{"plain", "nice", "nice", ""},
		{"trims ASCII space", " \t\n nice \r\n\t ", "nice", ""},
		{"keeps inner newline and tab", "a\n\tb", "a\n\tb", ""},
		{"CRLF becomes LF", "a\r\nb\r\n\r\nc", "a\nb\n\nc", ""},
		{"trims NEL", "\u0085a\u0085", "a", ""},
		{"trims NBSP", "\u00a0a\u00a0", "a", ""},
		{"trims ogham space", "\u1680a", "a", ""},
		{"trims en quad .. hair space", "\u2000\u2005\u200aa\u200a", "a", ""},
		{"trims line and paragraph separators", "\u2028a\u2029", "a", ""},
		{"trims narrow NBSP, math space, ideographic space", "\u202f\u205f\u3000a\u3000", "a", ""},
		{"keeps zero width space", "\u200ba\u200b", "\u200ba\u200b", ""},
		{"keeps BOM", "\ufeffa", "\ufeffa", ""},
		{"keeps Mongolian vowel separator", "\u180ea", "\u180ea", ""},
		{"keeps inner white space", "a\u3000b", "a\u3000b", ""},
		{"keeps replacement character", "\ufffd", "\ufffd", ""},
		{"2000 code points", strings.Repeat("é", 2000), strings.Repeat("é", 2000), ""},
		{"2000 after trim", " " + strings.Repeat("a", 2000) + "\n", strings.Repeat("a", 2000), ""},
		{"2000 with four-byte runes", strings.Repeat("😀", 2000), strings.Repeat("😀", 2000), ""},

		{"empty", "", "", "empty or only white space"},
		{"only white space", " \r\n\t\u3000\u2028", "", "empty or only white space"},
		{"2001 code points", strings.Repeat("é", 2001), "", "longer than 2000 characters"},
		{"invalid UTF-8", "a\xffb", "", "not valid UTF-8"},
		{"surrogate half", "a\xed\xa0\x80", "", "not valid UTF-8"},
		{"NUL", "a\x00b", "", "control character (U+0000) at character 2"},
		{"bell", "ab\a", "", "control character (U+0007) at character 3"},
		{"lone CR inside", "a\rb", "", "control character (U+000D) at character 2"},
		{"vertical tab inside", "a\vb", "", "(U+000B)"},
		{"DEL", "a\x7f", "", "(U+007F)"},
		{"C1 control", "a\u0080", "", "(U+0080)"},
		{"NEL inside", "a\u0085b", "", "(U+0085)"},
		{"C1 last", "a\u009f", "", "(U+009F)"},
		{"escape", "\x1b[31mred", "", "(U+001B) at character 1"},
		{"LRE", "a\u202ab", "", "bidirectional override or isolate (U+202A) at character 2"},
		{"RLO", "a\u202eb", "", "(U+202E)"},
		{"LRI", "\u2066a", "", "(U+2066)"},
		{"PDI", "a\u2069", "", "(U+2069)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeText(tt.in)
			if tt.msg == "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeText(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
				}
				again, err := NormalizeText(got)
				if err != nil || again != got {
					t.Fatalf("not idempotent: NormalizeText(%q) = %q, %v", got, again, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidArgument {
				t.Fatalf("NormalizeText(%q) = %q, %v; want *Error %s", tt.in, got, err, CodeInvalidArgument)
			}
			if got != "" {
				t.Errorf("rejected text returned %q", got)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.msg)
			}
		})
	}
}

// TestNormalizeTextMessagesDoNotEchoInput rejects huge inputs and checks the
// message stays short and free of the input.
func TestNormalizeTextMessagesDoNotEchoInput(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("secret", 100000),
		strings.Repeat("secret", 100) + "\x00",
		strings.Repeat("secret", 100) + "\xff",
		strings.Repeat("secret", 100) + "\u202e",
	} {
		_, err := NormalizeText(in)
		if err == nil {
			t.Fatal("accepted")
		}
		if msg := err.Error(); len(msg) > 100 || strings.Contains(msg, "secret") {
			t.Errorf("message echoes the input or is long: %q", msg)
		}
	}
}

// TestIsWhiteSpace checks isWhiteSpace against the unicode tables for every
// code point.
func TestIsWhiteSpace(t *testing.T) {
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := unicode.Is(unicode.White_Space, r)
		if got := isWhiteSpace(r); got != want {
			t.Errorf("isWhiteSpace(%U) = %v, want %v", r, got, want)
		}
		if want {
			n++
		}
	}
	if n != 25 {
		t.Errorf("%d White_Space code points, want 25", n)
	}
}

func TestNormalizeTextAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	in := "  a comment of some length, with é and 😀 \n"
	if n := testing.AllocsPerRun(100, func() { _, _ = NormalizeText(in) }); n != 0 {
		t.Errorf("NormalizeText allocates %v times, want 0", n)
	}
}
