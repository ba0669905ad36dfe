package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the load generator paces its requests.
type Mode string

// The modes.
const (
	// Closed: every worker sends its next request when the previous one is answered.
	Closed Mode = "closed"
	// Open: the workers follow one schedule of Rate requests per second and
	// latency counts from each request's intended send time.
	Open Mode = "open"
)

// loopConfig is how runLoop paces and reports.
type loopConfig struct {
	name     string
	mode     Mode
	rate     float64 // open loop only
	warmup   time.Duration
	duration time.Duration
	progress io.Writer // nil: silent
}

func (lc loopConfig) validate(conns int) error {
	if conns <= 0 {
		return fmt.Errorf("bench: %s: conns must be positive", lc.name)
	}
	if lc.duration <= 0 || lc.warmup < 0 {
		return fmt.Errorf("bench: %s: duration must be positive and warm-up not negative", lc.name)
	}
	switch lc.mode {
	case Closed:
	case Open:
		if lc.rate <= 0 || math.IsInf(lc.rate, 0) || math.IsNaN(lc.rate) {
			return fmt.Errorf("bench: %s: open loop needs a positive rate", lc.name)
		}
	default:
		return fmt.Errorf("bench: %s: unknown mode %q", lc.name, lc.mode)
	}
	return nil
}

// opFunc performs one operation; measuring tells whether it counts.
// Each worker owns its opFunc: it is never called concurrently.
type opFunc func(measuring bool) outcome

// loopOutcome is what runLoop measured.
type loopOutcome struct {
	c        *collector
	start    time.Time
	measured time.Duration
	unsent   int64
}

// runLoop runs one worker per fn until warmup+duration has passed or ctx is
// done, and returns the collector holding every sample.
func runLoop(ctx context.Context, lc loopConfig, fns []opFunc) loopOutcome {
	start := time.Now()
	warmEnd := start.Add(lc.warmup)
	end := warmEnd.Add(lc.duration)
	c := newCollector(start, len(fns))

	var slot atomic.Int64 // open loop: next send slot
	var sent atomic.Int64 // open loop: slots actually sent
	slotTime := func(k int64) time.Time {
		return start.Add(time.Duration(float64(k) * float64(time.Second) / lc.rate))
	}

	var wg sync.WaitGroup
	for i, fn := range fns {
		buf := c.bufs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for ctx.Err() == nil {
				var t0 time.Time
				if lc.mode == Open {
					t0 = slotTime(slot.Add(1) - 1)
					if !t0.Before(end) {
						return
					}
					if d := time.Until(t0); d > 0 {
						timer.Reset(d)
						select {
						case <-ctx.Done():
							return
						case <-timer.C:
						}
					} else if !time.Now().Before(end) {
						return // behind schedule at the end: the rest is unsent
					}
					sent.Add(1)
				} else {
					t0 = time.Now()
					if !t0.Before(end) {
						return
					}
				}
				measuring := !t0.Before(warmEnd)
				o := fn(measuring)
				buf.add(sample{lat: time.Since(t0), o: o, measuring: measuring})
			}
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case now := <-ticker.C:
			p := c.tick(now, c.last.Before(warmEnd))
			lc.printProgress(p)
		}
	}
	now := time.Now()
	if now.Sub(c.last) > 100*time.Millisecond {
		lc.printProgress(c.tick(now, false))
	} else {
		c.drain()
	}

	out := loopOutcome{c: c, start: start, measured: lc.duration}
	if stop := time.Now(); stop.Before(end) { // cancelled early
		out.measured = max(stop.Sub(warmEnd), 0)
	}
	if lc.mode == Open {
		total := int64(math.Ceil((lc.warmup + lc.duration).Seconds() * lc.rate))
		out.unsent = max(total-sent.Load(), 0)
	}
	return out
}

func (lc loopConfig) printProgress(p Point) {
	if lc.progress == nil {
		return
	}
	all := p.Ops["all"]
	phase := "     "
	if p.Warmup {
		phase = "warm "
	}
	var errs int64
	var per []string
	for name, po := range p.Ops {
		if name == "all" {
			continue
		}
		errs += po.Errors
		per = append(per, fmt.Sprintf("%s %.0f", name, po.Rate))
	}
	sort.Strings(per)
	fmt.Fprintf(lc.progress, "%-20s %5.1fs %s ops/s %9.0f  p99 %8.2fms  errors %d  [%s]\n",
		lc.name, p.T, phase, all.Rate, all.P99, errs, strings.Join(per, ", "))
}

// result assembles a Result from what the loop measured.
func (o loopOutcome) result(kind, name, target string, lc loopConfig, conns int) *Result {
	r := &Result{
		Name: name, Kind: kind, Target: target, Mode: string(lc.mode), Conns: conns,
		Warmup: lc.warmup.Seconds(), Duration: o.measured.Seconds(), Started: o.start.UTC(),
		Unsent: o.unsent, Series: o.c.series,
	}
	if lc.mode == Open {
		r.Rate = lc.rate
	}
	for op := Op(0); op < numOps; op++ {
		if o.c.ok[op] == 0 && len(o.c.errs[op]) == 0 {
			continue
		}
		r.Ops = append(r.Ops, o.c.opResult(op, o.measured))
	}
	r.Total = o.c.opResult(opAll, o.measured)
	return r
}
