package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The scenarios RunScenarios knows.
const (
	ScenarioListCached = "list-cached" // preload a picture, closed-loop list queries vs the http ceiling
	ScenarioCreate     = "create"      // durable creates vs the http+pebble and pebble ceilings
	ScenarioMix        = "mix"         // 90/10 read/write, open loop at a rate; p99 and read-your-writes lag
	ScenarioCustom     = "custom"      // the workload, mode and ceilings of the config as given
	ScenarioCeilings   = "ceilings"    // the three ceilings alone, no server needed (http answers a synthetic list)
	ScenarioAll        = "all"         // list-cached, create and mix
)

// Scenarios lists the scenario names, "all" included.
var Scenarios = []string{ScenarioListCached, ScenarioCreate, ScenarioMix, ScenarioCustom, ScenarioCeilings, ScenarioAll}

// ScenarioConfig holds what the scenarios share. Zero fields take the
// scenario's default.
type ScenarioConfig struct {
	Target   string
	Secret   []byte
	Conns    int           // 0: 64
	Rate     float64       // mix and open-loop custom runs; 0 for mix: half of the closed-loop maximum, measured first
	Warmup   time.Duration // 0: none
	Duration time.Duration // 0: 10s
	Timeout  time.Duration

	Users     int     // 0: 100
	Pictures  int     // 0: 1000 (list-cached always uses one picture)
	ZipfS     float64 // 0: 1.1
	Preload   int     // 0: 100 for list-cached, 1000 for mix, none otherwise
	ListLimit int     // 0: the server's default
	TextSize  int     // 0: 64
	RYWEvery  int     // 0: 10 for mix

	Mix      Mix      // custom only
	Mode     Mode     // custom only; "": closed
	Ceilings []string // custom only: any of http, http+pebble, pebble

	// Rounds alternates the load run of list-cached and create with their
	// ceilings this many times, so that a drifting machine load hits both
	// alike; comparisons use the medians. 0: 1.
	Rounds int
	// NoCeilings skips the ceilings (and so the comparisons).
	NoCeilings bool
	// CeilingDir holds the ceilings' scratch Pebble databases; "": the temporary directory.
	CeilingDir string
	Progress   io.Writer
	Seed       uint64
}

func (c ScenarioConfig) withDefaults() ScenarioConfig {
	if c.Conns <= 0 {
		c.Conns = 64
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Users <= 0 {
		c.Users = 100
	}
	if c.Pictures <= 0 {
		c.Pictures = 1000
	}
	if c.TextSize <= 0 {
		c.TextSize = 64
	}
	if c.Mode == "" {
		c.Mode = Closed
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	return c
}

func (c ScenarioConfig) options(name string, wl Workload, mode Mode, rate float64) Options {
	wl.ZipfS, wl.TextSize, wl.ListLimit = c.ZipfS, c.TextSize, c.ListLimit
	return Options{Name: name, Target: c.Target, Secret: c.Secret, Workload: wl, Mode: mode, Conns: c.Conns,
		Rate: rate, Warmup: c.Warmup, Duration: c.Duration, Timeout: c.Timeout, Progress: c.Progress, Seed: c.Seed}
}

// RunScenarios runs the named scenarios one after the other and returns
// their runs, ceilings, comparisons and checks in one report. On error the
// report holds what was measured until then.
func RunScenarios(ctx context.Context, cfg ScenarioConfig, names ...string) (*Report, error) {
	cfg = cfg.withDefaults()
	var expanded []string
	for _, n := range names {
		switch n {
		case ScenarioAll:
			expanded = append(expanded, ScenarioListCached, ScenarioCreate, ScenarioMix)
		case ScenarioListCached, ScenarioCreate, ScenarioMix, ScenarioCustom, ScenarioCeilings:
			expanded = append(expanded, n)
		default:
			return nil, fmt.Errorf("bench: unknown scenario %q (want one of %s)", n, strings.Join(Scenarios, ", "))
		}
	}
	rep := NewReport("commentd benchmark: " + strings.Join(names, ", "))
	for _, n := range expanded {
		var err error
		switch n {
		case ScenarioListCached:
			err = listCached(ctx, cfg, rep)
		case ScenarioCreate:
			err = creates(ctx, cfg, rep)
		case ScenarioMix:
			err = mix(ctx, cfg, rep)
		case ScenarioCustom:
			err = custom(ctx, cfg, rep)
		case ScenarioCeilings:
			err = ceilingsOnly(ctx, cfg, rep)
		}
		if err != nil {
			return rep, fmt.Errorf("bench: scenario %s: %w", n, err)
		}
	}
	return rep, nil
}

func (r *Report) add(res *Result) *Result {
	if res != nil {
		r.Runs = append(r.Runs, res)
	}
	return res
}

func listCached(ctx context.Context, cfg ScenarioConfig, rp *Report) error {
	wl := Workload{Mix: Mix{List: 100}, Pictures: 1, Users: cfg.Users, Preload: cfg.Preload}
	if wl.Preload <= 0 {
		wl.Preload = 100
	}
	var figs, ceils []float64
	for i := range cfg.Rounds {
		res, err := Run(ctx, cfg.options(roundName(ScenarioListCached, i, cfg.Rounds), wl, Closed, 0))
		if rp.add(res); err != nil {
			return err
		}
		wl.Preload, wl.Prefix = 0, res.Workload.Prefix // the next rounds read the same picture
		if cfg.NoCeilings {
			continue
		}
		ceil, err := httpCeiling(ctx, cfg, res, roundName("ceiling "+CeilingNameHTTP, i, cfg.Rounds))
		if rp.add(ceil); err != nil {
			return err
		}
		figs = append(figs, res.Op("list").Throughput)
		ceils = append(ceils, ceil.Op("list").Throughput)
	}
	if len(figs) > 0 {
		rp.Compare("list-cached list/s vs http ceiling"+medianOf(cfg.Rounds), median(figs), median(ceils), "req/s", 0.8)
	}
	return nil
}

// roundName numbers the runs of a scenario repeated over several rounds.
func roundName(base string, i, rounds int) string {
	if rounds <= 1 {
		return base
	}
	return fmt.Sprintf("%s #%d", base, i+1)
}

func medianOf(rounds int) string {
	if rounds <= 1 {
		return ""
	}
	return fmt.Sprintf(" (medians of %d rounds)", rounds)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// httpCeiling measures the http ceiling with the body the target answers for
// the run's most popular picture.
func httpCeiling(ctx context.Context, cfg ScenarioConfig, res *Result, name string) (*Result, error) {
	body, pos, err := FetchList(cfg.Target, res.Workload.PictureID(0), res.Workload.ListLimit)
	if err != nil {
		return nil, err
	}
	wl := *res.Workload
	wl.Pictures = 1
	mode, rate := Mode(res.Mode), res.Rate
	return CeilingHTTP(ctx, cfg.options(name, wl, mode, rate), body, pos)
}

func creates(ctx context.Context, cfg ScenarioConfig, rp *Report) error {
	wl := Workload{Mix: Mix{Create: 100}, Pictures: cfg.Pictures, Users: cfg.Users, Preload: cfg.Preload}
	var cs, hps, pbs []float64
	for i := range cfg.Rounds {
		res, err := Run(ctx, cfg.options(roundName(ScenarioCreate, i, cfg.Rounds), wl, Closed, 0))
		if rp.add(res); err != nil {
			return err
		}
		wl.Preload = 0
		if cfg.NoCeilings {
			continue
		}
		hp, err := CeilingHTTPPebble(ctx, cfg.options(roundName("ceiling "+CeilingNameHTTPPebble, i, cfg.Rounds), wl, Closed, 0), cfg.CeilingDir)
		if rp.add(hp); err != nil {
			return err
		}
		pb, err := CeilingPebble(ctx, cfg.options(roundName("ceiling "+CeilingNamePebble, i, cfg.Rounds), wl, Closed, 0),
			cfg.CeilingDir, cfg.TextSize+len(`{"text":""}`))
		if rp.add(pb); err != nil {
			return err
		}
		cs = append(cs, res.Op("create").Throughput)
		hps = append(hps, hp.Op("create").Throughput)
		pbs = append(pbs, pb.Op("commit").Throughput)
	}
	if len(cs) > 0 {
		m := medianOf(cfg.Rounds)
		rp.Compare("create/s vs http+pebble ceiling"+m, median(cs), median(hps), "req/s", 0.6)
		rp.Compare("create/s vs pebble ceiling"+m, median(cs), median(pbs), "ops/s", 0)
		rp.Compare("http+pebble ceiling vs pebble ceiling"+m, median(hps), median(pbs), "ops/s", 0)
	}
	return nil
}

func mix(ctx context.Context, cfg ScenarioConfig, rp *Report) error {
	wl := Workload{Mix: Mix{List: 80, Get: 10, Create: 6, Update: 3, Delete: 1}, Pictures: cfg.Pictures,
		Users: cfg.Users, Preload: cfg.Preload, RYWEvery: cfg.RYWEvery}
	if wl.Preload <= 0 {
		wl.Preload = 1000
	}
	if wl.RYWEvery <= 0 {
		wl.RYWEvery = 10
	}
	rate := cfg.Rate
	if rate <= 0 {
		probe, err := Run(ctx, cfg.options("mix-max", wl, Closed, 0))
		if rp.add(probe); err != nil {
			return err
		}
		rate = probe.Total.Throughput / 2
		if rate < 1 {
			return fmt.Errorf("closed-loop maximum too low to derive a rate (%.1f/s)", probe.Total.Throughput)
		}
		wl.Preload = 0 // the probe's comments are there already
		wl.Prefix = probe.Workload.Prefix
	}
	res, err := Run(ctx, cfg.options(ScenarioMix, wl, Open, rate))
	if rp.add(res); err != nil {
		return err
	}
	rp.Limit(fmt.Sprintf("mix p99 at %.0f req/s (all operations)", rate), res.Total.Latency.P99, 5, "ms")
	if res.RYW != nil {
		rp.Limit("mix read-your-writes lag p99", res.RYW.Latency.P99, 20, "ms")
	}
	return nil
}

func custom(ctx context.Context, cfg ScenarioConfig, rp *Report) error {
	wl := Workload{Mix: cfg.Mix, Pictures: cfg.Pictures, Users: cfg.Users, Preload: cfg.Preload, RYWEvery: cfg.RYWEvery}
	res, err := Run(ctx, cfg.options(ScenarioCustom, wl, cfg.Mode, cfg.Rate))
	if rp.add(res); err != nil {
		return err
	}
	if cfg.NoCeilings {
		return nil
	}
	for _, name := range cfg.Ceilings {
		switch name {
		case CeilingNameHTTP:
			ceil, err := httpCeiling(ctx, cfg, res, "")
			if rp.add(ceil); err != nil {
				return err
			}
			rp.Compare("list/s vs http ceiling", res.Op("list").Throughput, ceil.Op("list").Throughput, "req/s", 0)
		case CeilingNameHTTPPebble:
			ceil, err := CeilingHTTPPebble(ctx, cfg.options("", wl, cfg.Mode, cfg.Rate), cfg.CeilingDir)
			if rp.add(ceil); err != nil {
				return err
			}
			rp.Compare("create/s vs http+pebble ceiling", res.Op("create").Throughput, ceil.Op("create").Throughput, "req/s", 0)
		case CeilingNamePebble:
			ceil, err := CeilingPebble(ctx, cfg.options("", wl, cfg.Mode, cfg.Rate), cfg.CeilingDir, cfg.TextSize+len(`{"text":""}`))
			if rp.add(ceil); err != nil {
				return err
			}
			rp.Compare("create/s vs pebble ceiling", res.Op("create").Throughput, ceil.Op("commit").Throughput, "ops/s", 0)
		default:
			return fmt.Errorf("unknown ceiling %q (want %s, %s or %s)", name, CeilingNameHTTP, CeilingNameHTTPPebble, CeilingNamePebble)
		}
	}
	return nil
}

func ceilingsOnly(ctx context.Context, cfg ScenarioConfig, rp *Report) error {
	n := cfg.ListLimit
	if n <= 0 {
		n = 50
	}
	wl := Workload{Pictures: cfg.Pictures, Users: cfg.Users}
	h, err := CeilingHTTP(ctx, cfg.options("", wl, Closed, 0), SyntheticList("p1", n, cfg.TextSize), "1")
	if rp.add(h); err != nil {
		return err
	}
	hp, err := CeilingHTTPPebble(ctx, cfg.options("", wl, Closed, 0), cfg.CeilingDir)
	if rp.add(hp); err != nil {
		return err
	}
	pb, err := CeilingPebble(ctx, cfg.options("", wl, Closed, 0), cfg.CeilingDir, cfg.TextSize+len(`{"text":""}`))
	if rp.add(pb); err != nil {
		return err
	}
	rp.Compare("http+pebble ceiling vs pebble ceiling", hp.Op("create").Throughput, pb.Op("commit").Throughput, "ops/s", 0)
	return nil
}

// SyntheticList returns a list response of n comments of textSize bytes
// each, in the exact shape commentd answers.
func SyntheticList(pictureID string, n, textSize int) []byte {
	at := "2026-11-26T10:00:00.123456789Z"
	text := strings.Repeat("x", max(textSize, 1))
	b := []byte(`{"pictureId":"` + pictureID + `","comments":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"c%06d","pictureId":%q,"author":"u%d","text":%q,"createdAt":%q,"updatedAt":%q,"version":1}`,
			i+1, pictureID, i%100, text, at, at)
	}
	return append(b, `],"next":null}`...)
}

// WriteSummary prints every run's figures and every comparison and check as
// plain-text tables.
func (r *Report) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\top\tok\tops/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\t")
	for _, res := range r.Runs {
		for _, o := range append(slices.Clone(res.Ops), res.Total) {
			if o.Op == "all" && len(res.Ops) == 1 {
				continue
			}
			l := o.Latency
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", res.Name, o.Op, o.Count,
				o.Throughput, l.P50, l.P90, l.P99, l.P999, l.Max, errText(o))
		}
		if res.RYW != nil {
			l := res.RYW.Latency
			fmt.Fprintf(tw, "%s\tryw-lag\t%d\t\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d failed, %d dropped\t\n", res.Name,
				res.RYW.Samples, l.P50, l.P90, l.P99, l.P999, l.Max, res.RYW.Failed, res.RYW.Dropped)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Comparisons) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "figure\tvalue\tceiling\tunit\tratio\ttarget\t")
		for _, c := range r.Comparisons {
			t := ""
			if c.Met != nil {
				t = fmt.Sprintf(">= %.2f %s", c.Target, map[bool]string{true: "met", false: "MISSED"}[*c.Met])
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%.2f\t%s\t\n", c.Name, c.Figure, c.Ceiling, c.Unit, c.Ratio, t)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(w)
		for _, c := range r.Checks {
			fmt.Fprintf(w, "%s: %.2f %s (limit < %.2f) %s\n", c.Name, c.Value, c.Unit, c.Limit,
				map[bool]string{true: "met", false: "MISSED"}[c.Met])
		}
	}
	return nil
}

func errText(o OpResult) string {
	if o.Errors == 0 {
		return "0"
	}
	var parts []string
	for k, v := range o.ErrorsByStatus {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d (%s)", o.Errors, strings.Join(parts, " "))
}
