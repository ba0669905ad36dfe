package readmodel

import (
	"hash/maphash"
	"maps"
	"sync"
	"sync/atomic"
	"unsafe"
)

// entry is one cached comment. It is immutable once built: a change to the
// comment builds a new entry. json is the comment's API object, encoded
// once when the entry is built; the strings of c point into the same
// allocation as json.
type entry struct {
	pos  uint64 // global position of the comment's creation event
	c    Comment
	json []byte
}

// entryOverhead approximates the bytes an entry costs beyond its arena: the
// struct, its slot in a picture's entry slice, its share of the id index and
// the allocation headers.
const entryOverhead = int64(unsafe.Sizeof(entry{})) + 8 + 48 + 32

func (e *entry) size() int64 { return entryOverhead + int64(cap(e.json)) }

// newEntry builds the cached form of r. pictureID is shared by all entries
// of a picture.
func newEntry(r *record, pictureID string) *entry {
	n := len(r.ID) + len(r.Author) + len(r.Text)
	arena := make([]byte, 0, 2*n+len(pictureID)+160)
	arena = appendCommentJSON(arena, r)
	jsonLen := len(arena)
	arena = append(arena, r.ID...)
	arena = append(arena, r.Author...)
	arena = append(arena, r.Text...)
	// The strings below alias arena, which is never written again.
	rest := arena[jsonLen:]
	e := &entry{pos: r.Pos, json: arena[:jsonLen:jsonLen]}
	e.c.ID, rest = aliasString(rest, len(r.ID))
	e.c.Author, rest = aliasString(rest, len(r.Author))
	e.c.Text, _ = aliasString(rest, len(r.Text))
	e.c.PictureID = pictureID
	e.c.CreatedAt = unixTime(r.CreatedAt)
	e.c.UpdatedAt = unixTime(r.UpdatedAt)
	e.c.Version = r.Version
	return e
}

func aliasString(b []byte, n int) (string, []byte) {
	if n == 0 {
		return "", b
	}
	return unsafe.String(&b[0], n), b[n:]
}

// picture is an immutable snapshot of one picture's live comments. Readers
// load it from a slot without locking; Apply builds a new snapshot (sharing
// unchanged entries) and swaps it in.
type picture struct {
	id      string
	pos     uint64   // the model position this snapshot reflects
	entries []*entry // ascending created position
	ids     idIndex
	size    int64
	// large marks a picture too large for the cache budget: only the marker
	// is cached, and queries read the store directly.
	large bool
}

// pictureOverhead approximates a snapshot's fixed cost plus its slot.
const pictureOverhead = int64(unsafe.Sizeof(picture{})+unsafe.Sizeof(slot{})) + 64

// after returns the index of the first entry created after position pos.
// Hand-written binary search: sort.Search's closure would cost a call per
// probe on the hot path.
func (p *picture) after(pos uint64) int {
	lo, hi := 0, len(p.entries)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.entries[mid].pos <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// page returns the entries of one page of a cached picture and whether more
// follow.
func (p *picture) page(after uint64, limit int) ([]*entry, bool) {
	start := p.after(after)
	end := len(p.entries)
	if end-start > limit {
		end = start + limit
	}
	return p.entries[start:end], end < len(p.entries)
}

// find returns the entry of comment id, or nil.
func (p *picture) find(id string) *entry {
	if p.ids.buckets == nil {
		for _, e := range p.entries {
			if e.c.ID == id {
				return e
			}
		}
		return nil
	}
	pos, ok := p.ids.bucket(id)[id]
	if !ok {
		return nil
	}
	i := p.after(pos - 1)
	if i < len(p.entries) && p.entries[i].pos == pos {
		return p.entries[i]
	}
	return nil
}

// newPicture builds a snapshot from entries in ascending created position.
func newPicture(id string, pos uint64, entries []*entry) *picture {
	p := &picture{id: id, pos: pos, entries: entries, size: pictureOverhead + int64(len(id))}
	for _, e := range entries {
		p.size += e.size()
	}
	p.ids = buildIDIndex(entries)
	return p
}

// change is the final state of one comment after a batch of events.
type change struct {
	rec     *record
	deleted bool
}

// merge returns a new snapshot: p with changes (ascending created position,
// all of this picture) applied, reflecting position pos.
func (p *picture) merge(changes []change, pos uint64) *picture {
	np := &picture{id: p.id, pos: pos, size: pictureOverhead + int64(len(p.id))}
	entries := make([]*entry, 0, len(p.entries)+len(changes))
	var added []*entry
	var removed []string
	old := p.entries
	i := 0
	for _, ch := range changes {
		for i < len(old) && old[i].pos < ch.rec.Pos {
			entries = append(entries, old[i])
			i++
		}
		existed := i < len(old) && old[i].pos == ch.rec.Pos
		if existed {
			i++
		}
		switch {
		case ch.deleted && existed:
			removed = append(removed, ch.rec.ID)
		case ch.deleted:
		default:
			e := newEntry(ch.rec, p.id)
			entries = append(entries, e)
			if !existed {
				added = append(added, e)
			}
		}
	}
	entries = append(entries, old[i:]...)
	for _, e := range entries {
		np.size += e.size()
	}
	np.entries = entries
	np.ids = p.ids.update(entries, added, removed)
	return np
}

// idIndex maps a comment id to its created position. Small pictures have no
// index (a linear scan is faster); larger ones split it into buckets by
// hash, so a change copies only the buckets it touches instead of the whole
// map.
type idIndex struct {
	buckets []map[string]uint64 // nil, or a power-of-two count of buckets
}

const (
	linearMax       = 16 // pictures up to this many comments have no index
	bucketTarget    = 64 // comments per bucket aimed for when (re)building
	bucketTolerance = 4  // rebuild once the average strays this factor away
	maxBuckets      = 1 << 12
)

var idSeed = maphash.MakeSeed()

func bucketCount(n int) int {
	if n <= linearMax {
		return 0
	}
	nb := 1
	for nb*bucketTarget < n && nb < maxBuckets {
		nb <<= 1
	}
	return nb
}

func (x idIndex) bucket(id string) map[string]uint64 {
	return x.buckets[maphash.String(idSeed, id)&uint64(len(x.buckets)-1)]
}

func buildIDIndex(entries []*entry) idIndex {
	nb := bucketCount(len(entries))
	if nb == 0 {
		return idIndex{}
	}
	x := idIndex{buckets: make([]map[string]uint64, nb)}
	for i := range x.buckets {
		x.buckets[i] = make(map[string]uint64, len(entries)/nb+1)
	}
	for _, e := range entries {
		x.bucket(e.c.ID)[e.c.ID] = e.pos
	}
	return x
}

// update returns the index of entries, given the index x of the previous
// entries and the ids added and removed since. It copies only the buckets
// that change unless the bucket count is due for a resize.
func (x idIndex) update(entries, added []*entry, removed []string) idIndex {
	nb, want := len(x.buckets), bucketCount(len(entries))
	if nb == 0 || want == 0 || want > nb*bucketTolerance || want*bucketTolerance < nb {
		return buildIDIndex(entries)
	}
	if len(added) == 0 && len(removed) == 0 {
		return x
	}
	nx := idIndex{buckets: make([]map[string]uint64, nb)}
	copy(nx.buckets, x.buckets)
	copied := make([]bool, nb)
	own := func(id string) map[string]uint64 {
		b := maphash.String(idSeed, id) & uint64(nb-1)
		if !copied[b] {
			nx.buckets[b] = maps.Clone(x.buckets[b])
			copied[b] = true
		}
		return nx.buckets[b]
	}
	for _, id := range removed {
		delete(own(id), id)
	}
	for _, e := range added {
		own(e.c.ID)[e.c.ID] = e.pos
	}
	return nx
}

// slot holds a cached picture. snap is swapped atomically by Apply; ref is
// the CLOCK bit set by readers. idx is guarded by cache.mu.
type slot struct {
	key  string
	snap atomic.Pointer[picture]
	ref  atomic.Bool
	idx  int   // position in cache.ring; slotPending before it is added, slotDetached after eviction
	size int64 // bytes accounted for this slot, under cache.mu
}

const (
	slotPending  = -2
	slotDetached = -1
)

const numShards = 64

// shard is one part of the picture map. Readers hold mu for reading only
// for the map lookup.
type shard struct {
	mu sync.RWMutex
	m  map[string]*slot
	// lastTouch is the position of the last Apply that changed a picture of
	// this shard. A snapshot loaded from the store at checkpoint cp is
	// installed only if lastTouch <= cp; otherwise an Apply may have
	// skipped it (it was not cached) and the snapshot could be stale.
	lastTouch uint64
	hits      atomic.Uint64
	misses    atomic.Uint64
	_         [64]byte // keep neighbouring shards off each other's cache lines
}

// cache is the bounded in-memory index: a sharded map of picture snapshots
// with CLOCK (second-chance) eviction over all slots. Lock order: cache.mu
// before shard.mu; a shard lock is never held while taking cache.mu.
type cache struct {
	budget     int64
	maxPicture int64
	seed       maphash.Seed
	shards     [numShards]shard

	mu        sync.Mutex
	ring      []*slot
	hand      int
	total     int64
	evictions atomic.Uint64
	bytes     atomic.Int64 // mirror of total for metrics
	pictures  atomic.Int64 // mirror of len(ring) for metrics
}

func newCache(budget int64) *cache {
	c := &cache{budget: budget, maxPicture: budget / 4, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*slot)
	}
	return c
}

func (c *cache) shard(key string) *shard {
	return &c.shards[maphash.String(c.seed, key)%numShards]
}

// get returns the cached snapshot of a picture, or nil. It takes no write
// lock and, on a hit, does not allocate.
func (c *cache) get(key string) *picture {
	sh := c.shard(key)
	sh.mu.RLock()
	s := sh.m[key]
	sh.mu.RUnlock()
	if s == nil {
		sh.misses.Add(1)
		return nil
	}
	if !s.ref.Load() {
		s.ref.Store(true)
	}
	p := s.snap.Load()
	if p.large {
		sh.misses.Add(1) // answered from the store
	} else {
		sh.hits.Add(1)
	}
	return p
}

// peek returns the slot of a cached picture, or nil, without counting a hit
// or a miss or setting the reference bit: for Apply, not for queries.
func (c *cache) peek(key string) *slot {
	sh := c.shard(key)
	sh.mu.RLock()
	s := sh.m[key]
	sh.mu.RUnlock()
	return s
}

// install caches p, loaded from the store at checkpoint cp, unless the
// picture is cached already or an Apply after cp changed the shard. It
// returns the snapshot to answer from: the cached one if present, else p.
func (c *cache) install(p *picture, cp uint64) *picture {
	sh := c.shard(p.id)
	sh.mu.Lock()
	if s := sh.m[p.id]; s != nil {
		sh.mu.Unlock()
		return s.snap.Load()
	}
	if sh.lastTouch > cp {
		sh.mu.Unlock()
		return p
	}
	s := &slot{key: p.id, idx: slotPending}
	s.snap.Store(p)
	s.ref.Store(true)
	sh.m[p.id] = s
	sh.mu.Unlock()

	c.mu.Lock()
	if s.idx == slotPending {
		s.idx = len(c.ring)
		c.ring = append(c.ring, s)
		s.size = s.snap.Load().size
		c.total += s.size
		c.evictLocked()
		c.publishLocked()
	}
	c.mu.Unlock()
	return p
}

// touch records that an Apply reaching position pos changes picture key,
// and returns its slot if it is cached.
func (c *cache) touch(key string, pos uint64) *slot {
	sh := c.shard(key)
	sh.mu.Lock()
	sh.lastTouch = pos
	s := sh.m[key]
	sh.mu.Unlock()
	return s
}

// replace swaps in a new snapshot for a cached slot and accounts its size.
func (c *cache) replace(s *slot, p *picture) {
	s.snap.Store(p)
	c.mu.Lock()
	if s.idx >= 0 {
		c.total += p.size - s.size
		s.size = p.size
		c.evictLocked()
		c.publishLocked()
	}
	c.mu.Unlock()
}

// drop removes a slot from the cache.
func (c *cache) drop(s *slot) {
	c.mu.Lock()
	c.detachLocked(s)
	c.publishLocked()
	c.mu.Unlock()
}

// evictLocked evicts slots until the cache is within its budget. A slot
// whose reference bit is set gets a second chance (the bit is cleared);
// after two full sweeps the slot under the hand goes regardless, so eviction
// ends even while readers keep setting bits.
func (c *cache) evictLocked() {
	sweeps := 0
	for c.total > c.budget && len(c.ring) > 0 {
		if c.hand >= len(c.ring) {
			c.hand = 0
			sweeps++
		}
		s := c.ring[c.hand]
		if sweeps < 2 && s.ref.Load() {
			s.ref.Store(false)
			c.hand++
			continue
		}
		c.detachLocked(s)
		c.evictions.Add(1)
	}
}

// detachLocked removes s from its shard and the ring (moving the last slot
// into its place).
func (c *cache) detachLocked(s *slot) {
	sh := c.shard(s.key)
	sh.mu.Lock()
	if sh.m[s.key] == s {
		delete(sh.m, s.key)
	}
	sh.mu.Unlock()
	if s.idx >= 0 {
		last := len(c.ring) - 1
		c.ring[s.idx] = c.ring[last]
		c.ring[s.idx].idx = s.idx
		c.ring[last] = nil
		c.ring = c.ring[:last]
		c.total -= s.size
	}
	s.idx = slotDetached
}

func (c *cache) publishLocked() {
	c.bytes.Store(c.total)
	c.pictures.Store(int64(len(c.ring)))
}

func (c *cache) counts() (hits, misses uint64) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		misses += c.shards[i].misses.Load()
	}
	return hits, misses
}
