package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/commentd/commentd/bench"
	"github.com/valyala/fasthttp"
)

// listServer is a stand-in target that answers every list query with an
// empty page.
func listServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.SetContentType("application/json")
		c.SetBodyString(`{"pictureId":"p","comments":[],"next":null}`)
	}}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Shutdown(); ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func TestRunWritesResults(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--scenario", "custom", "--target", listServer(t), "--list", "100",
		"--conns", "2", "--duration", "300ms", "--warmup", "0s", "--ceilings", "http", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	rep, err := bench.ReadJSON(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Op("list").Count == 0 || len(rep.Comparisons) != 1 {
		t.Errorf("report: %d runs, %d comparisons", len(rep.Runs), len(rep.Comparisons))
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(stdout.String(), "list/s vs http ceiling") {
		t.Errorf("summary lacks the comparison:\n%s", stdout.String())
	}
}

func TestParseRejects(t *testing.T) {
	for name, args := range map[string][]string{
		"no target":         {"--scenario", "all"},
		"target and spawn":  {"--target", "http://x", "--spawn", "/bin/true"},
		"bad mode":          {"--target", "http://x", "--mode", "sideways"},
		"open without rate": {"--target", "http://x", "--scenario", "custom", "--mode", "open"},
		"extra argument":    {"--target", "http://x", "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parse(args, &bytes.Buffer{}); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := parse([]string{"--scenario", "ceilings"}, &bytes.Buffer{}); err != nil {
		t.Errorf("ceilings alone: %v", err)
	}
}

func TestUnknownScenario(t *testing.T) {
	err := run(context.Background(), []string{"--scenario", "nope", "--target", "http://127.0.0.1:1", "--out", t.TempDir()},
		&bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Errorf("err %v", err)
	}
}
