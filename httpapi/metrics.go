package httpapi

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// statusSlots are the statuses the server answers, each with its own cached
// counter; anything else shares the last slot's lookup path.
var statusSlots = [...]int{200, 201, 400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 500, 503}

func statusSlot(status int) int {
	for i, s := range statusSlots {
		if s == status {
			return i
		}
	}
	return -1
}

// metrics holds the HTTP collectors and caches their children per route,
// method and status, so that the hot path does no label hashing.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rejected prometheus.Counter

	// counters[route][method][slot] and observers[route][method] are filled
	// on first use.
	counters  [numRoutes][numMethods][len(statusSlots)]atomic.Pointer[prometheus.Counter]
	observers [numRoutes][numMethods]atomic.Pointer[prometheus.Observer]
}

func newMetrics(reg prometheus.Registerer, openConns func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "commentd_http_request_duration_seconds",
			Help:    "Time from reading a request's headers to handing its response to the server, by route template and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commentd_http_connections_rejected_total",
			Help: "Connections answered 503 overloaded and closed because MaxConns were open.",
		}),
	}
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "commentd_http_connections_open",
		Help: "Open client connections.",
	}, openConns)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.rejected, conns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// The contract promises Go runtime and process metrics on /metrics. The
	// wiring may have registered them already; that is fine.
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

// observe records one served request.
func (m *metrics) observe(r route, meth method, status int, d time.Duration) {
	o := m.observers[r][meth].Load()
	if o == nil {
		obs := m.duration.WithLabelValues(routeTemplates[r], methodNames[meth])
		m.observers[r][meth].Store(&obs)
		o = &obs
	}
	(*o).Observe(d.Seconds())

	slot := statusSlot(status)
	if slot < 0 {
		m.requests.WithLabelValues(routeTemplates[r], methodNames[meth], strconv.Itoa(status)).Inc()
		return
	}
	c := m.counters[r][meth][slot].Load()
	if c == nil {
		cnt := m.requests.WithLabelValues(routeTemplates[r], methodNames[meth], strconv.Itoa(status))
		m.counters[r][meth][slot].Store(&cnt)
		c = &cnt
	}
	(*c).Inc()
}
