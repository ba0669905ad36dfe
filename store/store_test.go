package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/commentd/commentd/store"
	"github.com/commentd/commentd/store/storetest"
)

// TestMain checks for leaked goroutines after all tests and removes the
// benchmarks' shared replay log.
func TestMain(m *testing.M) {
	code := m.Run()
	if replayDir != "" {
		os.RemoveAll(replayDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func openStore(t testing.TB, dir string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) *store.Store {
		return openStore(t, dir, store.Options{})
	})
}

func TestConformanceMemFS(t *testing.T) {
	fs := vfs.NewMem()
	storetest.Run(t, func(t *testing.T, dir string) *store.Store {
		return openStore(t, dir, store.Options{FS: fs})
	})
}

// isWALSync matches the operations that make the WAL durable.
func isWALSync(op errorfs.Op) bool {
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return strings.HasSuffix(op.Path, ".log")
	}
	return false
}

func isWALWrite(op errorfs.Op) bool {
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		return strings.HasSuffix(op.Path, ".log")
	}
	return false
}

// syncGate blocks WAL syncs while armed, to hold a batch between its write
// to Pebble and its sync.
type syncGate struct {
	armed   atomic.Bool
	entered chan struct{} // receives once per blocked sync
	release chan struct{}
}

func newSyncGate() *syncGate {
	return &syncGate{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *syncGate) MaybeError(op errorfs.Op) error {
	if isWALSync(op) && g.armed.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return nil
}

func (g *syncGate) String() string { return "syncGate" }

// TestReadersSeeOnlySynced holds a batch after Pebble has it (in its
// memtable, visible to Pebble readers) but before its WAL sync: the store's
// readers must not see it until the sync is done.
func TestReadersSeeOnlySynced(t *testing.T) {
	g := newSyncGate()
	s := openStore(t, t.TempDir(), store.Options{FS: errorfs.Wrap(vfs.Default, g)})
	if _, err := s.Append(context.Background(), "a", 0, []byte("durable")); err != nil {
		t.Fatal(err)
	}
	g.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "a", 1, []byte("pending"))
		done <- err
	}()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the append never reached its WAL sync")
	}
	defer func() {
		if g.armed.Swap(false) {
			close(g.release)
		}
	}()
	if got := s.LastPosition(); got != 1 {
		t.Fatalf("LastPosition during the sync = %d, want 1", got)
	}
	if recs, err := s.ReadAll(0, 0); err != nil || len(recs) != 1 {
		t.Fatalf("ReadAll during the sync = %d records, %v; want 1", len(recs), err)
	}
	if recs, err := s.ReadStream("a", 0); err != nil || len(recs) != 1 {
		t.Fatalf("ReadStream during the sync = %d records, %v; want 1", len(recs), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(1) during the sync: %v, want deadline exceeded", err)
	}
	select {
	case err := <-done:
		t.Fatalf("append answered (%v) before its sync", err)
	default:
	}
	g.armed.Store(false)
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if recs, err := s.ReadStream("a", 0); err != nil || len(recs) != 2 || s.LastPosition() != 2 {
		t.Fatalf("after the sync: %d records, %v, last position %d; want 2", len(recs), err, s.LastPosition())
	}
}

// holdWriter opens a store whose writer blocks after it received its first
// request until release is closed, and sends that request.
func holdWriter(t *testing.T, opts store.Options) (s *store.Store, first <-chan error, release func()) {
	t.Helper()
	held := make(chan struct{}, 1)
	gate := make(chan struct{})
	var once sync.Once
	s, err := store.OpenWithHook(t.TempDir(), opts, func() {
		select {
		case held <- struct{}{}:
			<-gate
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { release(); s.Close() })
	res := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "blocker", store.AnyVersion, []byte("b"))
		res <- err
	}()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never took the first append")
	}
	return s, res, release
}

func TestOverloaded(t *testing.T) {
	const queue = 4
	s, first, release := holdWriter(t, store.Options{QueueSize: queue})
	// The writer drains nothing: of queue+1 appends, exactly one finds the
	// queue full, at once.
	results := make(chan error, queue+1)
	for i := range queue + 1 {
		go func() {
			_, err := s.Append(context.Background(), fmt.Sprintf("s%d", i), 0, []byte("x"))
			results <- err
		}()
	}
	select {
	case err := <-results:
		if !errors.Is(err, store.ErrOverloaded) {
			t.Fatalf("first answer while the writer is held: %v, want ErrOverloaded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no append failed with ErrOverloaded while the queue was full")
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("first append: %v", err)
	}
	for range queue {
		if err := <-results; err != nil {
			t.Fatalf("queued append: %v", err)
		}
	}
	if got := s.LastPosition(); got != queue+1 {
		t.Fatalf("LastPosition = %d, want %d", got, queue+1)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	s, first, release := holdWriter(t, store.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "late", 0, []byte("x"))
		queued <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the queue (either way it must not be written)
	cancel()
	select {
	case err := <-queued:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled queued append: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a queued append did not return after its context was canceled")
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(context.Background(), "after", 0, []byte("y"))
	if err != nil || res.FirstPosition != 2 {
		t.Fatalf("append after the canceled one = %+v, %v; want position 2", res, err)
	}
	if recs, _ := s.ReadStream("late", 0); len(recs) != 0 {
		t.Fatal("the canceled append was written")
	}
}

// TestDiskFaults injects a WAL write or sync error: the appends of the
// failing batch are never acknowledged, the store stops (fail-stop), and a
// reopen on the real files keeps every acknowledged record.
func TestDiskFaults(t *testing.T) {
	cases := []struct {
		name  string
		match func(errorfs.Op) bool
	}{
		{"sync", isWALSync},
		{"write", isWALWrite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var on atomic.Bool
			inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
				if on.Load() && c.match(op) {
					return errorfs.ErrInjected
				}
				return nil
			})
			s, err := store.Open(dir, store.Options{FS: errorfs.Wrap(vfs.Default, inj)})
			if err != nil {
				t.Fatal(err)
			}
			type ack struct {
				stream string
				res    store.AppendResult
			}
			var acked []ack
			for i := range 10 {
				stream := fmt.Sprintf("s%d", i%3)
				res, err := s.Append(context.Background(), stream, store.AnyVersion, []byte(stream))
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, ack{stream, res})
			}
			on.Store(true)
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 16 {
				wg.Go(func() {
					_, err := s.Append(context.Background(), fmt.Sprintf("f%d", i), 0, []byte("lost"))
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, store.ErrFailed) {
					t.Fatalf("append during a %s fault: %v, want ErrFailed", c.name, err)
				}
			}
			on.Store(false) // the disk is fine again, the store must stay stopped
			if err := s.Err(); !errors.Is(err, store.ErrFailed) {
				t.Fatalf("Err() after the fault = %v, want ErrFailed", err)
			}
			start := time.Now()
			if _, err := s.Append(context.Background(), "later", 0, []byte("x")); !errors.Is(err, store.ErrFailed) {
				t.Fatalf("append after fail-stop: %v, want ErrFailed", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("append after fail-stop took %v", d)
			}
			if err := s.SaveSnapshot("s0", 1, nil); !errors.Is(err, store.ErrFailed) {
				t.Fatalf("SaveSnapshot after fail-stop: %v, want ErrFailed", err)
			}
			if _, err := s.Wait(context.Background(), s.LastPosition()); !errors.Is(err, store.ErrFailed) {
				t.Fatalf("Wait after fail-stop: %v, want ErrFailed", err)
			}
			if got := s.LastPosition(); got != 10 {
				t.Fatalf("LastPosition after the fault = %d, want 10", got)
			}
			if recs, err := s.ReadAll(0, 0); err != nil || len(recs) != 10 {
				t.Fatalf("ReadAll after the fault = %d records, %v; want the 10 durable ones", len(recs), err)
			}
			if err := s.Err(); !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("Err() = %v, want the injected error as its cause", err)
			}
			t.Logf("Close after fail-stop: %v", s.Close())

			s = openStore(t, dir, store.Options{})
			all, err := s.ReadAll(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) < len(acked) {
				t.Fatalf("reopened log has %d records, %d were acknowledged", len(all), len(acked))
			}
			for _, a := range acked {
				r := all[a.res.FirstPosition-1]
				if r.Stream != a.stream || r.Version != a.res.FirstVersion || string(r.Data) != a.stream {
					t.Fatalf("acknowledged append %+v reads back as %+v", a, r)
				}
			}
			for i, r := range all {
				if r.Position != uint64(i+1) {
					t.Fatalf("reopened log: record %d at position %d", i, r.Position)
				}
			}
			if _, err := s.Append(context.Background(), "s0", store.AnyVersion, []byte("again")); err != nil {
				t.Fatalf("append after reopen: %v", err)
			}
		})
	}
}

func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{})
	if _, err := s.Append(context.Background(), "a", 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, store.Options{}) // the current version opens
	s.Close()

	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("mformat"), binary.BigEndian.AppendUint32(nil, store.FormatVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(dir, store.Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a database of a newer format version")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	dir := t.TempDir()
	s := openStore(t, dir, store.Options{Registerer: reg})
	for i := range 5 {
		if _, err := s.Append(context.Background(), "m", uint64(i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(context.Background(), "m", 0, []byte("x")); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[name] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[name] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"commentd_store_appends_total,result=ok":       5,
		"commentd_store_appends_total,result=conflict": 1,
		"commentd_store_append_duration_seconds":       6,
		"commentd_store_batch_records":                 5,
		"commentd_store_last_position":                 5,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	for _, name := range []string{
		"commentd_pebble_wal_bytes_written_total,db=events",
		"commentd_pebble_wal_syncs_total,db=events",
	} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
	for _, name := range []string{
		"commentd_pebble_compactions_total,db=events",
		"commentd_pebble_read_amplification,db=events",
		"commentd_pebble_memtable_size_bytes,db=events",
	} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	// Close unregisters, so a reopen can register again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir, store.Options{Registerer: reg})
}

// quietLogger keeps Pebble's own log lines out of the test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// TestReadAllBeyondTheEndWhileAppending reads past the end of a growing log
// with no limit: a commit landing in the middle of the call must not turn
// the count of records to read negative.
func TestReadAllBeyondTheEndWhileAppending(t *testing.T) {
	s := openStore(t, t.TempDir(), store.Options{})
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			if _, err := s.Append(ctx, fmt.Sprintf("s%d", i), 0, []byte("x")); err != nil {
				t.Errorf("append: %v", err)
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		recs, err := s.ReadAll(s.LastPosition()+1, 0)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		for _, r := range recs {
			if r.Position < 2 {
				t.Fatalf("ReadAll past the end returned position %d", r.Position)
			}
		}
	}
}
