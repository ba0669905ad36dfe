// Package storetest is a conformance suite for event logs with the API of
// package store: appends with expected versions, stream reads, the global
// feed, snapshots, waiting, closing and reopening, and concurrent appenders.
//
// An implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, dir string) *store.Store { ... })
//	}
//
// open must return a fresh, open store on dir (which may hold a previous
// store's files: the reopen tests call it twice on one dir). The suite closes
// every store it opens.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/commentd/commentd/store"
)

// Store is the API the suite exercises; *store.Store implements it.
type Store interface {
	Append(ctx context.Context, stream string, expectedVersion uint64, data ...[]byte) (store.AppendResult, error)
	ReadStream(stream string, fromVersion uint64) ([]store.Record, error)
	ReadAll(after uint64, limit int) ([]store.Record, error)
	ScanAll(after uint64, limit int, fn func(store.Record) error) error
	LastPosition() uint64
	Wait(ctx context.Context, after uint64) (uint64, error)
	SaveSnapshot(stream string, version uint64, data []byte) error
	LoadSnapshot(stream string) (version uint64, data []byte, err error)
	Err() error
	Close() error
}

// Run runs the suite, each case as a subtest on its own directory.
func Run[S Store](t *testing.T, open func(t *testing.T, dir string) S) {
	h := func(f func(t *testing.T, open func(dir string) Store)) func(t *testing.T) {
		return func(t *testing.T) {
			f(t, func(dir string) Store {
				t.Helper()
				s := open(t, dir)
				t.Cleanup(func() { s.Close() })
				return s
			})
		}
	}
	t.Run("AppendReadStream", h(testAppendReadStream))
	t.Run("ReadAllScanAll", h(testReadAllScanAll))
	t.Run("ExpectedVersion", h(testExpectedVersion))
	t.Run("InvalidAppends", h(testInvalidAppends))
	t.Run("CanceledContext", h(testCanceledContext))
	t.Run("Snapshots", h(testSnapshots))
	t.Run("Wait", h(testWait))
	t.Run("Closed", h(testClosed))
	t.Run("Reopen", h(testReopen))
	t.Run("CommitTimes", h(testCommitTimes))
	t.Run("RacingCreates", h(testRacingCreates))
	t.Run("ConcurrentAppenders", h(testConcurrentAppenders))
}

func payload(stream string, version uint64) []byte {
	return fmt.Appendf(nil, "%s@%d", stream, version)
}

func mustAppend(t *testing.T, s Store, stream string, expected uint64, data ...[]byte) store.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, data...)
	if err != nil {
		t.Fatalf("Append(%q, %d): %v", stream, expected, err)
	}
	return res
}

// checkRecord compares a record with what was appended.
func checkRecord(t *testing.T, got store.Record, pos uint64, stream string, version uint64, data []byte) {
	t.Helper()
	if got.Position != pos || got.Stream != stream || got.Version != version || !bytes.Equal(got.Data, data) {
		t.Fatalf("record = {pos %d %q v%d %q}, want {pos %d %q v%d %q}",
			got.Position, got.Stream, got.Version, got.Data, pos, stream, version, data)
	}
}

func testAppendReadStream(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	if got := s.LastPosition(); got != 0 {
		t.Fatalf("LastPosition of an empty log = %d, want 0", got)
	}
	res := mustAppend(t, s, "a", 0, payload("a", 1), payload("a", 2), payload("a", 3))
	if res.FirstPosition != 1 || res.FirstVersion != 1 || res.Time == 0 {
		t.Fatalf("first append = %+v, want position 1, version 1, a time", res)
	}
	res = mustAppend(t, s, "b", 0, payload("b", 1))
	if res.FirstPosition != 4 || res.FirstVersion != 1 {
		t.Fatalf("append to b = %+v, want position 4, version 1", res)
	}
	res = mustAppend(t, s, "a", 3, payload("a", 4))
	if res.FirstPosition != 5 || res.FirstVersion != 4 {
		t.Fatalf("append to a = %+v, want position 5, version 4", res)
	}
	if got := s.LastPosition(); got != 5 {
		t.Fatalf("LastPosition = %d, want 5", got)
	}
	wantPos := map[uint64]uint64{1: 1, 2: 2, 3: 3, 4: 5}
	for _, from := range []uint64{0, 1, 2, 4, 5} {
		recs, err := s.ReadStream("a", from)
		if err != nil {
			t.Fatal(err)
		}
		first := max(from, 1)
		if want := 4 - int(first) + 1; len(recs) != max(want, 0) {
			t.Fatalf("ReadStream(a, %d) returned %d records, want %d", from, len(recs), max(want, 0))
		}
		for i, r := range recs {
			v := first + uint64(i)
			checkRecord(t, r, wantPos[v], "a", v, payload("a", v))
		}
	}
	for _, stream := range []string{"nope", "a0", "b\x00"} {
		recs, err := s.ReadStream(stream, 0)
		if err != nil || len(recs) != 0 {
			t.Fatalf("ReadStream(%q) = %d records, %v; want none", stream, len(recs), err)
		}
	}
	// A stream whose name extends another's is a different stream.
	mustAppend(t, s, "ab", 0, payload("ab", 1))
	if recs, _ := s.ReadStream("a", 0); len(recs) != 4 {
		t.Fatalf("ReadStream(a) after appending to ab = %d records, want 4", len(recs))
	}
}

func testReadAllScanAll(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	type rec struct {
		stream  string
		version uint64
	}
	var want []rec
	for i := range 30 {
		stream := fmt.Sprintf("s%d", i%4)
		v := uint64(i/4 + 1)
		mustAppend(t, s, stream, v-1, payload(stream, v))
		want = append(want, rec{stream, v})
	}
	all, err := s.ReadAll(0, 0)
	if err != nil || len(all) != len(want) {
		t.Fatalf("ReadAll(0, 0) = %d records, %v; want %d", len(all), err, len(want))
	}
	for i, r := range all {
		w := want[i]
		checkRecord(t, r, uint64(i+1), w.stream, w.version, payload(w.stream, w.version))
	}
	cases := []struct {
		name         string
		after        uint64
		limit        int
		first, count int
	}{
		{"from start limited", 0, 7, 1, 7},
		{"middle", 10, 5, 11, 5},
		{"limit past end", 25, 100, 26, 5},
		{"no limit", 20, 0, 21, 10},
		{"negative limit", 28, -1, 29, 2},
		{"at end", 30, 10, 0, 0},
		{"past end", 99, 10, 0, 0},
	}
	for _, c := range cases {
		got, err := s.ReadAll(c.after, c.limit)
		if err != nil || len(got) != c.count {
			t.Fatalf("%s: ReadAll(%d, %d) = %d records, %v; want %d", c.name, c.after, c.limit, len(got), err, c.count)
		}
		for i, r := range got {
			w := want[c.first-1+i]
			checkRecord(t, r, uint64(c.first+i), w.stream, w.version, payload(w.stream, w.version))
		}
		var scanned []uint64
		err = s.ScanAll(c.after, c.limit, func(r store.Record) error {
			w := want[r.Position-1]
			checkRecord(t, r, r.Position, w.stream, w.version, payload(w.stream, w.version))
			scanned = append(scanned, r.Position)
			return nil
		})
		if err != nil || len(scanned) != c.count || (c.count > 0 && scanned[0] != uint64(c.first)) {
			t.Fatalf("%s: ScanAll(%d, %d) visited %v, %v; want %d from %d", c.name, c.after, c.limit, scanned, err, c.count, c.first)
		}
	}
	stop := errors.New("stop")
	n := 0
	err = s.ScanAll(0, 0, func(r store.Record) error {
		n++
		// fn may read the store again.
		if recs, err := s.ReadStream(r.Stream, r.Version); err != nil || len(recs) == 0 || recs[0].Position != r.Position {
			return fmt.Errorf("ReadStream(%s, %d) inside ScanAll: %d records, %v", r.Stream, r.Version, len(recs), err)
		}
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("ScanAll with fn failing on the 3rd record: %d calls, %v; want 3 calls and fn's error", n, err)
	}
	// ReadAll's records own their memory.
	all[0].Data[0] = 'X'
	again, _ := s.ReadAll(0, 1)
	if again[0].Data[0] == 'X' {
		t.Fatal("ReadAll records share memory with the store")
	}
}

func testExpectedVersion(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	mustAppend(t, s, "x", 0, []byte("1"), []byte("2"))
	cases := []struct {
		name     string
		expected uint64
	}{
		{"must not exist", 0},
		{"behind", 1},
		{"ahead", 3},
		{"far ahead", 1 << 40},
	}
	for _, c := range cases {
		_, err := s.Append(context.Background(), "x", c.expected, []byte("no"))
		if !errors.Is(err, store.ErrVersionConflict) {
			t.Fatalf("%s: Append(x, %d) error = %v, want ErrVersionConflict", c.name, c.expected, err)
		}
	}
	if _, err := s.Append(context.Background(), "fresh", 1, []byte("no")); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("Append(fresh, 1) error = %v, want ErrVersionConflict", err)
	}
	// Rejected appends take no position.
	res := mustAppend(t, s, "x", 2, []byte("3"))
	if res.FirstPosition != 3 || res.FirstVersion != 3 {
		t.Fatalf("append after conflicts = %+v, want position 3, version 3", res)
	}
	res = mustAppend(t, s, "x", store.AnyVersion, []byte("4"), []byte("5"))
	if res.FirstPosition != 4 || res.FirstVersion != 4 {
		t.Fatalf("AnyVersion append = %+v, want position 4, version 4", res)
	}
	res = mustAppend(t, s, "new", store.AnyVersion, []byte("1"))
	if res.FirstVersion != 1 {
		t.Fatalf("AnyVersion on a new stream = %+v, want version 1", res)
	}
	recs, err := s.ReadStream("x", 0)
	if err != nil || len(recs) != 5 {
		t.Fatalf("ReadStream(x) = %d records, %v; want 5", len(recs), err)
	}
	for i, r := range recs {
		checkRecord(t, r, uint64(i+1), "x", uint64(i+1), fmt.Appendf(nil, "%d", i+1))
	}
}

func testInvalidAppends(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	cases := []struct {
		name   string
		stream string
		data   [][]byte
	}{
		{"empty stream", "", [][]byte{[]byte("x")}},
		{"stream too long", string(make([]byte, 1<<16)), [][]byte{[]byte("x")}},
		{"no records", "s", nil},
	}
	for _, c := range cases {
		if _, err := s.Append(context.Background(), c.stream, 0, c.data...); err == nil {
			t.Fatalf("%s: Append succeeded", c.name)
		}
	}
	if got := s.LastPosition(); got != 0 {
		t.Fatalf("LastPosition after invalid appends = %d, want 0", got)
	}
	// Empty payloads are fine.
	mustAppend(t, s, "s", 0, nil, []byte{})
}

func testCanceledContext(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "c", 0, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a canceled context: %v, want context.Canceled", err)
	}
	if recs, _ := s.ReadStream("c", 0); len(recs) != 0 || s.LastPosition() != 0 {
		t.Fatalf("canceled append was written: %d records, last position %d", len(recs), s.LastPosition())
	}
}

func testSnapshots(t *testing.T, open func(string) Store) {
	dir := t.TempDir()
	s := open(dir)
	v, data, err := s.LoadSnapshot("a")
	if v != 0 || data != nil || err != nil {
		t.Fatalf("LoadSnapshot of none = %d, %q, %v; want 0, nil, nil", v, data, err)
	}
	mustAppend(t, s, "a", 0, []byte("1"), []byte("2"), []byte("3"))
	if err := s.SaveSnapshot("a", 2, []byte("state@2")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot("a", 3, []byte("state@3")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot("a", 4, []byte("ahead")); err == nil {
		t.Fatal("SaveSnapshot beyond the stream's head succeeded")
	}
	if err := s.SaveSnapshot("ghost", 1, []byte("x")); err == nil {
		t.Fatal("SaveSnapshot of a stream that does not exist succeeded")
	}
	check := func(s Store) {
		t.Helper()
		v, data, err := s.LoadSnapshot("a")
		if v != 3 || string(data) != "state@3" || err != nil {
			t.Fatalf("LoadSnapshot(a) = %d, %q, %v; want 3, state@3", v, data, err)
		}
		if v, data, _ := s.LoadSnapshot("ghost"); v != 0 || data != nil {
			t.Fatalf("LoadSnapshot(ghost) = %d, %q; want none", v, data)
		}
	}
	check(s)
	if got := s.LastPosition(); got != 3 {
		t.Fatalf("snapshots moved LastPosition to %d, want 3", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(dir))
}

func testWait(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	mustAppend(t, s, "w", 0, []byte("1"))
	if got, err := s.Wait(context.Background(), 0); got != 1 || err != nil {
		t.Fatalf("Wait(0) = %d, %v; want 1 at once", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if got, err := s.Wait(ctx, 1); got != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(1) with nothing new = %d, %v; want 1, deadline exceeded", got, err)
	}
	type result struct {
		pos uint64
		err error
	}
	const waiters = 5
	done := make(chan result, waiters)
	for range waiters {
		go func() {
			pos, err := s.Wait(context.Background(), 1)
			done <- result{pos, err}
		}()
	}
	select {
	case r := <-done:
		t.Fatalf("Wait(1) returned %d, %v before anything was appended", r.pos, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	mustAppend(t, s, "w", 1, []byte("2"), []byte("3"))
	for range waiters {
		r := <-done
		if r.pos != 3 || r.err != nil {
			t.Fatalf("Wait(1) after an append = %d, %v; want 3", r.pos, r.err)
		}
	}
	// A Close wakes waiters with ErrClosed.
	go func() {
		pos, err := s.Wait(context.Background(), 3)
		done <- result{pos, err}
	}()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; !errors.Is(r.err, store.ErrClosed) {
		t.Fatalf("Wait across Close = %d, %v; want ErrClosed", r.pos, r.err)
	}
}

func testClosed(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	mustAppend(t, s, "c", 0, []byte("1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Append(context.Background(), "c", 1, []byte("2")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ReadAll(0, 10); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("ReadAll after Close: %v, want ErrClosed", err)
	}
	if err := s.ScanAll(0, 10, func(store.Record) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("ScanAll after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ReadStream("c", 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("ReadStream after Close: %v, want ErrClosed", err)
	}
	if _, _, err := s.LoadSnapshot("c"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("LoadSnapshot after Close: %v, want ErrClosed", err)
	}
	if err := s.SaveSnapshot("c", 1, nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("SaveSnapshot after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Wait(context.Background(), 1); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
}

func testReopen(t *testing.T, open func(string) Store) {
	dir := t.TempDir()
	s := open(dir)
	mustAppend(t, s, "a", 0, []byte("a1"), []byte("a2"))
	mustAppend(t, s, "b", 0, []byte("b1"))
	last := mustAppend(t, s, "a", 2, []byte("a3"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(dir)
	if got := s.LastPosition(); got != 4 {
		t.Fatalf("LastPosition after reopen = %d, want 4", got)
	}
	// The heads survived: expected versions are checked against them.
	if _, err := s.Append(context.Background(), "a", 0, []byte("x")); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("Append(a, 0) after reopen: %v, want ErrVersionConflict", err)
	}
	if _, err := s.Append(context.Background(), "b", 2, []byte("x")); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("Append(b, 2) after reopen: %v, want ErrVersionConflict", err)
	}
	res := mustAppend(t, s, "a", 3, []byte("a4"))
	if res.FirstPosition != 5 || res.FirstVersion != 4 || res.Time < last.Time {
		t.Fatalf("append after reopen = %+v, want position 5, version 4, time >= %d", res, last.Time)
	}
	mustAppend(t, s, "b", 1, []byte("b2"))
	all, err := s.ReadAll(0, 0)
	if err != nil || len(all) != 6 {
		t.Fatalf("ReadAll after reopen = %d records, %v; want 6", len(all), err)
	}
	want := []struct {
		stream string
		v      uint64
		data   string
	}{{"a", 1, "a1"}, {"a", 2, "a2"}, {"b", 1, "b1"}, {"a", 3, "a3"}, {"a", 4, "a4"}, {"b", 2, "b2"}}
	for i, w := range want {
		checkRecord(t, all[i], uint64(i+1), w.stream, w.v, []byte(w.data))
	}
}

func testCommitTimes(t *testing.T, open func(string) Store) {
	dir := t.TempDir()
	s := open(dir)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				stream := fmt.Sprintf("t%d", g)
				if _, err := s.Append(context.Background(), stream, uint64(i), []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.Close()
	s = open(dir)
	mustAppend(t, s, "after", 0, []byte("x"))
	var prev int64
	err := s.ScanAll(0, 0, func(r store.Record) error {
		if r.Time < prev {
			return fmt.Errorf("position %d has time %d before %d", r.Position, r.Time, prev)
		}
		prev = r.Time
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testRacingCreates starts several creates of one stream at once, many
// times: exactly one must win each race.
func testRacingCreates(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	const rounds, racers = 30, 8
	for round := range rounds {
		stream := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		errs := make(chan error, racers)
		for r := range racers {
			wg.Go(func() {
				_, err := s.Append(context.Background(), stream, 0, fmt.Appendf(nil, "racer %d", r))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrVersionConflict):
				t.Fatalf("racing create: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d racing creates succeeded, want 1", round, won)
		}
		if recs, _ := s.ReadStream(stream, 0); len(recs) != 1 {
			t.Fatalf("round %d: stream has %d records, want 1", round, len(recs))
		}
	}
	if got := s.LastPosition(); got != rounds {
		t.Fatalf("LastPosition = %d, want %d", got, rounds)
	}
}

// testConcurrentAppenders runs many appenders over many streams, some
// contending on shared streams with expected versions, some appending
// several records at once, and checks the log they leave.
func testConcurrentAppenders(t *testing.T, open func(string) Store) {
	s := open(t.TempDir())
	const (
		appenders     = 64
		perAppender   = 40
		sharedStreams = 8
	)
	type ack struct {
		stream string
		res    store.AppendResult
		data   [][]byte
	}
	acks := make(chan ack, appenders*perAppender)
	var conflicts sync.Map // appender -> count
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Go(func() {
			known := map[string]uint64{}
			for i := range perAppender {
				stream := fmt.Sprintf("own-%d", g)
				if i%2 == 0 {
					stream = fmt.Sprintf("shared-%d", (g+i)%sharedStreams)
				}
				n := 1 + (g+i)%3
				data := make([][]byte, n)
				for j := range data {
					data[j] = fmt.Appendf(nil, "g%d i%d j%d", g, i, j)
				}
				res, err := s.Append(context.Background(), stream, known[stream], data...)
				switch {
				case errors.Is(err, store.ErrVersionConflict):
					c, _ := conflicts.LoadOrStore(g, new(int))
					*c.(*int)++
					recs, err := s.ReadStream(stream, known[stream]+1)
					if err != nil {
						t.Error(err)
						return
					}
					if len(recs) == 0 {
						t.Errorf("conflict on %s at version %d but no newer records", stream, known[stream])
						return
					}
					known[stream] = recs[len(recs)-1].Version
				case err != nil:
					t.Error(err)
					return
				default:
					if res.FirstVersion != known[stream]+1 {
						t.Errorf("append to %s expecting %d got version %d", stream, known[stream], res.FirstVersion)
					}
					known[stream] = res.FirstVersion + uint64(n) - 1
					acks <- ack{stream, res, data}
				}
			}
		})
	}
	wg.Wait()
	close(acks)
	if t.Failed() {
		return
	}
	all, err := s.ReadAll(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(all)) != s.LastPosition() {
		t.Fatalf("ReadAll returned %d records, LastPosition is %d", len(all), s.LastPosition())
	}
	owner := make([]bool, len(all))
	acked := 0
	for a := range acks {
		for j, d := range a.data {
			pos := a.res.FirstPosition + uint64(j)
			if pos == 0 || pos > uint64(len(all)) {
				t.Fatalf("acknowledged position %d outside the log of %d", pos, len(all))
			}
			if owner[pos-1] {
				t.Fatalf("position %d acknowledged twice", pos)
			}
			owner[pos-1] = true
			checkRecord(t, all[pos-1], pos, a.stream, a.res.FirstVersion+uint64(j), d)
			acked++
		}
	}
	if acked != len(all) {
		t.Fatalf("%d records acknowledged, log holds %d", acked, len(all))
	}
	heads := map[string]uint64{}
	for i, r := range all {
		if r.Position != uint64(i+1) {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
		if r.Version != heads[r.Stream]+1 {
			t.Fatalf("stream %s: version %d after %d", r.Stream, r.Version, heads[r.Stream])
		}
		heads[r.Stream] = r.Version
	}
	for stream, head := range heads {
		recs, err := s.ReadStream(stream, 0)
		if err != nil || uint64(len(recs)) != head {
			t.Fatalf("ReadStream(%s) = %d records, %v; want %d", stream, len(recs), err, head)
		}
	}
	total := 0
	conflicts.Range(func(_, v any) bool { total += *v.(*int); return true })
	t.Logf("%d records from %d appenders, %d version conflicts detected", len(all), appenders, total)
}
