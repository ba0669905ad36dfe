package httpapi

import (
	"strconv"

	"github.com/commentd/commentd/comment"
)

// appendResult appends the body of a successful command.
func appendResult(dst []byte, r comment.Result) []byte {
	dst = append(dst, `{"pictureId":`...)
	dst = comment.AppendJSONString(dst, r.PictureID)
	dst = append(dst, `,"id":`...)
	dst = comment.AppendJSONString(dst, r.ID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendUint(dst, r.Version, 10)
	dst = append(dst, `,"position":`...)
	dst = strconv.AppendUint(dst, r.Position, 10)
	return append(dst, '}')
}

// appendHistory appends a comment's history: its events in version order.
func appendHistory(dst []byte, pictureID, commentID string, events []comment.Event) []byte {
	dst = append(dst, `{"pictureId":`...)
	dst = comment.AppendJSONString(dst, pictureID)
	dst = append(dst, `,"id":`...)
	dst = comment.AppendJSONString(dst, commentID)
	dst = append(dst, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":`...)
		dst = comment.AppendJSONString(dst, e.Type.String())
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
		dst = comment.AppendJSONString(dst, e.Type.String())
		dst = append(dst, `,"pictureId":`...)
		dst = comment.AppendJSONString(dst, e.PictureID)
		dst = append(dst, `,"commentId":`...)
		dst = comment.AppendJSONString(dst, e.CommentID)
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
		dst = comment.AppendJSONString(dst, e.Author)
	}
	if e.Type == comment.TypeCreated || e.Type == comment.TypeTextUpdated {
		dst = append(dst, `,"text":`...)
		dst = comment.AppendJSONString(dst, e.Text)
	}
	return append(dst, '}')
}

// appendStatus appends {"status":"<s>"}.
func appendStatus(dst []byte, s string) []byte {
	dst = append(dst, `{"status":`...)
	dst = comment.AppendJSONString(dst, s)
	return append(dst, '}')
}
