package actors

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/comment"
)

// Command type labels, indexed by commandType.
var commandTypes = [...]string{"create", "update", "delete", "unknown"}

func commandType(cmd comment.Command) int {
	switch cmd.(type) {
	case comment.Create:
		return 0
	case comment.UpdateText:
		return 1
	case comment.Delete:
		return 2
	}
	return 3
}

// outcomeOK is the code label of a successful command.
const outcomeOK = "ok"

var knownCodes = []comment.Code{
	comment.CodeInvalidArgument, comment.CodeUnauthenticated, comment.CodeForbidden, comment.CodeNotFound,
	comment.CodeMethodNotAllowed, comment.CodeConflict, comment.CodeGone, comment.CodePreconditionFailed,
	comment.CodePayloadTooLarge, comment.CodeUnsupportedMediaType, comment.CodeOverloaded, comment.CodeStale,
	comment.CodeNotReady, comment.CodeInternal,
}

// metrics are the System's Prometheus collectors. The per-command counters
// and observers are resolved once, so the hot path does no label lookup.
type metrics struct {
	live       prometheus.Gauge
	passivated prometheus.Counter
	evicted    prometheus.Counter
	commandVec *prometheus.CounterVec
	commands   [len(commandTypes)]map[comment.Code]prometheus.Counter
	durations  [len(commandTypes)]prometheus.Observer
}

func newMetrics(s *System, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		live: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "commentd_actors_live", Help: "Comment actors currently alive.",
		}),
		passivated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commentd_actors_passivated_total", Help: "Comment actors stopped for being idle.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commentd_actors_evicted_total", Help: "Comment actors stopped to keep the live ones within --max-actors.",
		}),
		commandVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_commands_total", Help: "Commands answered, by type and outcome code (ok on success).",
		}, []string{"type", "code"}),
	}
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "commentd_command_duration_seconds",
		Help:    "Time from Send to its answer.",
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16),
	}, []string{"type"})
	for i, typ := range commandTypes {
		m.durations[i] = durations.WithLabelValues(typ)
		m.commands[i] = make(map[comment.Code]prometheus.Counter, len(knownCodes)+1)
		m.commands[i][outcomeOK] = m.commandVec.WithLabelValues(typ, outcomeOK)
		for _, c := range knownCodes {
			m.commands[i][c] = m.commandVec.WithLabelValues(typ, string(c))
		}
	}
	collectors := []prometheus.Collector{
		m.live, m.passivated, m.evicted, m.commandVec, durations,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_commands_in_flight", Help: "Commands admitted and not yet answered.",
		}, func() float64 { return float64(s.inflight.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_projection_position", Help: "Last log position applied to the read model.",
		}, func() float64 { return float64(s.cfg.ReadModel.Position()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_projection_lag_events", Help: "Events committed to the log and not yet applied to the read model.",
		}, func() float64 { return float64(s.lagEvents()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_projection_lag_seconds", Help: "Age of the newest applied event while behind the log; 0 when caught up.",
		}, func() float64 { return s.lagSeconds(time.Now()).Seconds() }),
	}
	if reg != nil {
		for _, c := range collectors {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("actors: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// observe counts one answered command.
func (m *metrics) observe(typ int, err error, d time.Duration) {
	code := comment.Code(outcomeOK)
	if err != nil {
		code = comment.ErrorCode(err)
	}
	c, ok := m.commands[typ][code]
	if !ok {
		c = m.commandVec.WithLabelValues(commandTypes[typ], string(code))
	}
	c.Inc()
	m.durations[typ].Observe(d.Seconds())
}

// lagEvents is how many committed events the projection has yet to apply.
func (s *System) lagEvents() uint64 {
	last, applied := s.cfg.Store.LastPosition(), s.cfg.ReadModel.Position()
	if last <= applied {
		return 0
	}
	return last - applied
}

// lagSeconds is now minus the commit time of the newest applied event while
// the projection is behind, 0 when it is caught up.
func (s *System) lagSeconds(now time.Time) time.Duration {
	if s.lagEvents() == 0 {
		return 0
	}
	at := s.proj.lastAt.Load()
	if at == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, at)), 0)
}
