package bench

import (
	"errors"
	"strconv"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

const (
	maxLatencyMicros = int64(60 * time.Second / time.Microsecond)
	opAll            = numOps // index of the all-operations histograms
)

func newHist() *hdr.Histogram { return hdr.New(1, maxLatencyMicros, 3) }

func recordHist(h *hdr.Histogram, d time.Duration) {
	v := int64(d / time.Microsecond)
	if v < 0 {
		v = 0
	} else if v > maxLatencyMicros {
		v = maxLatencyMicros
	}
	_ = h.RecordValue(v) // cannot fail: v is within the trackable range
}

// outcome is what one operation reports to the loop.
type outcome struct {
	op     Op
	status int   // HTTP status (200 for a successful non-HTTP operation)
	err    error // transport error; status is then meaningless
}

func (o outcome) ok() bool { return o.err == nil && o.status >= 200 && o.status < 300 }

// errKey names the error class of a failed outcome.
func (o outcome) errKey() string {
	switch {
	case o.err == nil:
		return strconv.Itoa(o.status)
	case errors.Is(o.err, errBadBody):
		return "bad-body"
	case errors.Is(o.err, fasthttp.ErrTimeout):
		return "timeout"
	default:
		return "net"
	}
}

// sample is one finished operation, as buffered by its worker.
type sample struct {
	lat       time.Duration
	o         outcome
	measuring bool
}

// workerBuf is a worker's buffer of samples; the collector swaps it out.
type workerBuf struct {
	mu  sync.Mutex
	buf []sample
}

func (w *workerBuf) add(s sample) {
	w.mu.Lock()
	w.buf = append(w.buf, s)
	w.mu.Unlock()
}

// collector owns all histograms and counters; only one goroutine calls its
// methods.
type collector struct {
	start time.Time
	bufs  []*workerBuf
	spare []sample
	last  time.Time

	total    [numOps + 1]*hdr.Histogram
	interval [numOps + 1]*hdr.Histogram
	ok       [numOps + 1]int64
	errs     [numOps + 1]map[string]int64
	ivOK     [numOps + 1]int64
	ivErr    [numOps + 1]int64
	series   []Point
}

func newCollector(start time.Time, workers int) *collector {
	c := &collector{start: start, last: start, bufs: make([]*workerBuf, workers)}
	for i := range c.bufs {
		c.bufs[i] = &workerBuf{}
	}
	for i := range c.total {
		c.errs[i] = map[string]int64{}
	}
	return c
}

func (c *collector) hist(arr *[numOps + 1]*hdr.Histogram, op Op) *hdr.Histogram {
	if arr[op] == nil {
		arr[op] = newHist()
	}
	return arr[op]
}

// drain moves every buffered sample into the histograms.
func (c *collector) drain() {
	for _, b := range c.bufs {
		b.mu.Lock()
		got := b.buf
		b.buf = c.spare[:0]
		b.mu.Unlock()
		for _, s := range got {
			c.add(s)
		}
		c.spare = got
	}
}

func (c *collector) add(s sample) {
	op := s.o.op
	if !s.o.ok() {
		c.ivErr[op]++
		c.ivErr[opAll]++
		if s.measuring {
			c.errs[op][s.o.errKey()]++
			c.errs[opAll][s.o.errKey()]++
		}
		return
	}
	c.ivOK[op]++
	c.ivOK[opAll]++
	recordHist(c.hist(&c.interval, op), s.lat)
	recordHist(c.hist(&c.interval, opAll), s.lat)
	if s.measuring {
		c.ok[op]++
		c.ok[opAll]++
		recordHist(c.hist(&c.total, op), s.lat)
		recordHist(c.hist(&c.total, opAll), s.lat)
	}
}

// tick drains, closes the current interval and returns its point.
func (c *collector) tick(now time.Time, warmup bool) Point {
	c.drain()
	secs := now.Sub(c.last).Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	c.last = now
	p := Point{T: now.Sub(c.start).Seconds(), Warmup: warmup, Ops: map[string]PointOp{}}
	for op := Op(0); op <= opAll; op++ {
		if c.ivOK[op] == 0 && c.ivErr[op] == 0 {
			continue
		}
		po := PointOp{Rate: float64(c.ivOK[op]) / secs, Errors: c.ivErr[op]}
		if h := c.interval[op]; h != nil && h.TotalCount() > 0 {
			po.P50 = micros(h.ValueAtQuantile(50))
			po.P99 = micros(h.ValueAtQuantile(99))
			h.Reset()
		}
		p.Ops[opName(op)] = po
		c.ivOK[op], c.ivErr[op] = 0, 0
	}
	c.series = append(c.series, p)
	return p
}

func opName(op Op) string {
	if op == opAll {
		return "all"
	}
	return op.String()
}

func micros(v int64) float64 { return float64(v) / 1000 } // µs to ms

// latencyOf summarises a histogram in milliseconds.
func latencyOf(h *hdr.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  micros(h.ValueAtQuantile(50)),
		P90:  micros(h.ValueAtQuantile(90)),
		P99:  micros(h.ValueAtQuantile(99)),
		P999: micros(h.ValueAtQuantile(99.9)),
		Max:  micros(h.Max()),
		Mean: h.Mean() / 1000,
	}
}

// opResult builds the final figures of one operation over the measured
// duration.
func (c *collector) opResult(op Op, measured time.Duration) OpResult {
	r := OpResult{Op: opName(op), Count: c.ok[op], Latency: latencyOf(c.total[op])}
	for k, v := range c.errs[op] {
		if r.ErrorsByStatus == nil {
			r.ErrorsByStatus = map[string]int64{}
		}
		r.ErrorsByStatus[k] = v
		r.Errors += v
	}
	if s := measured.Seconds(); s > 0 {
		r.Throughput = float64(r.Count) / s
	}
	return r
}
