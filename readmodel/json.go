package readmodel

import (
	"strconv"
	"time"

	"github.com/commentd/commentd/comment"
)

// appendCommentJSON appends the API's comment object for r:
// {"id":…,"pictureId":…,"author":…,"text":…,"createdAt":…,"updatedAt":…,"version":…}
func appendCommentJSON(dst []byte, r *record) []byte {
	dst = append(dst, `{"id":`...)
	dst = comment.AppendJSONString(dst, r.ID)
	dst = append(dst, `,"pictureId":`...)
	dst = comment.AppendJSONString(dst, r.PictureID)
	dst = append(dst, `,"author":`...)
	dst = comment.AppendJSONString(dst, r.Author)
	dst = append(dst, `,"text":`...)
	dst = comment.AppendJSONString(dst, r.Text)
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
	dst = comment.AppendJSONString(dst, pictureID)
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
