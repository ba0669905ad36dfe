package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/commentd/commentd/store"
)

const (
	benchRecordSize     = 128
	benchStreamsPerUser = 64
)

var benchAppenders = []int{1, 16, 64, 256}

// runConcurrent spreads b.N operations over n goroutines, times each one
// and reports events/s and the p50/p99 latency.
func runConcurrent(b *testing.B, n int, op func(g, i int) error) {
	b.ReportAllocs()
	lat := make([][]time.Duration, n)
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range n {
		count := b.N / n
		if g < b.N%n {
			count++
		}
		lat[g] = make([]time.Duration, 0, count)
		wg.Go(func() {
			for i := range count {
				t0 := time.Now()
				if err := op(g, i); err != nil {
					failed.Store(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAppend measures Append of one 128-byte record with an expected
// version, each appender cycling over its own streams.
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchAppenders {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			s, err := store.Open(b.TempDir(), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			streams := make([][]string, n)
			versions := make([][]uint64, n)
			for g := range n {
				for k := range benchStreamsPerUser {
					streams[g] = append(streams[g], fmt.Sprintf("bench-%d-%d", g, k))
				}
				versions[g] = make([]uint64, benchStreamsPerUser)
			}
			data := make([]byte, benchRecordSize)
			runConcurrent(b, n, func(g, i int) error {
				k := i % benchStreamsPerUser
				_, err := s.Append(context.Background(), streams[g][k], versions[g][k], data)
				versions[g][k]++
				return err
			})
		})
	}
}

// BenchmarkCeiling commits, per operation, one raw Pebble batch with
// pebble.Sync holding the same keys and value sizes as one single-record
// Append (the event and its stream index key), from the same number of
// goroutines: Pebble's own group commit with no store logic.
func BenchmarkCeiling(b *testing.B) {
	for _, n := range benchAppenders {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			db, err := pebble.Open(b.TempDir(), &pebble.Options{MemTableSize: 64 << 20, Logger: quietLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var pos atomic.Uint64
			runConcurrent(b, n, func(g, i int) error {
				p := pos.Add(1)
				stream := fmt.Sprintf("bench-%d-%d", g, i%benchStreamsPerUser)
				batch := db.NewBatch()
				defer batch.Close()
				key := binary.BigEndian.AppendUint64([]byte{'e'}, p)
				batch.Set(key, make([]byte, 1+2+len(stream)+16+benchRecordSize), nil)
				skey := binary.BigEndian.AppendUint64(append([]byte{'s', 0, byte(len(stream))}, stream...), uint64(i/benchStreamsPerUser+1))
				batch.Set(skey, key[1:], nil)
				return db.Apply(batch, pebble.Sync)
			})
		})
	}
}

var (
	replayOnce sync.Once
	replayDir  string
)

const replayEvents = 200_000

// replayStore opens a store holding replayEvents records of 128 bytes over
// 1000 streams, built once per benchmark process.
func replayStore(b *testing.B) *store.Store {
	replayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "store-replay-")
		if err != nil {
			b.Fatal(err)
		}
		s, err := store.Open(dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		data := make([][]byte, 100)
		for i := range data {
			data[i] = make([]byte, benchRecordSize)
		}
		var wg sync.WaitGroup
		for g := range 10 {
			wg.Go(func() {
				for i := range replayEvents / len(data) / 10 {
					stream := fmt.Sprintf("replay-%d-%d", g, i%100)
					if _, err := s.Append(context.Background(), stream, store.AnyVersion, data...); err != nil {
						panic(err)
					}
				}
			})
		}
		wg.Wait()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		replayDir = dir
	})
	s, err := store.Open(replayDir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkReadAll replays the whole log through ReadAll in pages of 10 000,
// as the projection does on start.
func BenchmarkReadAll(b *testing.B) {
	s := replayStore(b)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		n, after := 0, uint64(0)
		for {
			recs, err := s.ReadAll(after, 10_000)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			n += len(recs)
			after = recs[len(recs)-1].Position
		}
		if n != replayEvents {
			b.Fatalf("replayed %d events, want %d", n, replayEvents)
		}
	}
	b.ReportMetric(float64(replayEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkScanAll replays the whole log through one zero-copy ScanAll.
func BenchmarkScanAll(b *testing.B) {
	s := replayStore(b)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := s.ScanAll(0, 0, func(store.Record) error { n++; return nil })
		if err != nil || n != replayEvents {
			b.Fatalf("scanned %d events, %v; want %d", n, err, replayEvents)
		}
	}
	b.ReportMetric(float64(replayEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}
