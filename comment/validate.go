package comment

import (
	"strings"
	"unicode/utf8"
)

// Limits of the input the domain accepts (API.md).
const (
	// MaxIDLength is the maximum length of an identifier, in bytes (all of
	// an identifier's characters are ASCII).
	MaxIDLength = 128
	// MaxTextLength is the maximum length of a normalised text, in code
	// points.
	MaxTextLength = 2000
)

// idChar marks the bytes an identifier may contain: [A-Za-z0-9_-].
var idChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'], t['-'] = true, true
	return t
}()

// ValidateID checks that id is an identifier: 1 to 128 characters of
// [A-Za-z0-9_-]. It returns nil or an *Error with CodeInvalidArgument whose
// message names the rule that failed (it never repeats the input).
func ValidateID(id string) error { return validateID("identifier", id) }

// validateID is ValidateID with the name of the field in the message.
func validateID(field, id string) error {
	if len(id) == 0 {
		return Errorf(CodeInvalidArgument, "%s is empty", field)
	}
	if len(id) > MaxIDLength {
		return Errorf(CodeInvalidArgument, "%s is longer than %d characters", field, MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if !idChar[id[i]] {
			return Errorf(CodeInvalidArgument,
				"%s has a character outside [A-Za-z0-9_-] at byte %d", field, i+1)
		}
	}
	return nil
}

// NormalizeText validates a comment text and returns it in the form it is
// stored in. In order:
//
//   - the text must be valid UTF-8;
//   - every "\r\n" becomes "\n";
//   - leading and trailing white space (the Unicode White_Space property,
//     see isWhiteSpace) is trimmed;
//   - the result must have 1 to MaxTextLength code points, no control
//     character (category Cc) other than '\n' and '\t', and no bidirectional
//     override or isolate (U+202A–U+202E, U+2066–U+2069).
//
// Errors are *Error with CodeInvalidArgument; the message says which rule
// failed and where, and never repeats the text. NormalizeText does not
// allocate unless the text contains "\r\n" or is rejected, and it is
// idempotent: a normalised text normalises to itself.
func NormalizeText(text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", Errorf(CodeInvalidArgument, "text is not valid UTF-8")
	}
	if strings.Contains(text, "\r\n") {
		text = strings.ReplaceAll(text, "\r\n", "\n")
	}
	text = strings.TrimFunc(text, isWhiteSpace)
	if text == "" {
		return "", Errorf(CodeInvalidArgument, "text is empty or only white space")
	}
	// Bytes are at least code points: count only when it can matter.
	if len(text) > MaxTextLength && utf8.RuneCountInString(text) > MaxTextLength {
		return "", Errorf(CodeInvalidArgument, "text is longer than %d characters", MaxTextLength)
	}
	// The text is valid UTF-8, so a lead byte gives the length of its
	// sequence, and only two lead bytes can start a forbidden code point:
	// 0xC2 (U+0080–U+00BF, with the C1 controls) and 0xE2 (U+2000–U+2FFF,
	// with the bidirectional controls). This loop runs for every command.
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c < utf8.RuneSelf:
			if !textASCII[c] {
				return "", errControl(rune(c), text, i)
			}
			i++
		case c == 0xc2 || c == 0xe2:
			r, size := utf8.DecodeRuneInString(text[i:])
			if r <= 0x9f {
				return "", errControl(r, text, i)
			}
			if (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				return "", Errorf(CodeInvalidArgument,
					"text contains a bidirectional override or isolate (U+%04X) at character %d",
					r, utf8.RuneCountInString(text[:i])+1)
			}
			i += size
		case c < 0xe0:
			i += 2
		case c < 0xf0:
			i += 3
		default:
			i += 4
		}
	}
	return text, nil
}

// textASCII marks the ASCII characters a text may contain: all but the
// controls, except '\n' and '\t'.
var textASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	t['\n'], t['\t'] = true, true
	return t
}()

// errControl reports the control character r at byte i of text.
func errControl(r rune, text string, i int) error {
	return Errorf(CodeInvalidArgument, "text contains a control character (U+%04X) at character %d",
		r, utf8.RuneCountInString(text[:i])+1)
}

// isWhiteSpace reports whether r has the Unicode White_Space property
// (PropList.txt): U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680,
// U+2000–U+200A, U+2028, U+2029, U+202F, U+205F and U+3000. (It agrees with
// unicode.IsSpace, which is specified with the same set, and is spelled out
// here so that the stored format does not drift with the unicode tables.)
func isWhiteSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}
