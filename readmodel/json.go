package readmodel

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/commentd/commentd/comment"
)

// appendCommentJSON appends the API's comment object for r:
// {"id":…,"pictureId":…,"author":…,"text":…,"createdAt":…,"updatedAt":…,"version":…}
func appendCommentJSON(dst []byte, r *record) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, r.ID)
	dst = append(dst, `,"pictureId":`...)
	dst = appendJSONString(dst, r.PictureID)
	dst = append(dst, `,"author":`...)
	dst = appendJSONString(dst, r.Author)
	dst = append(dst, `,"text":`...)
	dst = appendJSONString(dst, r.Text)
	dst = append(dst, `,"createdAt":"`...)
	dst = comment.AppendTime(dst, unixTime(r.CreatedAt))
	dst = append(dst, `","updatedAt":"`...)
	dst = comment.AppendTime(dst, unixTime(r.UpdatedAt))
	dst = append(dst, `","version":`...)
	dst = strconv.AppendUint(dst, r.Version, 10)
	return append(dst, '}')
}

// appendListHead appends {"pictureId":…,"comments":[
func appendListHead(dst []byte, pictureID string) []byte {
	dst = append(dst, `{"pictureId":`...)
	dst = appendJSONString(dst, pictureID)
	return append(dst, `,"comments":[`...)
}

// appendListTail appends ],"next":…} with next the cursor after position
// nextPos, or null when hasNext is false.
func appendListTail(dst []byte, hasNext bool, nextPos uint64) []byte {
	if !hasNext {
		return append(dst, `],"next":null}`...)
	}
	dst = append(dst, `],"next":"`...)
	dst = appendCursor(dst, nextPos)
	return append(dst, `"}`...)
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes ", \ and control
// characters, U+2028 and U+2029 (for JavaScript consumers), and replaces
// invalid UTF-8 with U+FFFD, as encoding/json does; it does not escape <, >
// and &.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
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
