// Package readmodel is the query side of commentd: a read store on Pebble,
// fed by the projection with the events of the log, and a bounded in-memory
// index in front of it that queries read without a global lock.
//
// # Invariants
//
//   - The checkpoint (the position of the last applied event) is written in
//     the same batch as the changes of the events up to it, so the store
//     never holds half a batch: after a crash it is consistent at some
//     earlier checkpoint, and the projection resumes from there. Writes are
//     not synced: the store can always be rebuilt from the event log.
//   - Position() is published only after the store and the index reflect it:
//     a query that starts after Position() returned n reflects at least n,
//     and so does the position each query returns.
//   - A picture's comments are listed in creation order (by the global
//     position of their creation event). A deleted comment is gone from
//     every query.
//   - Cached pictures are immutable snapshots, replaced as a whole
//     (copy-on-write, sharing unchanged comments) when events change them.
//     Each cached comment keeps its API JSON object, encoded when it is
//     applied or loaded, so a cached query encodes nothing and allocates
//     nothing.
//   - The index holds about Options.CacheBytes of data at most; it evicts
//     pictures with CLOCK (second chance), an approximation of least
//     recently used driven by a reference bit that readers set atomically.
//     A picture larger than a quarter of the budget is not cached: queries
//     read it from the store.
//   - A snapshot loaded from the store after a miss is cached only if no
//     Apply after the store's checkpoint at load time touched its shard
//     (see shard.lastTouch), so a miss racing with Apply cannot cache a
//     stale picture.
//
// # Key schema (format version 1)
//
// All integers are big-endian, so that keys sort in numeric order.
// Identifiers are [A-Za-z0-9_-]{1,128} and never contain 0x00.
//
//	0x00 'v'                                   -> format version (uint32); checked by Open
//	0x00 'c'                                   -> checkpoint: last applied position (uint64)
//	0x01 picture 0x00 created-position(uint64) -> the comment's fields (see below)
//	0x02 comment-id                            -> created-position (uint64) version createdAt author picture
//
// A listing value is: version byte 1; the comment id, author and text, each
// a uvarint length followed by the bytes; createdAt and updatedAt as varint
// Unix nanoseconds; the version as a uvarint. The picture and the created
// position are in the key. A by-id value carries what an update or a
// deletion needs besides the text, so that applying one reads one key: the
// version as a uvarint, createdAt as a varint, the author (uvarint length
// and bytes), and the picture as the rest of the value.
//
// A store with another format version is refused by Open: the read store
// is deleted and rebuilt from the event log instead of being migrated.
//
// # Cursors
//
// A list cursor is opaque and URL-safe: base64url without padding of a
// version byte, the created position of the last comment returned and a
// 16-bit check, so that a garbled cursor is rejected as invalid_argument.
package readmodel
