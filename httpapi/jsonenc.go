package httpapi

import (
	"strconv"
	"unicode/utf8"

	"github.com/commentd/commentd/comment"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD; control characters and U+2028/U+2029 are escaped so the output is
// safe to embed anywhere.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendResult appends the body of a successful command.
func appendResult(dst []byte, r comment.Result) []byte {
	dst = append(dst, `{"pictureId":`...)
	dst = appendJSONString(dst, r.PictureID)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, r.ID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendUint(dst, r.Version, 10)
	dst = append(dst, `,"position":`...)
	dst = strconv.AppendUint(dst, r.Position, 10)
	return append(dst, '}')
}

// appendHistory appends a comment's history: its events in version order.
func appendHistory(dst []byte, pictureID, commentID string, events []comment.Event) []byte {
	dst = append(dst, `{"pictureId":`...)
	dst = appendJSONString(dst, pictureID)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, commentID)
	dst = append(dst, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":`...)
		dst = appendJSONString(dst, e.Type.String())
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendUint(dst, e.Version, 10)
		dst = append(dst, `,"position":`...)
		dst = strconv.AppendUint(dst, e.Position, 10)
		dst = appendEventTail(dst, e)
	}
	return append(dst, "]}"...)
}

// appendFeed appends a page of the event feed.
func appendFeed(dst []byte, events []comment.Event, last uint64) []byte {
	dst = append(dst, `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"position":`...)
		dst = strconv.AppendUint(dst, e.Position, 10)
		dst = append(dst, `,"type":`...)
		dst = appendJSONString(dst, e.Type.String())
		dst = append(dst, `,"pictureId":`...)
		dst = appendJSONString(dst, e.PictureID)
		dst = append(dst, `,"commentId":`...)
		dst = appendJSONString(dst, e.CommentID)
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendUint(dst, e.Version, 10)
		dst = appendEventTail(dst, e)
	}
	dst = append(dst, `],"last":`...)
	dst = strconv.AppendUint(dst, last, 10)
	return append(dst, '}')
}

// appendEventTail appends the "at", "author" and "text" members an event
// carries and closes its object.
func appendEventTail(dst []byte, e comment.Event) []byte {
	dst = append(dst, `,"at":"`...)
	dst = comment.AppendTime(dst, e.At)
	dst = append(dst, '"')
	if e.Type == comment.TypeCreated {
		dst = append(dst, `,"author":`...)
		dst = appendJSONString(dst, e.Author)
	}
	if e.Type == comment.TypeCreated || e.Type == comment.TypeTextUpdated {
		dst = append(dst, `,"text":`...)
		dst = appendJSONString(dst, e.Text)
	}
	return append(dst, '}')
}

// appendStatus appends {"status":"<s>"}.
func appendStatus(dst []byte, s string) []byte {
	dst = append(dst, `{"status":`...)
	dst = appendJSONString(dst, s)
	return append(dst, '}')
}
