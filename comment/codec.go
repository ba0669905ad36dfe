package comment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The binary encodings of an Event (the payload of one record of the event
// log) and of a State (the payload of a snapshot).
//
// # Layout
//
// Both are a format version byte followed by zero or more fields:
//
//	payload = version field*
//	field   = tag length value
//	tag     = uvarint, never 0
//	length  = uvarint, the number of bytes of value
//	value   = length bytes, interpreted according to the tag
//
// uvarint is encoding/binary's unsigned varint (7 bits per byte, least
// significant group first, high bit set on every byte but the last; at most
// 10 bytes). Value kinds:
//
//	string  the bytes of the string, as they are (no terminator)
//	byte    exactly one byte
//	uint    a uvarint that fills the value exactly
//	time    a zig-zag varint of the Unix seconds followed by a uvarint of
//	        the nanoseconds (0–999999999), together filling the value exactly;
//	        decoded in UTC
//
// A writer emits the fields in ascending tag order and omits a field whose
// value is the zero value (empty string, 0, zero time), except the event
// type, which is always present. A reader:
//
//   - rejects an unknown format version (ErrFormatVersion);
//   - skips a field whose tag it does not know, so that a field added later
//     under a new tag is ignored by an older reader (forward compatible);
//     a change that an older reader must not ignore takes a new version;
//   - rejects (ErrCorrupt) truncated data, a tag 0, a length that runs past
//     the end, a varint that overflows, a known field whose value does not
//     fit its kind, a known field given twice, and a missing event type;
//   - never allocates more than the size of its input and never panics.
//
// # Event, format version 1
//
//	tag 1  Type       byte, not 0 (1 CommentCreated, 2 CommentTextUpdated, 3 CommentDeleted)
//	tag 2  PictureID  string
//	tag 3  CommentID  string
//	tag 4  Author     string
//	tag 5  Text       string
//
// Version, Position and At are not encoded: the store's record carries them.
// A decoder keeps an event type it does not know; Evolve ignores it.
// Example: CommentCreated of c1 under p1 by al with text "hi":
//
//	01  01 01 01  02 02 'p' '1'  03 02 'c' '1'  04 02 'a' 'l'  05 02 'h' 'i'
//
// # State (snapshot), format version 1
//
// Its version byte is independent of the event format's.
//
//	tag 1   flags            uint: bit 0 Exists, bit 1 Deleted (Deleted requires
//	                         Exists; other bits are rejected)
//	tag 2   PictureID        string
//	tag 3   ID               string
//	tag 4   Author           string
//	tag 5   Text             string
//	tag 6   CreatedText      string
//	tag 7   CreatedPosition  uint
//	tag 8   CreatedAt        time
//	tag 9   UpdatedAt        time
//	tag 10  Version          uint
//	tag 11  LastPosition     uint

// Format versions: the first byte of every encoded Event and State. The
// formats they name are described at the top of codec.go.
const (
	EventFormatVersion byte = 1
	StateFormatVersion byte = 1
)

// Errors returned by DecodeEvent and DecodeState (wrapped with detail). They
// carry no Code: stored data that does not decode is an internal failure.
var (
	ErrCorrupt       = errors.New("comment: corrupt encoding")
	ErrFormatVersion = errors.New("comment: unsupported format version")
)

// Event field tags.
const (
	evType      = 1
	evPictureID = 2
	evCommentID = 3
	evAuthor    = 4
	evText      = 5
)

// State field tags.
const (
	stFlags           = 1
	stPictureID       = 2
	stID              = 3
	stAuthor          = 4
	stText            = 5
	stCreatedText     = 6
	stCreatedPosition = 7
	stCreatedAt       = 8
	stUpdatedAt       = 9
	stVersion         = 10
	stLastPosition    = 11

	flagExists  = 1 << 0
	flagDeleted = 1 << 1
)

// AppendEvent appends the encoding of e's Type, PictureID, CommentID, Author
// and Text to dst and returns the extended slice. It allocates at most once
// (to grow dst) and not at all when dst has room. An event of Type 0, which
// no code produces, encodes to bytes that DecodeEvent rejects.
func AppendEvent(dst []byte, e Event) []byte {
	n := 1 + 3 + strFieldSize(evPictureID, e.PictureID) + strFieldSize(evCommentID, e.CommentID) +
		strFieldSize(evAuthor, e.Author) + strFieldSize(evText, e.Text)
	dst = grow(dst, n)
	dst = append(dst, EventFormatVersion, evType, 1, byte(e.Type))
	dst = appendString(dst, evPictureID, e.PictureID)
	dst = appendString(dst, evCommentID, e.CommentID)
	dst = appendString(dst, evAuthor, e.Author)
	dst = appendString(dst, evText, e.Text)
	return dst
}

// DecodeEvent decodes an encoding made by AppendEvent. The returned event has
// no Version, Position or At. Its strings share one allocation, a copy of
// data: the caller may reuse data afterwards.
func DecodeEvent(data []byte) (Event, error) {
	if len(data) == 0 {
		return Event{}, fmt.Errorf("%w: empty event", ErrCorrupt)
	}
	if data[0] != EventFormatVersion {
		return Event{}, fmt.Errorf("%w: event format %d", ErrFormatVersion, data[0])
	}
	var e Event
	var seen uint64
	r := reader{s: string(data), i: 1}
	for !r.done() {
		tag, val, err := r.field()
		if err != nil {
			return Event{}, err
		}
		if tag <= evText {
			if seen&(1<<tag) != 0 {
				return Event{}, fmt.Errorf("%w: event field %d repeated", ErrCorrupt, tag)
			}
			seen |= 1 << tag
		}
		switch tag {
		case evType:
			if len(val) != 1 || val[0] == 0 {
				return Event{}, fmt.Errorf("%w: bad event type", ErrCorrupt)
			}
			e.Type = EventType(val[0])
		case evPictureID:
			e.PictureID = val
		case evCommentID:
			e.CommentID = val
		case evAuthor:
			e.Author = val
		case evText:
			e.Text = val
		}
	}
	if seen&(1<<evType) == 0 {
		return Event{}, fmt.Errorf("%w: event without type", ErrCorrupt)
	}
	return e, nil
}

// AppendState appends the encoding of s to dst and returns the extended
// slice. Times are kept to the nanosecond, without location or monotonic
// reading.
func AppendState(dst []byte, s State) []byte {
	var flags uint64
	if s.Exists {
		flags |= flagExists
	}
	if s.Deleted {
		flags |= flagDeleted
	}
	n := 1 + uintFieldSize(stFlags, flags) +
		strFieldSize(stPictureID, s.PictureID) + strFieldSize(stID, s.ID) +
		strFieldSize(stAuthor, s.Author) + strFieldSize(stText, s.Text) +
		strFieldSize(stCreatedText, s.CreatedText) +
		uintFieldSize(stCreatedPosition, s.CreatedPosition) +
		2*(2+2*binary.MaxVarintLen64) +
		uintFieldSize(stVersion, s.Version) + uintFieldSize(stLastPosition, s.LastPosition)
	dst = grow(dst, n)
	dst = append(dst, StateFormatVersion)
	dst = appendUint(dst, stFlags, flags)
	dst = appendString(dst, stPictureID, s.PictureID)
	dst = appendString(dst, stID, s.ID)
	dst = appendString(dst, stAuthor, s.Author)
	dst = appendString(dst, stText, s.Text)
	dst = appendString(dst, stCreatedText, s.CreatedText)
	dst = appendUint(dst, stCreatedPosition, s.CreatedPosition)
	dst = appendTime(dst, stCreatedAt, s.CreatedAt)
	dst = appendTime(dst, stUpdatedAt, s.UpdatedAt)
	dst = appendUint(dst, stVersion, s.Version)
	dst = appendUint(dst, stLastPosition, s.LastPosition)
	return dst
}

// DecodeState decodes an encoding made by AppendState. Its times are in UTC
// (the zero time when absent). Its strings share one allocation, a copy of
// data.
func DecodeState(data []byte) (State, error) {
	if len(data) == 0 {
		return State{}, fmt.Errorf("%w: empty state", ErrCorrupt)
	}
	if data[0] != StateFormatVersion {
		return State{}, fmt.Errorf("%w: state format %d", ErrFormatVersion, data[0])
	}
	var s State
	var seen uint64
	r := reader{s: string(data), i: 1}
	for !r.done() {
		tag, val, err := r.field()
		if err != nil {
			return State{}, err
		}
		if tag <= stLastPosition {
			if seen&(1<<tag) != 0 {
				return State{}, fmt.Errorf("%w: state field %d repeated", ErrCorrupt, tag)
			}
			seen |= 1 << tag
		}
		switch tag {
		case stFlags:
			flags, err := uintValue(val)
			if err != nil {
				return State{}, err
			}
			if flags&^(flagExists|flagDeleted) != 0 || flags == flagDeleted {
				return State{}, fmt.Errorf("%w: bad state flags %#x", ErrCorrupt, flags)
			}
			s.Exists = flags&flagExists != 0
			s.Deleted = flags&flagDeleted != 0
		case stPictureID:
			s.PictureID = val
		case stID:
			s.ID = val
		case stAuthor:
			s.Author = val
		case stText:
			s.Text = val
		case stCreatedText:
			s.CreatedText = val
		case stCreatedPosition:
			s.CreatedPosition, err = uintValue(val)
		case stCreatedAt:
			s.CreatedAt, err = timeValue(val)
		case stUpdatedAt:
			s.UpdatedAt, err = timeValue(val)
		case stVersion:
			s.Version, err = uintValue(val)
		case stLastPosition:
			s.LastPosition, err = uintValue(val)
		}
		if err != nil {
			return State{}, err
		}
	}
	return s, nil
}

// grow makes room for n more bytes in dst with at most one allocation.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	b := make([]byte, len(dst), len(dst)+n)
	copy(b, dst)
	return b
}

func uvarintSize(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func strFieldSize(tag uint64, v string) int {
	if v == "" {
		return 0
	}
	return uvarintSize(tag) + uvarintSize(uint64(len(v))) + len(v)
}

func uintFieldSize(tag, v uint64) int {
	if v == 0 {
		return 0
	}
	return uvarintSize(tag) + 1 + uvarintSize(v)
}

func appendString(dst []byte, tag uint64, v string) []byte {
	if v == "" {
		return dst
	}
	dst = binary.AppendUvarint(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

func appendUint(dst []byte, tag, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, tag)
	dst = append(dst, byte(uvarintSize(v)))
	return binary.AppendUvarint(dst, v)
}

func appendTime(dst []byte, tag uint64, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	var b [2 * binary.MaxVarintLen64]byte
	v := binary.AppendVarint(b[:0], t.Unix())
	v = binary.AppendUvarint(v, uint64(t.Nanosecond()))
	dst = binary.AppendUvarint(dst, tag)
	dst = append(dst, byte(len(v)))
	return append(dst, v...)
}

// reader decodes fields from s starting at i. It works on a string so that
// the values it returns share the one copy of the input.
type reader struct {
	s string
	i int
}

func (r *reader) done() bool { return r.i >= len(r.s) }

// uvarint reads an unsigned varint.
func (r *reader) uvarint() (uint64, error) {
	var x uint64
	for j, shift := 0, uint(0); j < binary.MaxVarintLen64; j, shift = j+1, shift+7 {
		if r.i >= len(r.s) {
			return 0, fmt.Errorf("%w: truncated varint", ErrCorrupt)
		}
		b := r.s[r.i]
		r.i++
		if b < 0x80 {
			if j == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<shift, nil
		}
		x |= uint64(b&0x7f) << shift
	}
	return 0, fmt.Errorf("%w: varint overflows 64 bits", ErrCorrupt)
}

// field reads one tag-length-value field.
func (r *reader) field() (tag uint64, val string, err error) {
	if tag, err = r.uvarint(); err != nil {
		return 0, "", err
	}
	if tag == 0 {
		return 0, "", fmt.Errorf("%w: tag 0", ErrCorrupt)
	}
	n, err := r.uvarint()
	if err != nil {
		return 0, "", err
	}
	if n > uint64(len(r.s)-r.i) {
		return 0, "", fmt.Errorf("%w: field %d runs past the end", ErrCorrupt, tag)
	}
	val = r.s[r.i : r.i+int(n)]
	r.i += int(n)
	return tag, val, nil
}

// uintValue decodes a value of kind uint.
func uintValue(val string) (uint64, error) {
	r := reader{s: val}
	x, err := r.uvarint()
	if err != nil || !r.done() {
		return 0, fmt.Errorf("%w: bad uint value", ErrCorrupt)
	}
	return x, nil
}

// timeValue decodes a value of kind time.
func timeValue(val string) (time.Time, error) {
	r := reader{s: val}
	u, err := r.uvarint()
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: bad time value", ErrCorrupt)
	}
	sec := int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.Varint
	ns, err := r.uvarint()
	if err != nil || !r.done() || ns >= 1e9 {
		return time.Time{}, fmt.Errorf("%w: bad time value", ErrCorrupt)
	}
	return time.Unix(sec, int64(ns)).UTC(), nil
}
