package readmodel

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/commentd/commentd/comment"
)

func TestEvictionKeepsBound(t *testing.T) {
	const budget = 16 << 10
	rng := rand.New(rand.NewPCG(3, 3))
	m := openModel(t, t.TempDir(), Options{CacheBytes: budget})
	l, ref := newEventLog(), newReference()
	events := randomEvents(rng, l, 1500, 60)
	ref.apply(events...)
	applyInBatches(t, rng, m, events, 100)
	pics := ref.pictureIDs()
	for i := range 1200 {
		pic := pics[rng.IntN(len(pics))]
		if rng.IntN(4) == 0 {
			more := randomEvents(rng, l, 5, 60)
			ref.apply(more...)
			mustApply(t, m, more...)
		}
		page, _, err := m.List(pic, 1000, "")
		if err != nil {
			t.Fatal(err)
		}
		if d := diffComments(page.Comments, ref.live(pic)); d != "" {
			t.Fatalf("query %d, picture %s: %s", i, pic, d)
		}
		if b := m.cache.bytes.Load(); b > budget {
			t.Fatalf("query %d: cache holds %d bytes, budget %d", i, b, budget)
		}
	}
	if m.cache.evictions.Load() == 0 || m.cache.pictures.Load() == 0 {
		t.Fatalf("evictions %d, pictures cached %d; want both > 0", m.cache.evictions.Load(), m.cache.pictures.Load())
	}
	checkAgainst(t, m, ref, 4)
	// The ring, the shards and the accounted bytes agree.
	m.cache.mu.Lock()
	defer m.cache.mu.Unlock()
	var total int64
	for i, s := range m.cache.ring {
		if s.idx != i || m.cache.shard(s.key).m[s.key] != s {
			t.Fatalf("ring slot %d (%s) idx %d not in its shard", i, s.key, s.idx)
		}
		total += s.size
	}
	n := 0
	for i := range m.cache.shards {
		n += len(m.cache.shards[i].m)
	}
	if total != m.cache.total || n != len(m.cache.ring) {
		t.Fatalf("ring holds %d bytes in %d slots; accounted %d bytes, shards hold %d", total, len(m.cache.ring), m.cache.total, n)
	}
}

func TestLargePictureServedFromStore(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{CacheBytes: 4096}) // pictures over 1 KiB are not cached
	l, ref := newEventLog(), newReference()
	var events []comment.Event
	for i := range 12 {
		events = append(events, l.create("big", fmt.Sprintf("b%02d", i), "u", "some text of a comment"))
	}
	events = append(events, l.create("small", "s1", "u", "t"))
	ref.apply(events...)
	mustApply(t, m, events...)
	checkAgainst(t, m, ref, 5)
	if p := m.cache.get("big"); p == nil || !p.large {
		t.Fatalf("big picture cached as %+v; want a large marker", p)
	}
	if p := m.cache.get("small"); p == nil || p.large || len(p.entries) != 1 {
		t.Fatalf("small picture cached as %+v", p)
	}
	// Updates keep the marker; a deletion drops it so the picture is
	// measured again.
	more := []comment.Event{l.update("big", "b03", "changed")}
	ref.apply(more...)
	mustApply(t, m, more...)
	if p := m.cache.get("big"); p == nil || !p.large {
		t.Fatal("update dropped the large marker")
	}
	checkAgainst(t, m, ref, 5)
	for i := range 11 {
		more = []comment.Event{l.del("big", fmt.Sprintf("b%02d", i))}
		ref.apply(more...)
		mustApply(t, m, more...)
		checkAgainst(t, m, ref, 3)
	}
	if p := m.cache.get("big"); p == nil || p.large || len(p.entries) != 1 {
		t.Fatalf("big picture with one comment cached as %+v", p)
	}
}

func TestMissRacingApply(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l := newEventLog()
	mustApply(t, m, l.create("p", "c1", "u", "old"), l.create("q", "d1", "u", "old"))

	// A load at checkpoint 2 that finishes after an Apply touched the
	// picture must not be cached: Apply skipped it, so it would stay stale.
	p, cp, err := m.load("p")
	if err != nil || cp != 2 || len(p.entries) != 1 {
		t.Fatalf("load = %+v, %d, %v", p, cp, err)
	}
	mustApply(t, m, l.update("p", "c1", "new"))
	if got := m.cache.install(p, cp); got != p {
		t.Fatal("install returned another snapshot")
	}
	if s := m.cache.get("p"); s != nil {
		t.Fatalf("stale snapshot cached: %+v", s.entries[0].c)
	}
	if c, _, _ := m.Get("p", "c1"); c.Text != "new" {
		t.Fatalf("text %q, want new", c.Text)
	}

	// A load installed before the Apply is brought up to date by it.
	q, cp, err := m.load("q")
	if err != nil || cp != 3 {
		t.Fatalf("load = %+v, %d, %v", q, cp, err)
	}
	m.cache.install(q, cp)
	mustApply(t, m, l.update("q", "d1", "new"))
	if s := m.cache.get("q"); s == nil || s.pos != 4 || s.entries[0].c.Text != "new" {
		t.Fatalf("cached q = %+v", s)
	}
}

func TestIDIndexBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	m := openModel(t, t.TempDir(), Options{})
	l, ref := newEventLog(), newReference()
	for round := range 6 {
		events := randomEvents(rng, l, 400, 2)
		ref.apply(events...)
		applyInBatches(t, rng, m, events, 30)
		checkAgainst(t, m, ref, 100)
		p := m.cache.get("p0")
		if p == nil {
			t.Fatal("p0 not cached")
		}
		if want := bucketCount(len(p.entries)); want > 0 && len(p.ids.buckets) == 0 {
			t.Fatalf("round %d: %d comments and no id index", round, len(p.entries))
		}
		n := 0
		for _, b := range p.ids.buckets {
			n += len(b)
		}
		if p.ids.buckets != nil && n != len(p.entries) {
			t.Fatalf("round %d: id index holds %d ids for %d comments", round, n, len(p.entries))
		}
	}
}

func TestConcurrentReadersAndApply(t *testing.T) {
	for _, cache := range []int64{0, 6 << 10} {
		t.Run(fmt.Sprint(cache), func(t *testing.T) { testConcurrent(t, cache) })
	}
}

// testConcurrent checks that readers running alongside Apply only ever see
// a whole state of a picture that is at least as new as the position they
// were told.
func testConcurrent(t *testing.T, cacheBytes int64) {
	rng := rand.New(rand.NewPCG(5, uint64(cacheBytes)))
	m := openModel(t, t.TempDir(), Options{CacheBytes: cacheBytes})
	l, ref := newEventLog(), newReference()
	const pictures = 6
	events := randomEvents(rng, l, 1500, pictures)

	// states[pic][k] is the picture after its k-th event (k = 0: empty);
	// statePos[pic][k] the position of that event.
	states := make(map[string][][]Comment)
	statePos := make(map[string][]uint64)
	for i := range pictures {
		pic := fmt.Sprintf("p%d", i)
		states[pic], statePos[pic] = [][]Comment{nil}, []uint64{0}
	}
	// history[id] holds the comment after each of its events (nil once
	// deleted), historyPos the positions of those events.
	history := make(map[string][]*Comment)
	historyPos := make(map[string][]uint64)
	var ids []string
	for _, e := range events {
		ref.apply(e)
		states[e.PictureID] = append(states[e.PictureID], ref.live(e.PictureID))
		statePos[e.PictureID] = append(statePos[e.PictureID], e.Position)
		var c *Comment
		if rc := ref.byID[e.CommentID]; !rc.deleted {
			cc := rc.c
			c = &cc
		}
		if history[e.CommentID] == nil {
			ids = append(ids, e.CommentID)
		}
		history[e.CommentID] = append(history[e.CommentID], c)
		historyPos[e.CommentID] = append(historyPos[e.CommentID], e.Position)
	}
	// checkGet accepts any state of the comment at or after position pos.
	checkGet := func(id string, pos uint64, got Comment, err error) error {
		k, _ := slices.BinarySearch(historyPos[id], pos+1)
		for j := k - 1; j < len(history[id]); j++ {
			var want *Comment
			if j >= 0 {
				want = history[id][j]
			}
			if want == nil && comment.ErrorCode(err) == comment.CodeNotFound ||
				want != nil && err == nil && equalComment(got, *want) {
				return nil
			}
		}
		return fmt.Errorf("Get(%s) at position %d = %+v, %v: no state at or after it", id, pos, got, err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			buf := make([]byte, 0, 1<<16)
			for !stop.Load() {
				if rng.IntN(3) == 0 {
					id := ids[rng.IntN(len(ids))]
					pic := history[id][0].PictureID
					c, pos, err := m.Get(pic, id)
					if err := checkGet(id, pos, c, err); err != nil {
						errs <- err
						return
					}
					continue
				}
				pic := fmt.Sprintf("p%d", rng.IntN(pictures))
				var err error
				var pos uint64
				buf, pos, err = m.AppendList(buf[:0], pic, 10000, "")
				if err != nil {
					errs <- err
					return
				}
				var got apiList
				if err := json.Unmarshal(buf, &got); err != nil {
					errs <- fmt.Errorf("bad JSON %s: %v", buf, err)
					return
				}
				var seen []Comment
				for _, c := range got.Comments {
					seen = append(seen, c.comment())
				}
				// The oldest acceptable state is the last one at or before pos.
				k, _ := slices.BinarySearch(statePos[pic], pos+1)
				ok := false
				for j := k - 1; j < len(states[pic]) && !ok; j++ {
					ok = equalComments(seen, states[pic][j])
				}
				if !ok {
					errs <- fmt.Errorf("picture %s at position %d: %d comments match no state at or after it", pic, pos, len(seen))
					return
				}
			}
		}()
	}
	applyInBatches(t, rng, m, events, 40)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkAgainst(t, m, ref, 7)
}

func TestZeroAllocsOnHit(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l := newEventLog()
	var events []comment.Event
	for i := range 100 {
		events = append(events, l.create("p", fmt.Sprintf("c%03d", i), "alice", "a comment with \"quotes\""))
	}
	mustApply(t, m, events...)
	buf := make([]byte, 0, 64<<10)
	page, _, err := m.List("p", 20, "")
	if err != nil {
		t.Fatal(err)
	}
	cursor := page.Next
	if _, _, err := m.AppendList(buf, "p", 20, cursor); err != nil { // warm the cache
		t.Fatal(err)
	}
	hits, _ := m.cache.counts()
	checks := []struct {
		name string
		fn   func()
	}{
		{"AppendList", func() { buf, _, _ = m.AppendList(buf[:0], "p", 50, "") }},
		{"AppendList cursor", func() { buf, _, _ = m.AppendList(buf[:0], "p", 20, cursor) }},
		{"AppendComment", func() { buf, _, _ = m.AppendComment(buf[:0], "p", "c077") }},
		{"AppendList bad cursor", func() { buf, _, _ = m.AppendList(buf[:0], "p", 20, "garbage") }},
	}
	for _, c := range checks {
		if n := testing.AllocsPerRun(100, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per call on a hit, want 0", c.name, n)
		}
	}
	if h, _ := m.cache.counts(); h <= hits {
		t.Fatalf("hits %d before, %d after: the calls were not cache hits", hits, h)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	m := openModel(t, dir, Options{Registerer: reg, CacheBytes: 1 << 20})
	l := newEventLog()
	mustApply(t, m, l.create("p", "c1", "u", "t"), l.create("q", "c2", "u", "t"))
	m.List("r", 10, "") // miss
	m.List("r", 10, "") // hit
	m.List("r", 10, "") // hit
	for name, want := range map[string]float64{
		"commentd_cache_hits_total":   2,
		"commentd_cache_misses_total": 1,
		"commentd_cache_pictures":     1,
		"commentd_readmodel_position": 2,
	} {
		got, err := gatherValue(reg, name)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	if got, _ := gatherValue(reg, "commentd_cache_bytes"); got <= 0 {
		t.Errorf("commentd_cache_bytes = %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "commentd_pebble_read_amplification", "commentd_pebble_compactions_total",
		"commentd_pebble_memtable_size_bytes", "commentd_pebble_wal_bytes_written_total", "commentd_pebble_flushes_total",
		"commentd_pebble_disk_usage_bytes", "commentd_cache_evictions_total")
	if err != nil || n != 7 {
		t.Errorf("pebble and eviction metrics: %d series, %v; want 7", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "commentd_pebble_wal_bytes_written_total" {
			if l := mf.GetMetric()[0].GetLabel(); len(l) != 1 || l[0].GetName() != "db" || l[0].GetValue() != "readmodel" {
				t.Errorf("pebble metric labels %v", l)
			}
		}
	}
	// Close unregisters, so a new model can register on the same registry.
	m.Close()
	m2 := openModel(t, dir, Options{Registerer: reg})
	if got, _ := gatherValue(reg, "commentd_readmodel_position"); got != 2 {
		t.Errorf("position after reopen = %v", got)
	}
	m2.Close()
}

func gatherValue(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), nil
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("%s not gathered", name)
}

// TestArgumentsNotRetained checks that a query does not keep its picture id
// argument: callers pass strings aliasing buffers they reuse, so a picture
// cached on a miss must own its id.
func TestArgumentsNotRetained(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l := newEventLog()
	mustApply(t, m, l.create("pa", "c1", "alice", "one"), l.create("pb", "c2", "bob", "two"))
	buf := []byte("pa")
	alias := unsafe.String(&buf[0], len(buf))
	for _, query := range []func(string) error{
		func(p string) error { _, _, err := m.AppendList(nil, p, 10, ""); return err },
		func(p string) error { _, _, err := m.AppendComment(nil, p, "c1"); return err },
	} {
		m.cache = newCache(m.cache.budget) // start with a miss
		copy(buf, "pa")
		if err := query(alias); err != nil {
			t.Fatal(err)
		}
		copy(buf, "pb") // the caller reuses its buffer
		got, _, err := m.AppendList(nil, "pa", 10, "")
		if err != nil {
			t.Fatal(err)
		}
		want := `{"pictureId":"pa","comments":[{"id":"c1","pictureId":"pa",`
		if len(got) < len(want) || string(got[:len(want)]) != want {
			t.Fatalf("after the caller's buffer changed: %s", got)
		}
		var keys []string
		for i := range m.cache.shards {
			for k, sl := range m.cache.shards[i].m {
				keys = append(keys, k)
				if p := sl.snap.Load(); p.id != "pa" || (len(p.entries) > 0 && p.entries[0].c.PictureID != "pa") {
					t.Errorf("cached snapshot reads as picture %q", p.id)
				}
			}
		}
		if !slices.Equal(keys, []string{"pa"}) {
			t.Fatalf("cache keys %q, want [pa]", keys)
		}
	}
}
