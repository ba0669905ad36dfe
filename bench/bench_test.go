package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testSecret = "test-secret"

func quickOptions(target string, wl Workload) Options {
	return Options{Name: "test", Target: target, Secret: []byte(testSecret), Workload: wl, Mode: Closed,
		Conns: 4, Duration: 400 * time.Millisecond, Seed: 1}
}

func TestClosedLoopCountsEveryOperation(t *testing.T) {
	f := newFake(testSecret)
	opts := quickOptions(f.start(t), Workload{
		Mix:      Mix{Create: 20, Update: 10, Delete: 5, List: 50, Get: 15},
		Pictures: 10, Users: 5, Preload: 20,
	})
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for op := OpCreate; op <= OpGet; op++ {
		o := res.Op(op.String())
		if o.Count == 0 {
			t.Errorf("%s: no successful operation", op)
		}
		if o.Errors != 0 {
			t.Errorf("%s: errors %v", op, o.ErrorsByStatus)
		}
		want := f.byOp[op].Load()
		if op == OpCreate {
			want -= 20 // the preload
		}
		if got := o.Count + o.Errors; got != want {
			t.Errorf("%s: measured %d operations, the server saw %d", op, got, want)
		}
		total += o.Count
	}
	if res.Total.Count != total {
		t.Errorf("total %d, want the sum of the operations %d", res.Total.Count, total)
	}
	if frac := float64(res.Op("list").Count) / float64(total); frac < 0.3 || frac > 0.7 {
		t.Errorf("list share %.2f, want about 0.5", frac)
	}
	if len(res.Series) == 0 {
		t.Error("no progress series")
	}
	if l := res.Op("list").Latency; l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("list latency %+v: percentiles out of order", l)
	}
}

func TestOpenLoopSendsTheSchedule(t *testing.T) {
	f := newFake(testSecret)
	opts := quickOptions(f.start(t), Workload{Mix: Mix{List: 100}})
	opts.Mode, opts.Rate, opts.Duration, opts.Warmup = Open, 400, 500*time.Millisecond, 0
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	l := res.Op("list")
	if got := l.Count + l.Errors + res.Unsent; got != 200 {
		t.Errorf("sent %d + unsent %d = %d, want the 200 scheduled", l.Count+l.Errors, res.Unsent, got)
	}
	if seen := f.byOp[OpList].Load(); seen != l.Count+l.Errors {
		t.Errorf("server saw %d lists, measured %d", seen, l.Count+l.Errors)
	}
	if res.Rate != 400 || res.Mode != "open" {
		t.Errorf("rate %v mode %q", res.Rate, res.Mode)
	}
}

// A server that stalls for 300 ms once: the closed loop records one or two
// slow answers, the open loop records every request the stall delayed.
func TestOpenLoopCorrectsCoordinatedOmission(t *testing.T) {
	run := func(mode Mode) *Result {
		f := newFake(testSecret)
		f.stallAt, f.stall = 50, 300*time.Millisecond
		opts := quickOptions(f.start(t), Workload{Mix: Mix{List: 100}})
		opts.Conns, opts.Duration, opts.Mode, opts.Rate = 2, 800*time.Millisecond, mode, 400
		res, err := Run(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total.Latency.Max < 300 {
			t.Errorf("%s loop: max %.1f ms, want the 300 ms stall", mode, res.Total.Latency.Max)
		}
		return res
	}
	closed, open := run(Closed), run(Open)
	if p := closed.Total.Latency.P90; p >= 100 {
		t.Errorf("closed loop p90 %.1f ms: the stall should hide behind few samples", p)
	}
	if p := open.Total.Latency.P90; p < 100 {
		t.Errorf("open loop p90 %.1f ms, want >= 100 ms: the requests delayed by the stall are not counted", p)
	}
	t.Logf("p90 closed %.2f ms, open %.2f ms", closed.Total.Latency.P90, open.Total.Latency.P90)
}

func TestZipfPopularity(t *testing.T) {
	wl := Workload{Pictures: 100}
	wl.setDefaults()
	z := wl.newZipf(rand.New(rand.NewPCG(1, 2)))
	counts := make([]int, wl.Pictures)
	for range 20000 {
		i := z.Uint64()
		if i >= uint64(wl.Pictures) {
			t.Fatalf("pick %d out of range", i)
		}
		counts[i]++
	}
	if !(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[90]) {
		t.Errorf("counts not decreasing with rank: %d %d %d %d", counts[0], counts[1], counts[10], counts[90])
	}

	f := newFake(testSecret)
	opts := quickOptions(f.start(t), Workload{Mix: Mix{List: 100}, Pictures: 50, Prefix: "z"})
	opts.Duration = 300 * time.Millisecond
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if top, tail := f.listed["z-p0"], f.listed["z-p40"]; top <= tail || top == 0 {
		t.Errorf("lists of the top picture %d, of rank 40 %d: want Zipf popularity", top, tail)
	}
}

func TestReadYourWritesLag(t *testing.T) {
	f := newFake(testSecret)
	f.lag = 30 * time.Millisecond
	opts := quickOptions(f.start(t), Workload{Mix: Mix{Create: 50, Get: 50}, RYWEvery: 1})
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.RYW == nil || res.RYW.Samples == 0 {
		t.Fatalf("no read-your-writes samples: %+v", res.RYW)
	}
	if res.RYW.Failed != 0 {
		t.Errorf("%d samples failed", res.RYW.Failed)
	}
	if p := res.RYW.Latency.P50; p < 30 {
		t.Errorf("lag p50 %.2f ms, want at least the server's 30 ms", p)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	f := newFake(testSecret)
	url := f.start(t)
	for name, mod := range map[string]func(*Options){
		"empty mix":      func(o *Options) { o.Workload.Mix = Mix{} },
		"no conns":       func(o *Options) { o.Conns = 0 },
		"open no rate":   func(o *Options) { o.Mode = Open },
		"bad target":     func(o *Options) { o.Target = "ftp://x" },
		"writes no auth": func(o *Options) { o.Secret = nil },
	} {
		t.Run(name, func(t *testing.T) {
			o := quickOptions(url, Workload{Mix: Mix{Create: 1}})
			mod(&o)
			if _, err := Run(context.Background(), o); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestCeilings(t *testing.T) {
	opts := quickOptions("", Workload{})
	opts.Duration = 300 * time.Millisecond
	body := []byte(`{"pictureId":"p","comments":[],"next":null}`)

	h, err := CeilingHTTP(context.Background(), opts, body, "7")
	if err != nil {
		t.Fatal(err)
	}
	hp, err := CeilingHTTPPebble(context.Background(), opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := CeilingPebble(context.Background(), opts, t.TempDir(), 80)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		res *Result
		op  string
	}{{h, "list"}, {hp, "create"}, {pb, "commit"}} {
		o := c.res.Op(c.op)
		if o.Throughput <= 0 || o.Errors != 0 || c.res.Kind != "ceiling" {
			t.Errorf("%s: %s throughput %.0f, errors %v, kind %q", c.res.Name, c.op, o.Throughput, o.ErrorsByStatus, c.res.Kind)
		}
		t.Logf("%s: %.0f %s/s", c.res.Name, o.Throughput, c.op)
	}
}

func TestCeilingHTTPAnswersTheSameBytes(t *testing.T) {
	body := []byte(`{"pictureId":"p1","comments":[{"id":"c1"}],"next":null}`)
	srv, err := startFastServer(bytesHandler(body, "7"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	got, pos, err := FetchList(srv.url, "p1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) || pos != "7" {
		t.Errorf("got %s at %q, want %s at 7", got, pos, body)
	}
}

func TestSpawnStartsAndStopsAServer(t *testing.T) {
	srv, err := Spawn(context.Background(), SpawnOptions{Path: os.Args[0], Env: []string{"BENCH_FAKE_COMMENTD=1"},
		ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.DataDir
	if string(srv.Secret) != "spawned-secret" {
		t.Errorf("secret %q", srv.Secret)
	}
	opts := quickOptions(srv.URL, Workload{Mix: Mix{Create: 50, List: 50}})
	opts.Secret, opts.Duration = srv.Secret, 200*time.Millisecond
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Op("create").Count == 0 || res.Total.Errors != 0 {
		t.Errorf("against the spawned server: %+v", res.Ops)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data dir left behind: %v", err)
	}
}

func TestScenariosWriteReports(t *testing.T) {
	f := newFake(testSecret)
	cfg := ScenarioConfig{Target: f.start(t), Secret: []byte(testSecret), Conns: 4, Duration: 200 * time.Millisecond,
		Users: 3, Pictures: 5, Preload: 10, CeilingDir: t.TempDir(), Seed: 3}
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := RunScenarios(context.Background(), cfg, ScenarioAll)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Runs {
		names = append(names, r.Name)
	}
	want := "list-cached,ceiling http,create,ceiling http+pebble,ceiling pebble,mix-max,mix"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("runs %s, want %s", got, want)
	}
	if len(rep.Comparisons) != 4 || len(rep.Checks) != 2 {
		t.Errorf("%d comparisons, %d checks: %+v %+v", len(rep.Comparisons), len(rep.Checks), rep.Comparisons, rep.Checks)
	}
	for _, c := range rep.Comparisons {
		if c.Figure <= 0 || c.Ceiling <= 0 || c.Ratio <= 0 {
			t.Errorf("comparison %+v has an empty figure", c)
		}
	}
	if !strings.Contains(progress.String(), "ops/s") {
		t.Errorf("no progress lines: %q", progress.String())
	}

	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "result.json"), filepath.Join(dir, "report.html")
	if err := rep.WriteJSON(jsonPath); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != len(rep.Runs) || back.Runs[0].Op("list").Count != rep.Runs[0].Op("list").Count ||
		back.Comparisons[0].Ratio != rep.Comparisons[0].Ratio {
		t.Errorf("JSON round trip lost figures")
	}
	if err := rep.WriteHTMLFile(htmlPath); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(html, []byte("<svg")); n != 3*len(rep.Runs) {
		t.Errorf("%d plots, want %d", n, 3*len(rep.Runs))
	}
	for _, s := range []string{"</html>", "ceiling http+pebble", "read-your-writes", "list-cached list/s vs http ceiling"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("report lacks %q", s)
		}
	}
	if bytes.Contains(html, []byte("<?xml")) {
		t.Error("report embeds an XML prolog")
	}
	var sum bytes.Buffer
	if err := rep.WriteSummary(&sum); err != nil || !strings.Contains(sum.String(), "ratio") {
		t.Errorf("summary %q, %v", sum.String(), err)
	}
}

func TestReportOfAnEmptyRun(t *testing.T) {
	rep := NewReport("empty")
	rep.Runs = append(rep.Runs, &Result{Name: "nothing", Kind: "load"})
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "nothing") {
		t.Error("run missing from the report")
	}
}

func TestRoundsAlternateRunsAndCeilings(t *testing.T) {
	f := newFake(testSecret)
	cfg := ScenarioConfig{Target: f.start(t), Secret: []byte(testSecret), Conns: 2, Duration: 100 * time.Millisecond,
		Preload: 5, Rounds: 3, CeilingDir: t.TempDir()}
	rep, err := RunScenarios(context.Background(), cfg, ScenarioListCached)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Runs {
		names = append(names, r.Name)
	}
	want := "list-cached #1,ceiling http #1,list-cached #2,ceiling http #2,list-cached #3,ceiling http #3"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("runs %s, want %s", got, want)
	}
	if f.byOp[OpCreate].Load() != 5 {
		t.Errorf("%d creates, want the preload of 5 once", f.byOp[OpCreate].Load())
	}
	if len(rep.Comparisons) != 1 || !strings.Contains(rep.Comparisons[0].Name, "medians of 3") {
		t.Errorf("comparisons %+v", rep.Comparisons)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
