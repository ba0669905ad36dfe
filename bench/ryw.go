package bench

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

const (
	rywWorkers  = 4
	rywDeadline = 15 * time.Second
)

// rywJob is one create whose visibility is to be timed.
type rywJob struct {
	at       time.Time // when the create's answer arrived
	k        known
	position uint64
}

// rywSampler measures the read-your-writes lag of sampled creates: the time
// from a create's answer until GET of that comment with minPosition=<its
// position> answers 200. It runs beside the workers on its own connections,
// drops samples rather than slowing the workers down, and hands every
// sampled comment to the pool once it is done.
type rywSampler struct {
	t       *target
	sh      *shared
	jobs    chan rywJob
	wg      sync.WaitGroup
	dropped atomic.Int64

	mu      sync.Mutex
	hist    *hdr.Histogram
	samples int64
	failed  int64
}

func startRYW(t *target, sh *shared) *rywSampler {
	s := &rywSampler{t: t, sh: sh, jobs: make(chan rywJob, 1024), hist: newHist()}
	for i := range rywWorkers {
		s.wg.Add(1)
		go s.loop(i)
	}
	return s
}

// submit queues a job; false when the sampler is busy (the sample is dropped).
func (s *rywSampler) submit(j rywJob) bool {
	select {
	case s.jobs <- j:
		return true
	default:
		s.dropped.Add(1)
		return false
	}
}

// stop waits for the queued samples and returns the figures. No submit may
// follow.
func (s *rywSampler) stop() *LagResult {
	close(s.jobs)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return &LagResult{Samples: s.samples, Failed: s.failed, Dropped: s.dropped.Load(), Latency: latencyOf(s.hist)}
}

func (s *rywSampler) loop(i int) {
	defer s.wg.Done()
	w := newHTTPWorker(s.t, s.sh, uint64(time.Now().UnixNano()), 1_000_000+i)
	defer w.release()
	for j := range s.jobs {
		lag, ok := w.awaitVisible(j)
		s.mu.Lock()
		if ok {
			s.samples++
			recordHist(s.hist, lag)
		} else {
			s.failed++
		}
		s.mu.Unlock()
		s.sh.pool.add(j.k, w.r)
	}
}

// awaitVisible polls the comment with minPosition until it is shown.
func (w *httpWorker) awaitVisible(j rywJob) (time.Duration, bool) {
	w.commentsURI(j.k.picture, j.k.id)
	w.uri = append(w.uri, "?minPosition="...)
	w.uri = strconv.AppendUint(w.uri, j.position, 10)
	w.uri = append(w.uri, "&wait=5s"...)
	for time.Since(j.at) < rywDeadline {
		o := w.send(OpGet, fasthttp.MethodGet, -1)
		switch {
		case o.ok():
			return time.Since(j.at), true
		case o.err == nil && o.status == fasthttp.StatusServiceUnavailable: // stale or busy: ask again
			time.Sleep(5 * time.Millisecond)
		default:
			return 0, false
		}
	}
	return 0, false
}
