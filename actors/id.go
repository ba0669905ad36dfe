package actors

import (
	"crypto/rand"
	"sync/atomic"
	"time"

	"github.com/commentd/commentd/store"
)

// base32hex digits: their ASCII order is their numeric order, so fixed-width
// numbers compare as strings in numeric order.
const base32hex = "0123456789ABCDEFGHIJKLMNOPQRSTUV"

// idLen is the length of a generated id: 13 digits of a 64-bit counter and 8
// digits (40 bits) of randomness.
const idLen = 13 + 8

// idGen generates comment ids that sort as strings in generation order: a
// strictly increasing nanosecond counter (the wall clock, or the previous
// value + 1 when the clock did not advance) then a random suffix that keeps
// ids of different processes apart.
type idGen struct {
	last atomic.Int64
}

// seed makes every later id's counter exceed t: ids generated after a
// restart with the clock behind the newest commit time then still sort
// after the older ones.
func (g *idGen) seed(t int64) {
	for {
		last := g.last.Load()
		if last >= t || g.last.CompareAndSwap(last, t) {
			return
		}
	}
}

// seedIDs seeds s.ids from the commit time of the store's newest record.
func (s *System) seedIDs() error {
	last := s.cfg.Store.LastPosition()
	if last == 0 {
		return nil
	}
	return s.cfg.Store.ScanAll(last-1, 1, func(rec store.Record) error {
		s.ids.seed(rec.Time)
		return nil
	})
}

func (g *idGen) next() string {
	var n int64
	for {
		last := g.last.Load()
		n = max(time.Now().UnixNano(), last+1)
		if g.last.CompareAndSwap(last, n) {
			break
		}
	}
	var b [idLen]byte
	v := uint64(n)
	for i := 12; i >= 0; i-- {
		b[i] = base32hex[v&31]
		v >>= 5
	}
	var r [5]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (it crashes the program instead)
	w := uint64(r[0])<<32 | uint64(r[1])<<24 | uint64(r[2])<<16 | uint64(r[3])<<8 | uint64(r[4])
	for i := idLen - 1; i >= 13; i-- {
		b[i] = base32hex[w&31]
		w >>= 5
	}
	return string(b[:])
}
