package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commentd/commentd/store"
)

const (
	crashDirEnv    = "COMMENTD_CRASH_DIR"
	crashRoundsEnv = "COMMENTD_CRASH_ROUNDS"
	crashAppenders = 16
)

// TestCrashChild is the process the crash test kills: it appends from
// several goroutines and prints every acknowledged append on its own line,
// "ack <stream> <first version> <first position> <hex data>,<hex data>...".
// Each record's data is "<append id>:<index>:<count>:<random>", so that a
// reader can tell whether an append is whole.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the crash test's child process")
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		fmt.Printf("open: %v\n", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	emit := func(line []byte) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.Write(line); err != nil {
			os.Exit(3)
		}
	}
	for g := range crashAppenders {
		go crashAppender(s, g, emit)
	}
	emit([]byte("ready\n"))
	time.Sleep(30 * time.Second) // the parent kills us long before
	os.Exit(4)
}

func crashAppender(s *store.Store, g int, emit func([]byte)) {
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(g)))
	streams := []string{fmt.Sprintf("g%d-a", g), fmt.Sprintf("g%d-b", g), "shared-0", "shared-1"}
	known := map[string]uint64{}
	for _, st := range streams {
		recs, err := s.ReadStream(st, 0)
		if err != nil {
			emit(fmt.Appendf(nil, "error %v\n", err))
			return
		}
		known[st] = uint64(len(recs))
	}
	random := make([]byte, 24)
	for i := 0; ; i++ {
		stream := streams[rng.IntN(len(streams))]
		n := 1 + rng.IntN(3)
		data := make([][]byte, n)
		for j := range data {
			for k := range random {
				random[k] = byte(rng.Uint32())
			}
			data[j] = fmt.Appendf(nil, "%d-%d-%d:%d:%d:%x", os.Getpid(), g, i, j, n, random[:8+rng.IntN(16)])
		}
		res, err := s.Append(context.Background(), stream, known[stream], data...)
		if errors.Is(err, store.ErrVersionConflict) {
			recs, err := s.ReadStream(stream, 0)
			if err != nil {
				emit(fmt.Appendf(nil, "error %v\n", err))
				return
			}
			known[stream] = uint64(len(recs))
			continue
		}
		if err != nil {
			emit(fmt.Appendf(nil, "error %v\n", err))
			return
		}
		known[stream] = res.FirstVersion + uint64(n) - 1
		line := fmt.Appendf(nil, "ack %s %d %d ", stream, res.FirstVersion, res.FirstPosition)
		for j, d := range data {
			if j > 0 {
				line = append(line, ',')
			}
			line = hex.AppendEncode(line, d)
		}
		emit(append(line, '\n'))
	}
}

type crashAck struct {
	stream         string
	version, first uint64
	data           [][]byte
}

func parseAck(line string) (crashAck, error) {
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "ack" {
		return crashAck{}, fmt.Errorf("bad line %q", line)
	}
	v, err1 := strconv.ParseUint(f[2], 10, 64)
	p, err2 := strconv.ParseUint(f[3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return crashAck{}, err
	}
	a := crashAck{stream: f[1], version: v, first: p}
	for _, h := range strings.Split(f[4], ",") {
		d, err := hex.DecodeString(h)
		if err != nil {
			return crashAck{}, err
		}
		a.data = append(a.data, d)
	}
	return a, nil
}

// TestCrash kills an appending child process with SIGKILL at random moments
// and checks after each kill that every acknowledged append is present byte
// for byte, positions are gap-free, versions contiguous, and no append is
// partly present.
func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	rounds := 4
	if v := os.Getenv(crashRoundsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", crashRoundsEnv, v)
		}
		rounds = n
	}
	dir := t.TempDir()
	var acks []crashAck
	for round := range rounds {
		got := runCrashChild(t, dir, time.Duration(rand.IntN(500))*time.Millisecond)
		if len(got) == 0 {
			t.Fatalf("round %d: the child acknowledged nothing before it was killed", round)
		}
		acks = append(acks, got...)
		records := verifyCrashLog(t, dir, acks)
		t.Logf("round %d: killed after %d acknowledged appends; log holds %d records; all %d acknowledged appends present",
			round, len(got), records, len(acks))
	}
}

// runCrashChild starts the child, kills it with SIGKILL after it ran for
// d, and returns the appends it acknowledged.
func runCrashChild(t *testing.T, dir string, d time.Duration) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill at a random moment after the first acknowledgement.
	acked := make(chan struct{})
	lines := make(chan []string, 1)
	go func() {
		var got []string
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // a final fragment without its newline was never fully written
			}
			if line == "ready\n" {
				continue
			}
			if len(got) == 0 {
				close(acked)
			}
			got = append(got, line)
		}
		lines <- got
	}()
	select {
	case <-acked:
		time.Sleep(d)
	case <-time.After(30 * time.Second):
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	got := <-lines
	cmd.Wait()
	var acks []crashAck
	for _, line := range got {
		if !strings.HasPrefix(line, "ack ") {
			t.Fatalf("child: %s(stderr: %s)", line, stderr.String())
		}
		a, err := parseAck(line)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	return acks
}

func verifyCrashLog(t *testing.T, dir string, acks []crashAck) int {
	t.Helper()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	all, err := s.ReadAll(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(all)) != s.LastPosition() {
		t.Fatalf("log holds %d records, LastPosition is %d", len(all), s.LastPosition())
	}
	heads := map[string]uint64{}
	for i, r := range all {
		if r.Position != uint64(i+1) {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
		if r.Version != heads[r.Stream]+1 {
			t.Fatalf("stream %s: version %d follows %d", r.Stream, r.Version, heads[r.Stream])
		}
		heads[r.Stream] = r.Version
	}
	for _, a := range acks {
		for j, d := range a.data {
			pos := a.first + uint64(j)
			if pos > uint64(len(all)) {
				t.Fatalf("acknowledged position %d lost: log ends at %d", pos, len(all))
			}
			r := all[pos-1]
			if r.Stream != a.stream || r.Version != a.version+uint64(j) || !bytes.Equal(r.Data, d) {
				t.Fatalf("acknowledged %s v%d at %d reads back as %s v%d %q", a.stream, a.version+uint64(j), pos, r.Stream, r.Version, r.Data)
			}
		}
	}
	// Every append in the log is whole: "<id>:<j>:<n>:..." with j = 0..n-1
	// at consecutive positions of one stream.
	for i := 0; i < len(all); {
		id, j, n, err := splitCrashData(all[i].Data)
		if err != nil || j != 0 {
			t.Fatalf("position %d: %q does not start an append (%v)", i+1, all[i].Data, err)
		}
		for k := 1; k < n; k++ {
			if i+k >= len(all) {
				t.Fatalf("append %s: only %d of %d records present", id, k, n)
			}
			id2, j2, n2, err := splitCrashData(all[i+k].Data)
			if err != nil || id2 != id || j2 != k || n2 != n || all[i+k].Stream != all[i].Stream {
				t.Fatalf("append %s: record %d of %d missing at position %d (found %q)", id, k, n, i+k+1, all[i+k].Data)
			}
		}
		i += n
	}
	return len(all)
}

func splitCrashData(d []byte) (id string, j, n int, err error) {
	f := strings.Split(string(d), ":")
	if len(f) != 4 {
		return "", 0, 0, fmt.Errorf("%d fields", len(f))
	}
	j, err1 := strconv.Atoi(f[1])
	n, err2 := strconv.Atoi(f[2])
	return f[0], j, n, errors.Join(err1, err2)
}
