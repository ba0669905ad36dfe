package actors

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/readmodel"
	"github.com/commentd/commentd/store"
)

// benchCallers is the number of concurrent callers of the Send and
// StoreAppend benchmarks.
const benchCallers = 64

// benchText has a fixed length so both benchmarks append payloads of the
// same size.
func benchText(n int) string { return fmt.Sprintf("benchmark comment text %010d", n) }

// runCallers runs b.N operations spread over benchCallers goroutines, each
// with its own comment.
func runCallers(b *testing.B, op func(caller int, n int) error) {
	b.Helper()
	b.SetParallelism((benchCallers + 1) / 2)
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		caller := int(next.Add(1) - 1)
		for n := 0; pb.Next(); n++ {
			if err := op(caller, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}

// BenchmarkSend measures commands (text updates, each appending one event)
// through the actors and the store, at 64 concurrent callers.
func BenchmarkSend(b *testing.B) {
	b.Run(fmt.Sprintf("callers=%d", benchCallers), func(b *testing.B) {
		e := openEnv(b, b.TempDir(), "readmodel", Config{}, hooks{})
		ids := make([]string, 2*benchCallers)
		for i := range ids {
			ids[i] = fmt.Sprintf("bench%03d", i)
			if _, err := e.send(comment.Create{PictureID: "p", ID: ids[i], Text: benchText(0), User: "u"}); err != nil {
				b.Fatal(err)
			}
		}
		ctx := context.Background()
		runCallers(b, func(caller, n int) error {
			_, err := e.sys.Send(ctx, comment.UpdateText{PictureID: "p", ID: ids[caller], Text: benchText(n + 1), User: "u"})
			return err
		})
	})
}

// BenchmarkStoreAppend is the ceiling of BenchmarkSend: store.Append alone,
// the same payloads, 64 concurrent callers on streams of their own.
func BenchmarkStoreAppend(b *testing.B) {
	b.Run(fmt.Sprintf("callers=%d", benchCallers), func(b *testing.B) {
		st, err := store.Open(filepath.Join(b.TempDir(), "events"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		ctx := context.Background()
		versions := make([]uint64, 2*benchCallers)
		runCallers(b, func(caller, n int) error {
			id := fmt.Sprintf("bench%03d", caller)
			e := comment.Event{Type: comment.TypeTextUpdated, PictureID: "p", CommentID: id, Text: benchText(n)}
			res, err := st.Append(ctx, id, versions[caller], comment.AppendEvent(nil, e))
			versions[caller] = res.FirstVersion
			return err
		})
	})
}

// BenchmarkProjection measures the projection rebuilding a read model from
// a log of projectionEvents events: Start to CaughtUp.
func BenchmarkProjection(b *testing.B) {
	const projectionEvents = 20000
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "events"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const perStream = 10
	for i := 0; i < projectionEvents/perStream; i++ {
		id := fmt.Sprintf("c%06d", i)
		payloads := make([][]byte, perStream)
		payloads[0] = comment.AppendEvent(nil, comment.Event{Type: comment.TypeCreated, PictureID: fmt.Sprintf("p%03d", i%500), CommentID: id, Author: "u", Text: benchText(0)})
		for v := 1; v < perStream; v++ {
			payloads[v] = comment.AppendEvent(nil, comment.Event{Type: comment.TypeTextUpdated, PictureID: fmt.Sprintf("p%03d", i%500), CommentID: id, Text: benchText(v)})
		}
		if _, err := st.Append(ctx, id, 0, payloads...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		rm, err := readmodel.Open(filepath.Join(dir, fmt.Sprintf("rm%d", i)), readmodel.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sys, err := Start(Config{Store: st, ReadModel: rm})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-sys.CaughtUp():
		case <-time.After(time.Minute):
			b.Fatal("projection did not catch up")
		}
		b.StopTimer()
		sys.Close()
		rm.Close()
	}
	b.ReportMetric(float64(b.N*projectionEvents)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSendVsStoreAppend alternates rounds of the two workloads above
// (64 callers, 20 commands each) in one process, so that both see the same
// machine, and reports their throughput ratio. One op is one pair of rounds.
func BenchmarkSendVsStoreAppend(b *testing.B) {
	const perCaller = 20
	e := openEnv(b, b.TempDir(), "readmodel", Config{}, hooks{})
	st, err := store.Open(filepath.Join(b.TempDir(), "events"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	ids := make([]string, benchCallers)
	versions := make([]uint64, benchCallers)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench%03d", i)
		if _, err := e.send(comment.Create{PictureID: "p", ID: ids[i], Text: benchText(0), User: "u"}); err != nil {
			b.Fatal(err)
		}
	}
	round := func(op func(caller, n int) error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for c := range benchCallers {
			wg.Go(func() {
				for n := range perCaller {
					if err := op(c, n); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	var sendTime, storeTime time.Duration
	seq := 0
	b.ResetTimer()
	for range b.N {
		seq++
		sendTime += round(func(c, n int) error {
			_, err := e.sys.Send(ctx, comment.UpdateText{PictureID: "p", ID: ids[c], Text: benchText(seq*perCaller + n), User: "u"})
			return err
		})
		storeTime += round(func(c, n int) error {
			ev := comment.Event{Type: comment.TypeTextUpdated, PictureID: "p", CommentID: ids[c], Text: benchText(n)}
			res, err := st.Append(ctx, ids[c], versions[c], comment.AppendEvent(nil, ev))
			versions[c] = res.FirstVersion
			return err
		})
	}
	cmds := float64(b.N * benchCallers * perCaller)
	b.ReportMetric(cmds/sendTime.Seconds(), "send-commands/s")
	b.ReportMetric(cmds/storeTime.Seconds(), "append-commands/s")
	b.ReportMetric(storeTime.Seconds()/sendTime.Seconds(), "ratio")
}
