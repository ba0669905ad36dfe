package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the store's collectors, registered on Options.Registerer and
// unregistered by Close.
type metrics struct {
	reg                                                         prometheus.Registerer
	collectors                                                  []prometheus.Collector
	duration                                                    prometheus.Histogram
	batchRecords                                                prometheus.Histogram
	ok, conflict, overloaded, closed, failed, canceled, invalid prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	appends := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "commentd_store_appends_total",
		Help: "Appends to the event log by result (ok, conflict, overloaded, closed, failed, canceled, invalid).",
	}, []string{"result"})
	m := &metrics{
		reg: reg,
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commentd_store_append_duration_seconds",
			Help:    "Time from Append to its answer, durable appends included.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commentd_store_batch_records",
			Help:    "Records per group-commit batch (one fsync each).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		ok:         appends.WithLabelValues("ok"),
		conflict:   appends.WithLabelValues("conflict"),
		overloaded: appends.WithLabelValues("overloaded"),
		closed:     appends.WithLabelValues("closed"),
		failed:     appends.WithLabelValues("failed"),
		canceled:   appends.WithLabelValues("canceled"),
		invalid:    appends.WithLabelValues("invalid"),
	}
	last := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "commentd_store_last_position",
		Help: "Newest durable position of the event log.",
	}, func() float64 { return float64(s.LastPosition()) })
	pc := newPebbleCollector(s.db, "events", s.acquire, s.release)
	for _, c := range []prometheus.Collector{m.duration, m.batchRecords, appends, last, pc} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("store: register metrics: %w", err)
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}

func (m *metrics) observeAppend(start time.Time, err error) {
	m.duration.Observe(time.Since(start).Seconds())
	var c prometheus.Counter
	switch {
	case err == nil:
		c = m.ok
	case errors.Is(err, ErrVersionConflict):
		c = m.conflict
	case errors.Is(err, ErrOverloaded):
		c = m.overloaded
	case errors.Is(err, ErrClosed):
		c = m.closed
	case errors.Is(err, ErrFailed):
		c = m.failed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		c = m.canceled
	default:
		c = m.invalid
	}
	c.Inc()
}

// pebbleCollector exports a few Pebble metrics of one database, labelled
// db=<name>. It reads db.Metrics at scrape time, holding the store open.
type pebbleCollector struct {
	db           *pebble.DB
	acquire      func() error
	release      func()
	walBytes     *prometheus.Desc
	walSyncs     *prometheus.Desc
	compactions  *prometheus.Desc
	flushes      *prometheus.Desc
	readAmp      *prometheus.Desc
	memtableSize *prometheus.Desc
	diskUsage    *prometheus.Desc
}

func newPebbleCollector(db *pebble.DB, name string, acquire func() error, release func()) *pebbleCollector {
	l := prometheus.Labels{"db": name}
	d := func(n, help string) *prometheus.Desc { return prometheus.NewDesc(n, help, nil, l) }
	return &pebbleCollector{
		db: db, acquire: acquire, release: release,
		walBytes:     d("commentd_pebble_wal_bytes_written_total", "Bytes written to the Pebble WAL."),
		walSyncs:     d("commentd_pebble_wal_syncs_total", "Pebble WAL fsyncs."),
		compactions:  d("commentd_pebble_compactions_total", "Pebble compactions."),
		flushes:      d("commentd_pebble_flushes_total", "Pebble memtable flushes."),
		readAmp:      d("commentd_pebble_read_amplification", "Pebble read amplification (sublevels and levels a read may visit)."),
		memtableSize: d("commentd_pebble_memtable_size_bytes", "Bytes allocated by Pebble memtables."),
		diskUsage:    d("commentd_pebble_disk_usage_bytes", "Bytes on disk used by the Pebble database."),
	}
}

// Describe implements prometheus.Collector.
func (c *pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.walBytes, c.walSyncs, c.compactions, c.flushes, c.readAmp, c.memtableSize, c.diskUsage} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	if c.acquire() != nil {
		return
	}
	m := c.db.Metrics()
	c.release()
	ch <- prometheus.MustNewConstMetric(c.walBytes, prometheus.CounterValue, float64(m.WAL.BytesWritten))
	if h := m.LogWriter.FsyncLatency; h != nil {
		var pb dto.Metric
		if h.Write(&pb) == nil && pb.Histogram != nil {
			ch <- prometheus.MustNewConstMetric(c.walSyncs, prometheus.CounterValue, float64(pb.Histogram.GetSampleCount()))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.compactions, prometheus.CounterValue, float64(m.Compact.Count))
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(m.Flush.Count))
	ch <- prometheus.MustNewConstMetric(c.readAmp, prometheus.GaugeValue, float64(m.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(c.memtableSize, prometheus.GaugeValue, float64(m.MemTable.Size))
	ch <- prometheus.MustNewConstMetric(c.diskUsage, prometheus.GaugeValue, float64(m.DiskSpaceUsage()))
}
