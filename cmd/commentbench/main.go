// Command commentbench measures a commentd server (or any server that
// implements its HTTP API) against ceilings measured in the same run, with
// the same client: see package bench.
//
//	commentbench --scenario all --spawn ./commentd --duration 10s
//	commentbench --scenario list-cached --target http://127.0.0.1:8080 --data ./data
//	commentbench --scenario custom --target URL --secret S --list 90 --create 10 --mode open --rate 5000
//	commentbench --scenario ceilings --duration 3s
//
// It prints a progress line every second and a summary with every figure
// beside its ceiling, and writes result.json and report.html into --out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/commentd/commentd/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "commentbench:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	scenario string
	spawn    string
	spawnLog bool
	secret   string
	data     string
	out      string
	quiet    bool
	ceilings string
	mode     string
	sc       bench.ScenarioConfig
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("commentbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.scenario, "scenario", bench.ScenarioAll, "scenario: "+strings.Join(bench.Scenarios, ", "))
	fs.StringVar(&c.sc.Target, "target", "", "base URL of a running server (e.g. http://127.0.0.1:8080)")
	fs.StringVar(&c.spawn, "spawn", "", "start the commentd binary at `PATH` with serve --addr 127.0.0.1:<free> --data <tmp> and measure it")
	fs.BoolVar(&c.spawnLog, "spawn-log", false, "show the spawned server's output")
	fs.StringVar(&c.secret, "secret", "", "the server's auth secret (default: $COMMENTS_AUTH_SECRET, else <data>/auth-secret)")
	fs.StringVar(&c.data, "data", "", "the server's data directory, to read its auth-secret")
	fs.StringVar(&c.out, "out", "", "directory for result.json and report.html (default results/<UTC time>)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")

	fs.IntVar(&c.sc.Conns, "conns", 64, "connections (workers); in open loop, the bound on requests in flight")
	fs.StringVar(&c.mode, "mode", "closed", "custom scenario: closed or open loop")
	fs.Float64Var(&c.sc.Rate, "rate", 0, "open loop: requests per second (mix: 0 = half of the measured closed-loop maximum)")
	fs.DurationVar(&c.sc.Duration, "duration", 10*time.Second, "measured duration of each run")
	fs.DurationVar(&c.sc.Warmup, "warmup", 2*time.Second, "warm-up before each run's measurement")
	fs.DurationVar(&c.sc.Timeout, "timeout", 15*time.Second, "per-request timeout")

	fs.IntVar(&c.sc.Users, "users", 100, "users (a token each)")
	fs.IntVar(&c.sc.Pictures, "pictures", 1000, "pictures, Zipf-distributed popularity (list-cached: 1)")
	fs.Float64Var(&c.sc.ZipfS, "zipf", 1.1, "Zipf exponent s (> 1)")
	fs.IntVar(&c.sc.Preload, "preload", 0, "comments created before each run (0: list-cached 100, mix 1000, others none)")
	fs.IntVar(&c.sc.ListLimit, "list-limit", 0, "limit of list queries (0: the server's default)")
	fs.IntVar(&c.sc.TextSize, "text-size", 64, "bytes of comment text")
	fs.IntVar(&c.sc.RYWEvery, "ryw-every", 0, "sample the read-your-writes lag of every n-th create (0: mix 10, custom off)")

	fs.IntVar(&c.sc.Mix.Create, "create", 0, "custom mix: weight of creates")
	fs.IntVar(&c.sc.Mix.Update, "update", 0, "custom mix: weight of updates")
	fs.IntVar(&c.sc.Mix.Delete, "delete", 0, "custom mix: weight of deletes")
	fs.IntVar(&c.sc.Mix.List, "list", 0, "custom mix: weight of list queries")
	fs.IntVar(&c.sc.Mix.Get, "get", 0, "custom mix: weight of single-comment queries")
	fs.StringVar(&c.ceilings, "ceilings", "http,http+pebble,pebble", "custom scenario: ceilings to measure")
	fs.BoolVar(&c.sc.NoCeilings, "no-ceilings", false, "skip the ceilings")
	fs.IntVar(&c.sc.Rounds, "rounds", 1, "list-cached and create: alternate the run and its ceilings this many times; compare medians")
	fs.StringVar(&c.sc.CeilingDir, "ceiling-dir", "", "directory for the ceilings' scratch Pebble databases (default: the temporary directory)")
	fs.Uint64Var(&c.sc.Seed, "seed", 0, "random seed (0: from the clock)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.sc.Target != "" && c.spawn != "" {
		return nil, errors.New("give one of --target and --spawn, not both")
	}
	if c.sc.Target == "" && c.spawn == "" && c.scenario != bench.ScenarioCeilings {
		return nil, errors.New("give --target URL or --spawn PATH (only --scenario ceilings needs neither)")
	}
	switch bench.Mode(c.mode) {
	case bench.Closed, bench.Open:
		c.sc.Mode = bench.Mode(c.mode)
	default:
		return nil, fmt.Errorf("--mode %q: want closed or open", c.mode)
	}
	if c.mode == string(bench.Open) && c.sc.Rate <= 0 && c.scenario == bench.ScenarioCustom {
		return nil, errors.New("--mode open needs --rate")
	}
	if c.scenario == bench.ScenarioCustom && c.sc.Mix == (bench.Mix{}) {
		c.sc.Mix = bench.Mix{List: 90, Create: 10}
	}
	for _, name := range strings.Split(c.ceilings, ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.sc.Ceilings = append(c.sc.Ceilings, name)
		}
	}
	if c.out == "" {
		c.out = filepath.Join("results", time.Now().UTC().Format("20060102T150405Z"))
	}
	return c, nil
}

// secret resolves the auth secret of a --target server.
func (c *config) resolveSecret() ([]byte, error) {
	switch {
	case c.secret != "":
		return []byte(c.secret), nil
	case os.Getenv("COMMENTS_AUTH_SECRET") != "":
		return []byte(os.Getenv("COMMENTS_AUTH_SECRET")), nil
	case c.data != "":
		return bench.ReadSecret(c.data)
	}
	return nil, nil // read-only workloads need none; Run reports it otherwise
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if !c.quiet {
		c.sc.Progress = stdout
	}
	if c.spawn != "" {
		so := bench.SpawnOptions{Path: c.spawn}
		if c.spawnLog {
			so.Output = stderr
		}
		srv, err := bench.Spawn(ctx, so)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Close(); err != nil {
				fmt.Fprintln(stderr, "commentbench:", err)
			}
		}()
		fmt.Fprintf(stdout, "spawned %s at %s (data %s)\n", c.spawn, srv.URL, srv.DataDir)
		c.sc.Target, c.sc.Secret = srv.URL, srv.Secret
	} else if c.sc.Secret, err = c.resolveSecret(); err != nil {
		return err
	}

	rep, runErr := bench.RunScenarios(ctx, c.sc, c.scenario)
	if rep == nil {
		return runErr
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteSummary(stdout); err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := rep.WriteJSON(filepath.Join(c.out, "result.json")); err != nil {
		return err
	}
	if err := rep.WriteHTMLFile(filepath.Join(c.out, "report.html")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(c.out, "result.json"), filepath.Join(c.out, "report.html"))
	return runErr
}
