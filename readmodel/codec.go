package readmodel

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/commentd/commentd/comment"
)

// Key prefixes of the read store (see the package documentation).
const (
	prefixMeta    byte = 0x00
	prefixListing byte = 0x01
	prefixByID    byte = 0x02
)

// formatVersion is the version of the key schema and value encoding. Open
// refuses a store written with another version: the read store is rebuilt
// from the event log instead of being migrated.
const formatVersion uint32 = 1

// valueVersion is the first byte of every listing value.
const valueVersion byte = 1

var (
	keyFormatVersion = []byte{prefixMeta, 'v'}
	keyCheckpoint    = []byte{prefixMeta, 'c'}
)

// appendListingPrefix appends the prefix shared by all listing keys of a
// picture: 0x01 | picture | 0x00. Identifiers never contain 0x00, so no
// picture's prefix is a prefix of another's.
func appendListingPrefix(dst []byte, pictureID string) []byte {
	dst = append(dst, prefixListing)
	dst = append(dst, pictureID...)
	return append(dst, 0)
}

// appendListingKey appends 0x01 | picture | 0x00 | created position (8 bytes,
// big-endian), so a picture's comments iterate in creation order.
func appendListingKey(dst []byte, pictureID string, pos uint64) []byte {
	dst = appendListingPrefix(dst, pictureID)
	return binary.BigEndian.AppendUint64(dst, pos)
}

// appendByIDKey appends 0x02 | comment id.
func appendByIDKey(dst []byte, commentID string) []byte {
	dst = append(dst, prefixByID)
	return append(dst, commentID...)
}

// prefixEnd returns the smallest key greater than every key that starts with
// prefix (prefix must not end in 0xff).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	end[len(end)-1]++
	return end
}

// appendByIDValue appends the by-id value of r: created position (8 bytes,
// big-endian) | version (uvarint) | createdAt (varint Unix ns) | author
// (uvarint length, bytes) | picture id (the rest). It carries everything
// an update or a deletion needs except the text, so applying one costs a
// single read.
func appendByIDValue(dst []byte, r *record) []byte {
	dst = binary.BigEndian.AppendUint64(dst, r.Pos)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, r.CreatedAt)
	dst = appendString(dst, r.Author)
	return append(dst, r.PictureID...)
}

// decodeByIDValue decodes a by-id value into r (copying its strings); it
// leaves r.ID, r.Text and r.UpdatedAt alone.
func decodeByIDValue(v []byte, r *record) error {
	if len(v) < 8 {
		return errCorruptByID
	}
	r.Pos = binary.BigEndian.Uint64(v)
	v = v[8:]
	var n int
	if r.Version, n = binary.Uvarint(v); n <= 0 {
		return errCorruptByID
	}
	v = v[n:]
	if r.CreatedAt, n = binary.Varint(v); n <= 0 {
		return errCorruptByID
	}
	v = v[n:]
	author, v, err := viewString(v)
	if err != nil || len(v) == 0 {
		return errCorruptByID
	}
	r.Author, r.PictureID = strings.Clone(author), string(v)
	return nil
}

var errCorruptByID = errors.New("readmodel: corrupt by-id value")

// record is the stored state of one live comment.
type record struct {
	PictureID string
	Pos       uint64 // global position of the creation event
	ID        string
	Author    string
	Text      string
	CreatedAt int64 // Unix ns
	UpdatedAt int64 // Unix ns
	Version   uint64
}

// appendListingValue appends the listing value of r: valueVersion | id |
// author | text (each a uvarint length then bytes) | createdAt | updatedAt
// (varint Unix ns) | version (uvarint). The picture and the created position
// are in the key.
func appendListingValue(dst []byte, r *record) []byte {
	dst = append(dst, valueVersion)
	dst = appendString(dst, r.ID)
	dst = appendString(dst, r.Author)
	dst = appendString(dst, r.Text)
	dst = binary.AppendVarint(dst, r.CreatedAt)
	dst = binary.AppendVarint(dst, r.UpdatedAt)
	return binary.AppendUvarint(dst, r.Version)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errCorrupt = errors.New("readmodel: corrupt listing value")

// decodeListingValue decodes v into r (PictureID and Pos are left alone).
// r's strings alias v: r is valid only as long as v is.
func decodeListingValue(v []byte, r *record) error {
	if len(v) == 0 || v[0] != valueVersion {
		return errCorrupt
	}
	v = v[1:]
	var err error
	if r.ID, v, err = viewString(v); err != nil {
		return err
	}
	if r.Author, v, err = viewString(v); err != nil {
		return err
	}
	if r.Text, v, err = viewString(v); err != nil {
		return err
	}
	var n int
	if r.CreatedAt, n = binary.Varint(v); n <= 0 {
		return errCorrupt
	}
	v = v[n:]
	if r.UpdatedAt, n = binary.Varint(v); n <= 0 {
		return errCorrupt
	}
	v = v[n:]
	if r.Version, n = binary.Uvarint(v); n <= 0 {
		return errCorrupt
	}
	return nil
}

func viewString(v []byte) (string, []byte, error) {
	l, n := binary.Uvarint(v)
	if n <= 0 || uint64(len(v)-n) < l {
		return "", nil, errCorrupt
	}
	if l == 0 {
		return "", v[n:], nil
	}
	return unsafe.String(&v[n], int(l)), v[n+int(l):], nil
}

// decodeListingPos returns the created position at the end of a listing key.
func decodeListingPos(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[len(key)-8:])
}

// The cursor is base64url (no padding) of cursorVersion | created position
// of the last comment returned (8 bytes, big-endian) | a 2-byte check of the
// previous 9 bytes. The check lets a garbled cursor be rejected instead of
// silently starting somewhere else.
const (
	cursorVersion  byte   = 1
	cursorRawLen   int    = 11
	cursorTextLen  int    = 15 // base64.RawURLEncoding.EncodedLen(cursorRawLen)
	cursorCheckMul uint32 = 0x9E3779B1
)

// cursorEncoding is strict so that each position has exactly one cursor.
var cursorEncoding = base64.RawURLEncoding.Strict()

func cursorCheck(b []byte) uint16 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	h *= cursorCheckMul
	return uint16(h >> 16)
}

// appendCursor appends the cursor that resumes after created position pos.
func appendCursor(dst []byte, pos uint64) []byte {
	var raw [cursorRawLen]byte
	raw[0] = cursorVersion
	binary.BigEndian.PutUint64(raw[1:9], pos)
	binary.BigEndian.PutUint16(raw[9:], cursorCheck(raw[:9]))
	return cursorEncoding.AppendEncode(dst, raw[:])
}

// parseCursor returns the created position a cursor resumes after; the
// empty cursor is position 0 (the first page).
func parseCursor(cursor string) (uint64, error) {
	if cursor == "" {
		return 0, nil
	}
	if len(cursor) != cursorTextLen {
		return 0, errBadCursor
	}
	var text [cursorTextLen]byte
	copy(text[:], cursor)
	var raw [cursorRawLen]byte
	n, err := cursorEncoding.Decode(raw[:], text[:])
	if err != nil || n != cursorRawLen || raw[0] != cursorVersion ||
		binary.BigEndian.Uint16(raw[9:]) != cursorCheck(raw[:9]) {
		return 0, errBadCursor
	}
	return binary.BigEndian.Uint64(raw[1:9]), nil
}

// errBadCursor is preallocated so that rejecting a cursor does not allocate.
var errBadCursor = &comment.Error{Code: comment.CodeInvalidArgument, Message: "invalid cursor"}

// errBadLimit is preallocated for the same reason.
var errBadLimit = &comment.Error{Code: comment.CodeInvalidArgument, Message: "limit must be at least 1"}

func errNotFound(pictureID, commentID string) error {
	return comment.Errorf(comment.CodeNotFound, "comment %q not found under picture %q", commentID, pictureID)
}

func errBadID(what, id string) error {
	if len(id) > 140 {
		id = id[:128] + "..."
	}
	return comment.Errorf(comment.CodeInvalidArgument, "invalid %s %q", what, id)
}

// validID reports whether id is 1–128 characters of [A-Za-z0-9_-]. The key
// schema relies on identifiers never containing 0x00.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("readmodel: corrupt store: "+format, args...)
}
