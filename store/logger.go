package store

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's log lines to slog and turns Fatalf into
// fail-stop instead of process exit.
//
// What Pebble v2 (v2.1.7, read in its source) does on I/O errors:
//   - DB.Apply with Sync waits for the WAL sync and, if the WAL write or
//     sync failed, calls Logger.Fatalf("pebble: fatal commit error") and
//     then returns nil (db.go applyInternal). The default Logger exits the
//     process there.
//   - DB.ApplyNoSyncWait, which the writer uses, returns once the batch is
//     in the memtable and the WAL buffer; Batch.SyncWait then returns the
//     WAL write or sync error as an ordinary error, without Fatalf. Apply's
//     Fatalf remains for a failed commit before the sync (memtable or WAL
//     rotation errors); the writer checks Err after every apply.
//   - The WAL writer's error is sticky: every later sync of that WAL fails
//     too (record/log_writer.go flushLoop). The store does not rely on it:
//     after the first failure it acknowledges nothing more (fail-stop), as
//     a retried fsync may not cover data the kernel already dropped.
//   - Writing a batch to a WAL writer whose error became sticky panics
//     (db.go commitWrite, holding the commit pipeline's mutex). The writer
//     recovers that panic and marks the store poisoned.
//   - Fatalf is also called for a failed MANIFEST write, sync or CURRENT
//     update (version_set.go, from flush or compaction goroutines), by the
//     default EventListener.DataCorruption (a checksum mismatch found while
//     reading a table), and for internal invariant violations.
//   - Errors of background work (flushes, compactions) go to
//     EventListener.BackgroundError, which logs through Errorf; Pebble
//     retries that work and the store keeps running.
//
// Pebble continues after our Fatalf returns; the store has stopped by then,
// so nothing it does afterwards is acknowledged. Reopening recovers from the
// synced WAL.
type pebbleLogger struct {
	log   *slog.Logger
	fatal func(error)
}

// Infof logs at debug level: Pebble's informational lines (flushes,
// compactions, WAL rotation) are frequent.
func (l *pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

// Errorf logs at error level.
func (l *pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs and stops the store; it does not exit.
func (l *pebbleLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	l.log.Error(err.Error(), "component", "pebble", "fatal", true)
	l.fatal(err)
}
