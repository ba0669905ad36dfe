package readmodel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/commentd/commentd/comment"
)

// benchModel returns a model holding pictures pictures of perPicture
// comments each.
func benchModel(b *testing.B, cacheBytes int64, pictures, perPicture int) *Model {
	b.Helper()
	m := openModel(b, b.TempDir(), Options{CacheBytes: cacheBytes})
	l := newEventLog()
	var batch []comment.Event
	for i := range perPicture {
		for p := range pictures {
			batch = append(batch, l.create(fmt.Sprintf("p%d", p), fmt.Sprintf("c%d-%d", p, i), "alice",
				"a typical comment, with \"quotes\" and a bit of text to make it realistic"))
			if len(batch) == 1000 {
				mustApply(b, m, batch...)
				batch = batch[:0]
			}
		}
	}
	mustApply(b, m, batch...)
	return m
}

func BenchmarkAppendListCached(b *testing.B) {
	m := benchModel(b, 0, 1, 200)
	buf := make([]byte, 0, 64<<10)
	var err error
	if buf, _, err = m.AppendList(buf[:0], "p0", 50, ""); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _, _ = m.AppendList(buf[:0], "p0", 50, "")
	}
}

func BenchmarkAppendListCachedParallel(b *testing.B) {
	m := benchModel(b, 0, 64, 60)
	for p := range 64 {
		m.AppendList(nil, fmt.Sprintf("p%d", p), 50, "")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64<<10)
		ids := make([]string, 64)
		for i := range ids {
			ids[i] = fmt.Sprintf("p%d", i)
		}
		i := 0
		for pb.Next() {
			buf, _, _ = m.AppendList(buf[:0], ids[i%64], 50, "")
			i++
		}
	})
}

func BenchmarkAppendCommentCached(b *testing.B) {
	m := benchModel(b, 0, 1, 200)
	buf := make([]byte, 0, 4<<10)
	var err error
	if buf, _, err = m.AppendComment(buf[:0], "p0", "c0-150"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf, _, _ = m.AppendComment(buf[:0], "p0", "c0-150")
	}
}

// BenchmarkAppendListMiss queries pictures round robin through a cache that
// holds a few of them, so nearly every query loads a picture of 20 comments
// from the store and evicts another.
func BenchmarkAppendListMiss(b *testing.B) {
	const pictures = 2000
	m := benchModel(b, 64<<10, pictures, 20)
	ids := make([]string, pictures)
	for i := range ids {
		ids[i] = fmt.Sprintf("p%d", i)
	}
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var err error
		if buf, _, err = m.AppendList(buf[:0], ids[i%pictures], 50, ""); err != nil {
			b.Fatal(err)
		}
		i++
	}
	hits, misses := m.cache.counts()
	b.ReportMetric(float64(misses)/float64(hits+misses), "miss-ratio")
}

// BenchmarkApply applies a mix of 70% creates, 20% text updates and 10%
// deletes over 10,000 pictures, in batches. With "cached=true", 1,000
// pictures are in the index and kept up to date by Apply; with
// "cached=all", all of them are (and updates and deletes then find their
// comment in the index instead of reading the store).
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{256, 1000} {
		for _, cached := range []struct {
			name     string
			pictures int
		}{{"false", 0}, {"true", 1000}, {"all", 10000}} {
			b.Run(fmt.Sprintf("batch=%d/cached=%s", batch, cached.name), func(b *testing.B) {
				benchmarkApply(b, batch, cached.pictures)
			})
		}
	}
}

func benchmarkApply(b *testing.B, batchSize, cachedPictures int) {
	const pictures = 10000
	m := openModel(b, b.TempDir(), Options{})
	for p := range cachedPictures {
		m.AppendList(nil, fmt.Sprintf("p%d", p), 10, "")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	l := newEventLog()
	var live []comment.Event
	seq := 0
	gen := func(n int) []comment.Event {
		out := make([]comment.Event, 0, n)
		for len(out) < n {
			switch k := rng.IntN(10); {
			case k < 7 || len(live) < 100:
				seq++
				e := l.create(fmt.Sprintf("p%d", rng.IntN(pictures)), fmt.Sprintf("c%d", seq), "alice",
					"a typical comment, with a bit of text to make it realistic")
				live = append(live, e)
				out = append(out, e)
			case k < 9:
				c := live[rng.IntN(len(live))]
				out = append(out, l.update(c.PictureID, c.CommentID, "an edited comment text"))
			default:
				i := rng.IntN(len(live))
				c := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				out = append(out, l.del(c.PictureID, c.CommentID))
			}
		}
		return out
	}
	b.ReportAllocs()
	b.ResetTimer()
	applied := 0
	for applied < b.N {
		// Generate many batches per pause: stopping the timer is not free.
		b.StopTimer()
		events := gen(min(64*batchSize, b.N-applied))
		b.StartTimer()
		for len(events) > 0 {
			n := min(batchSize, len(events))
			if err := m.Apply(events[:n]); err != nil {
				b.Fatal(err)
			}
			events = events[n:]
			applied += n
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
