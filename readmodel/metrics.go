package readmodel

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// register registers the model's collectors on reg; Close unregisters them.
func (m *Model) register(reg prometheus.Registerer) error {
	c := m.cache
	collectors := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "commentd_cache_hits_total",
			Help: "Queries answered from the in-memory index.",
		}, func() float64 { h, _ := c.counts(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "commentd_cache_misses_total",
			Help: "Queries that had to read the read store.",
		}, func() float64 { _, mi := c.counts(); return float64(mi) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "commentd_cache_evictions_total",
			Help: "Pictures evicted from the in-memory index.",
		}, func() float64 { return float64(c.evictions.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_cache_bytes",
			Help: "Approximate bytes held by the in-memory index.",
		}, func() float64 { return float64(c.bytes.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_cache_pictures",
			Help: "Pictures held by the in-memory index.",
		}, func() float64 { return float64(c.pictures.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "commentd_readmodel_position",
			Help: "Position of the last event applied to the read model.",
		}, func() float64 { return float64(m.pos.Load()) }),
		newPebbleCollector("readmodel", m.metrics),
	}
	for i, col := range collectors {
		if err := reg.Register(col); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("readmodel: register metrics: %w", err)
		}
	}
	m.reg = reg
	m.opened = collectors
	return nil
}

// metrics returns Pebble's metrics, or nil once the model is closed.
func (m *Model) metrics() *pebble.Metrics {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.closed {
		return nil
	}
	return m.db.Metrics()
}

// pebbleCollector exports a few of Pebble's metrics, labelled with the
// database they describe. The names and help texts are those of the event
// store's collector (db="events"), so both databases share the metric
// families on one registry; the registry refuses the same name with another
// help text, so keep them in step.
type pebbleCollector struct {
	metrics      func() *pebble.Metrics
	walBytes     *prometheus.Desc
	compactions  *prometheus.Desc
	flushes      *prometheus.Desc
	readAmp      *prometheus.Desc
	memtableSize *prometheus.Desc
	diskUsage    *prometheus.Desc
}

func newPebbleCollector(db string, metrics func() *pebble.Metrics) *pebbleCollector {
	l := prometheus.Labels{"db": db}
	d := func(n, help string) *prometheus.Desc { return prometheus.NewDesc(n, help, nil, l) }
	return &pebbleCollector{
		metrics:      metrics,
		walBytes:     d("commentd_pebble_wal_bytes_written_total", "Bytes written to the Pebble WAL."),
		compactions:  d("commentd_pebble_compactions_total", "Pebble compactions."),
		flushes:      d("commentd_pebble_flushes_total", "Pebble memtable flushes."),
		readAmp:      d("commentd_pebble_read_amplification", "Pebble read amplification (sublevels and levels a read may visit)."),
		memtableSize: d("commentd_pebble_memtable_size_bytes", "Bytes allocated by Pebble memtables."),
		diskUsage:    d("commentd_pebble_disk_usage_bytes", "Bytes on disk used by the Pebble database."),
	}
}

func (c *pebbleCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.walBytes, c.compactions, c.flushes, c.readAmp, c.memtableSize, c.diskUsage}
}

// Describe implements prometheus.Collector.
func (c *pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A closed model reports nothing.
func (c *pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.metrics()
	if m == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.walBytes, prometheus.CounterValue, float64(m.WAL.BytesWritten))
	ch <- prometheus.MustNewConstMetric(c.compactions, prometheus.CounterValue, float64(m.Compact.Count))
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(m.Flush.Count))
	ch <- prometheus.MustNewConstMetric(c.readAmp, prometheus.GaugeValue, float64(m.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(c.memtableSize, prometheus.GaugeValue, float64(m.MemTable.Size))
	ch <- prometheus.MustNewConstMetric(c.diskUsage, prometheus.GaugeValue, float64(m.DiskSpaceUsage()))
}
