// Package store is the append-only event log of commentd, kept in a Pebble
// database. It knows bytes, streams, versions and positions; it does not know
// what the bytes mean.
//
// # Invariants
//
//   - Positions are global, gap-free and strictly increasing from 1, and they
//     continue across restarts. A rejected or cancelled append takes none.
//   - A stream's versions are contiguous from 1. Append with an expected
//     version succeeds only if the stream's current version equals it (0: the
//     stream must not exist yet); AnyVersion skips the check.
//   - The records of one Append land together or not at all: they get
//     consecutive positions and versions in one Pebble batch.
//   - An append is acknowledged only after the batch holding it was committed
//     with a synced WAL, so an acknowledged append survives a crash. An append
//     that was not acknowledged may or may not be there, never partly.
//   - Enqueue order is position order: of two appends that succeed, the one
//     enqueued first (AppendAsync returned before the other's was called)
//     has the lower positions. The queue is a FIFO channel drained by one
//     writer, which assigns positions in queue order, batch after batch; a
//     failed or cancelled append takes no position and reorders nothing.
//   - Commit times (Unix ns) never decrease in position order.
//   - Readers see only durable records: ReadAll, ScanAll, ReadStream and
//     LastPosition never expose a position beyond the last synced batch.
//   - Fail-stop: after a failed write or sync the store acknowledges nothing
//     more; every later Append fails with ErrFailed and Err reports the cause.
//     Reopening recovers from the WAL.
//
// # Group commit
//
// Append enqueues a request on a bounded queue (ErrOverloaded when full) and
// waits; AppendAsync and Pending.Wait are its two halves. One writer goroutine drains every pending request (up to a cap of
// records and bytes), checks expected versions against the stream heads (a
// bounded in-memory cache, updated by the appends earlier in the same batch
// and in batches still being synced; a miss reads the stream's last index
// key),
// assigns positions and writes one Pebble batch, committed with pebble.Sync
// (one fsync for the whole batch). The writer does not wait for the fsync:
// an acker goroutine waits for each batch's sync in commit order, then
// publishes the new durable position and answers the batch's requests. With
// a few batches awaiting their sync, Pebble starts the next fsync as soon as
// one ends, covering everything applied meanwhile. If a sync fails, that
// batch and every later one fail, whatever their own sync reports.
//
// # Key schema (format version 1)
//
// All integers are big-endian so that key order is numeric order.
//
//	"m" "format"                          -> uint32 format version (1)
//	"e" pos(8)                            -> event record (below)
//	"s" len(stream)(2) stream version(8)  -> pos(8)       stream index
//	"n" stream                            -> version(8) data   snapshot
//
// The length prefix in "s" keys keeps one stream's versions contiguous and
// apart from any stream whose name extends it, so a stream's head version
// is its last "s" key. Stream names are 1 to 65535 bytes. Within a batch all
// "e" keys come before the "s" keys: Pebble inserts them into its memtable
// in batch order, and a run of ascending keys is the cheapest to insert.
//
// An event record (the value of an "e" key) is
//
//	format(1) = 1 | len(stream)(2) | stream | version(8) | time(8) | data
//
// where time is the commit time in Unix nanoseconds and data is the opaque
// payload given to Append. The format byte comes first in every record so
// that a later format can be told apart and read alongside this one. Open
// refuses a database whose "m" "format" value is newer than this package
// knows.
//
// Snapshots are written in a batch of the writer like appends. They are an
// optimisation the owner of a stream can always rebuild from its events.
package store
