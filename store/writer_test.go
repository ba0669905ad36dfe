package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestHeadCacheEviction evicts the head cache between almost every batch
// while many appenders contend on shared streams: versions must stay
// contiguous, so heads reread from Pebble must agree with the cache.
func TestHeadCacheEviction(t *testing.T) {
	defer func(n int) { maxHeadCache = n }(maxHeadCache)
	maxHeadCache = 2
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 30 {
				stream := fmt.Sprintf("s%d", (g+i)%6)
				if _, err := s.Append(context.Background(), stream, AnyVersion, []byte("x"), []byte("y")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	all, err := s.ReadAll(0, 0)
	if err != nil || len(all) != 32*30*2 {
		t.Fatalf("ReadAll = %d records, %v; want %d", len(all), err, 32*30*2)
	}
	heads := map[string]uint64{}
	for _, r := range all {
		if r.Version != heads[r.Stream]+1 {
			t.Fatalf("position %d: stream %s version %d after %d", r.Position, r.Stream, r.Version, heads[r.Stream])
		}
		heads[r.Stream] = r.Version
	}
}
