package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"
)

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// OpResult holds the measured figures of one operation (or "all").
type OpResult struct {
	Op             string           `json:"op"`
	Count          int64            `json:"count"`      // successful operations
	Throughput     float64          `json:"throughput"` // successful operations per second
	Latency        Latency          `json:"latencyMs"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errorsByStatus,omitempty"` // "503", "404", "net", "timeout", ...
}

// LagResult is the read-your-writes lag: the time from a create's answer
// until a query with minPosition=<its position> shows the comment. Each
// sample includes the round trip of that query, so it is an upper bound.
type LagResult struct {
	Samples int64   `json:"samples"`
	Failed  int64   `json:"failed"`  // the comment never showed up within the wait
	Dropped int64   `json:"dropped"` // not sampled because the sampler was busy
	Latency Latency `json:"latencyMs"`
}

// PointOp is one operation's figures over one progress interval.
type PointOp struct {
	Rate   float64 `json:"rate"` // successes per second
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50"` // ms
	P99    float64 `json:"p99"` // ms
}

// Point is one progress interval (about a second) of a run.
type Point struct {
	T      float64            `json:"t"` // seconds since the start of the run, warm-up included
	Warmup bool               `json:"warmup"`
	Ops    map[string]PointOp `json:"ops"` // by operation name, plus "all"
}

// Result is the outcome of one load run or ceiling.
type Result struct {
	Name     string     `json:"name"`
	Kind     string     `json:"kind"` // "load" or "ceiling"
	Target   string     `json:"target"`
	Mode     string     `json:"mode"`
	Conns    int        `json:"conns"`
	Rate     float64    `json:"rate,omitempty"` // open loop: intended requests per second
	Warmup   float64    `json:"warmupSec"`
	Duration float64    `json:"durationSec"`
	Workload *Workload  `json:"workload,omitempty"`
	Started  time.Time  `json:"started"`
	Ops      []OpResult `json:"ops"`
	Total    OpResult   `json:"total"`
	// Unsent counts open-loop send slots the workers never reached before the end.
	Unsent int64      `json:"unsent,omitempty"`
	RYW    *LagResult `json:"readYourWrites,omitempty"`
	Series []Point    `json:"series"`
}

// Op returns the figures of the named operation (zero when absent).
func (r *Result) Op(name string) OpResult {
	for _, o := range r.Ops {
		if o.Op == name {
			return o
		}
	}
	return OpResult{Op: name}
}

// Comparison puts a figure beside its ceiling.
type Comparison struct {
	Name    string  `json:"name"`
	Figure  float64 `json:"figure"`
	Ceiling float64 `json:"ceiling"`
	Unit    string  `json:"unit"`
	Ratio   float64 `json:"ratio"`
	Target  float64 `json:"target,omitempty"` // minimum ratio aimed for; 0: none
	Met     *bool   `json:"met,omitempty"`
}

// Check is a figure against an absolute limit (a latency target).
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	Met   bool    `json:"met"`
}

// HostInfo describes the machine the figures were measured on.
type HostInfo struct {
	Hostname   string `json:"hostname"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	NumCPU     int    `json:"numCPU"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"goVersion"`
}

// Report is everything one invocation measured.
type Report struct {
	Title       string       `json:"title"`
	Generated   time.Time    `json:"generated"`
	Host        HostInfo     `json:"host"`
	Runs        []*Result    `json:"runs"`
	Comparisons []Comparison `json:"comparisons"`
	Checks      []Check      `json:"checks"`
}

// NewReport returns an empty report stamped with the host and the time.
func NewReport(title string) *Report {
	h, _ := os.Hostname()
	return &Report{
		Title:     title,
		Generated: time.Now().UTC(),
		Host: HostInfo{Hostname: h, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(),
			GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()},
	}
}

// Compare appends a comparison of figure against ceiling (target: minimum
// ratio, 0 for none) and returns it.
func (r *Report) Compare(name string, figure, ceiling float64, unit string, target float64) Comparison {
	c := Comparison{Name: name, Figure: figure, Ceiling: ceiling, Unit: unit, Target: target}
	if ceiling > 0 {
		c.Ratio = figure / ceiling
	}
	if target > 0 {
		met := c.Ratio >= target
		c.Met = &met
	}
	r.Comparisons = append(r.Comparisons, c)
	return c
}

// Limit appends a check that value stays below limit and returns it.
func (r *Report) Limit(name string, value, limit float64, unit string) Check {
	c := Check{Name: name, Value: value, Limit: limit, Unit: unit, Met: value < limit}
	r.Checks = append(r.Checks, c)
	return c
}

// WriteJSON writes the report to path, indented.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: decode report %s: %w", path, err)
	}
	return &r, nil
}
