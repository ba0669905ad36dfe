package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FormatVersion is the on-disk format this package writes and the newest it
// reads. It is stored under the "m" "format" key.
const FormatVersion uint32 = 1

// recordFormat is the first byte of every event record.
const recordFormat byte = 1

const (
	prefixEvent    = 'e'
	prefixStream   = 's'
	prefixSnapshot = 'n'
	prefixMeta     = 'm'

	eventKeyLen = 1 + 8
	// recordHeaderLen is the fixed part of a record: format, stream length,
	// version and time.
	recordHeaderLen = 1 + 2 + 8 + 8
	maxStreamLen    = 1<<16 - 1
)

var formatKey = []byte("mformat")

// errCorrupt reports a key or value that does not decode.
var errCorrupt = errors.New("store: corrupt record")

func putEventKey(dst []byte, pos uint64) {
	dst[0] = prefixEvent
	binary.BigEndian.PutUint64(dst[1:], pos)
}

func streamKeyLen(stream string) int { return 1 + 2 + len(stream) + 8 }

func putStreamKey(dst []byte, stream string, version uint64) {
	dst[0] = prefixStream
	binary.BigEndian.PutUint16(dst[1:], uint16(len(stream)))
	n := copy(dst[3:], stream)
	binary.BigEndian.PutUint64(dst[3+n:], version)
}

func appendStreamKey(dst []byte, stream string, version uint64) []byte {
	dst = append(dst, prefixStream)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(stream)))
	dst = append(dst, stream...)
	return binary.BigEndian.AppendUint64(dst, version)
}

func appendSnapshotKey(dst []byte, stream string) []byte {
	dst = append(dst, prefixSnapshot)
	return append(dst, stream...)
}

func recordLen(stream string, data []byte) int { return recordHeaderLen + len(stream) + len(data) }

// putRecord encodes an event record into dst, which has recordLen bytes.
func putRecord(dst []byte, stream string, version uint64, t int64, data []byte) {
	dst[0] = recordFormat
	binary.BigEndian.PutUint16(dst[1:], uint16(len(stream)))
	n := 3 + copy(dst[3:], stream)
	binary.BigEndian.PutUint64(dst[n:], version)
	binary.BigEndian.PutUint64(dst[n+8:], uint64(t))
	copy(dst[n+16:], data)
}

// decodeRecord splits an event record. stream and data alias value.
func decodeRecord(value []byte) (stream []byte, version uint64, t int64, data []byte, err error) {
	if len(value) < recordHeaderLen {
		return nil, 0, 0, nil, fmt.Errorf("%w: record of %d bytes", errCorrupt, len(value))
	}
	if value[0] != recordFormat {
		return nil, 0, 0, nil, fmt.Errorf("%w: unknown record format %d", errCorrupt, value[0])
	}
	n := int(binary.BigEndian.Uint16(value[1:]))
	if len(value) < recordHeaderLen+n {
		return nil, 0, 0, nil, fmt.Errorf("%w: stream length %d beyond record", errCorrupt, n)
	}
	stream = value[3 : 3+n]
	version = binary.BigEndian.Uint64(value[3+n:])
	t = int64(binary.BigEndian.Uint64(value[3+n+8:]))
	return stream, version, t, value[recordHeaderLen+n:], nil
}

func decodeEventKey(key []byte) (uint64, error) {
	if len(key) != eventKeyLen || key[0] != prefixEvent {
		return 0, fmt.Errorf("%w: event key %x", errCorrupt, key)
	}
	return binary.BigEndian.Uint64(key[1:]), nil
}

func decodeUint64(value []byte) (uint64, error) {
	if len(value) != 8 {
		return 0, fmt.Errorf("%w: %d-byte integer", errCorrupt, len(value))
	}
	return binary.BigEndian.Uint64(value), nil
}

func validStream(stream string) error {
	if len(stream) == 0 || len(stream) > maxStreamLen {
		return fmt.Errorf("store: stream name of %d bytes (want 1 to %d)", len(stream), maxStreamLen)
	}
	return nil
}
