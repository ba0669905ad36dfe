package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Op is the kind of one measured operation.
type Op uint8

// The operations. OpCommit is a raw synced Pebble batch (the pebble ceiling);
// the others are the HTTP routes of API.md.
const (
	OpCreate Op = iota
	OpUpdate
	OpDelete
	OpList
	OpGet
	OpCommit
	numOps
)

var opNames = [numOps]string{"create", "update", "delete", "list", "get", "commit"}

// String returns the operation's name as used in results and reports.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op" + strconv.Itoa(int(o))
}

// Mix holds the relative weights (usually percentages) of the HTTP
// operations. An update, delete or get works on a comment the run created
// (preload included), held by one worker at a time; drawn while no such
// comment is free, it is sent as a create instead.
type Mix struct {
	Create int `json:"create"`
	Update int `json:"update"`
	Delete int `json:"delete"`
	List   int `json:"list"`
	Get    int `json:"get"`
}

func (m Mix) weights() [5]int { return [5]int{m.Create, m.Update, m.Delete, m.List, m.Get} }

// Validate reports a negative weight or an all-zero mix.
func (m Mix) Validate() error {
	sum := 0
	for i, w := range m.weights() {
		if w < 0 {
			return fmt.Errorf("bench: negative weight for %s", Op(i))
		}
		sum += w
	}
	if sum == 0 {
		return errors.New("bench: the operation mix is empty")
	}
	return nil
}

// String renders the mix as "create=10,list=90" (zero weights omitted).
func (m Mix) String() string {
	var b []byte
	for i, w := range m.weights() {
		if w == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, Op(i).String()...)
		b = append(b, '=')
		b = strconv.AppendInt(b, int64(w), 10)
	}
	return string(b)
}

// picker draws operations according to a Mix; it is immutable.
type picker struct {
	cum   [5]int
	total int
}

func newPicker(m Mix) picker {
	var p picker
	for i, w := range m.weights() {
		p.total += w
		p.cum[i] = p.total
	}
	return p
}

func (p picker) pick(r *rand.Rand) Op {
	n := r.IntN(p.total)
	for i, c := range p.cum {
		if n < c {
			return Op(i)
		}
	}
	return OpList
}

// Workload describes what the HTTP workers send.
type Workload struct {
	Mix      Mix     `json:"mix"`
	Pictures int     `json:"pictures"` // P pictures; popularity is Zipf distributed (rank 0 most popular)
	ZipfS    float64 `json:"zipfS"`    // Zipf exponent s > 1; 0: 1.1
	Users    int     `json:"users"`    // U users, a token each
	Preload  int     `json:"preload"`  // K comments created before the run (not measured)
	// ListLimit is the limit of list queries; 0: the server's default (no parameter).
	ListLimit int `json:"listLimit"`
	TextSize  int `json:"textSize"` // bytes of comment text; 0: 64
	// RYWEvery samples the read-your-writes lag of every n-th measured create; 0: off.
	RYWEvery int `json:"rywEvery"`
	// Prefix starts every picture id so that runs on one server do not mix; "": derived from the clock.
	Prefix string `json:"prefix"`
}

func (w *Workload) setDefaults() {
	if w.Pictures <= 0 {
		w.Pictures = 1
	}
	if w.ZipfS <= 1 {
		w.ZipfS = 1.1
	}
	if w.Users <= 0 {
		w.Users = 1
	}
	if w.TextSize <= 0 {
		w.TextSize = 64
	}
	if w.Prefix == "" {
		w.Prefix = "b" + strconv.FormatInt(time.Now().UnixNano()/int64(time.Millisecond), 36)
	}
}

// PictureID returns the id of the picture of Zipf rank i.
func (w *Workload) PictureID(i int) string { return w.Prefix + "-p" + strconv.Itoa(i) }

// newZipf returns a Zipf generator over the picture ranks 0..Pictures-1.
func (w *Workload) newZipf(r *rand.Rand) *rand.Zipf {
	return rand.NewZipf(r, w.ZipfS, 1, uint64(w.Pictures-1))
}

// known is a comment the workers may update, delete or get.
type known struct {
	picture int // rank
	id      string
	user    int
}

// pool is the bounded set of live comments the workers know about. It is
// safe for concurrent use.
type pool struct {
	mu    sync.Mutex
	items []known
	max   int
}

func newPool(max int) *pool { return &pool{max: max} }

func (p *pool) add(k known, r *rand.Rand) {
	p.mu.Lock()
	if len(p.items) < p.max {
		p.items = append(p.items, k)
	} else {
		p.items[r.IntN(len(p.items))] = k
	}
	p.mu.Unlock()
}

// take removes and returns a random known comment: the caller holds it
// exclusively until it adds it back.
func (p *pool) take(r *rand.Rand) (known, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.items)
	if n == 0 {
		return known{}, false
	}
	i := r.IntN(n)
	k := p.items[i]
	p.items[i] = p.items[n-1]
	p.items = p.items[:n-1]
	return k, true
}
