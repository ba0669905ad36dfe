package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The model of one comment for porcupine, per API.md: an update or delete
// of a deleted comment is 410 whatever its If-Match; a stale If-Match is
// 412; an update to the current text appends nothing and answers the
// current version; otherwise the version grows by one. A history read sees
// the current version, text and whether the comment is deleted.

type linState struct {
	Version uint64
	Text    string
	Deleted bool
}

type linInput struct {
	Comment  string
	Op       string // "update", "delete" or "history"
	Text     string // update
	Expected uint64 // If-Match; 0: none
}

type linOutput struct {
	Unknown bool   // the outcome is unknown (transport error, 5xx)
	Status  int    // update, delete
	Version uint64 // update, delete (200); history: the last event's version
	Text    string // history: the current text
	Deleted bool   // history
}

const linInitialText = "start"

func linStep(state, input, output any) (bool, any) {
	s, in, out := state.(linState), input.(linInput), output.(linOutput)
	switch in.Op {
	case "history":
		if out.Unknown {
			return true, s
		}
		return out.Status == http.StatusOK && out.Version == s.Version && out.Text == s.Text && out.Deleted == s.Deleted, s
	case "update", "delete":
		status, next := http.StatusOK, s
		switch {
		case s.Deleted:
			status = http.StatusGone
		case in.Expected != 0 && in.Expected != s.Version:
			status = http.StatusPreconditionFailed
		case in.Op == "delete":
			next.Version, next.Deleted = s.Version+1, true
		case in.Text != s.Text:
			next.Version, next.Text = s.Version+1, in.Text
		}
		if out.Unknown {
			// Linearised anywhere up to the end of time: as if applied.
			return true, next
		}
		if out.Status != status {
			return false, s
		}
		if status == http.StatusOK && out.Version != next.Version {
			return false, s
		}
		return true, next
	}
	panic("unknown operation " + in.Op)
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byComment := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			id := op.Input.(linInput).Comment
			if _, ok := byComment[id]; !ok {
				order = append(order, id)
			}
			byComment[id] = append(byComment[id], op)
		}
		parts := make([][]porcupine.Operation, 0, len(order))
		for _, id := range order {
			parts = append(parts, byComment[id])
		}
		return parts
	},
	Init: func() any { return linState{Version: 1, Text: linInitialText} },
	Step: linStep,
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		res := fmt.Sprintf("%d v%d", out.Status, out.Version)
		if in.Op == "history" {
			res = fmt.Sprintf("v%d %q deleted=%v", out.Version, out.Text, out.Deleted)
		}
		if out.Unknown {
			res = "?"
		}
		return fmt.Sprintf("%s(%q, if-match %d) -> %s", in.Op, in.Text, in.Expected, res)
	},
	DescribeState: func(state any) string {
		s := state.(linState)
		return fmt.Sprintf("v%d %q deleted=%v", s.Version, s.Text, s.Deleted)
	},
}

// TestLinearizability has many clients update, delete and read the history
// of a few comments concurrently through the real HTTP server, and checks
// with porcupine that the observed history is linearizable against the
// model of one comment.
func TestLinearizability(t *testing.T) {
	s := startServer(t, t.TempDir())
	const (
		comments = 4
		clients  = 8
	)
	// COMMENTD_LIN_OPS runs longer histories (operations per client).
	opsEach := 50
	if v := os.Getenv("COMMENTD_LIN_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("COMMENTD_LIN_OPS=%q: want a positive number", v)
		}
		opsEach = n
	}
	ids := make([]string, comments)
	for i := range ids {
		ids[i] = fmt.Sprintf("lin%d", i)
		create(t, s.apiClient, "alice", "p1", ids[i], linInitialText)
	}

	seed := uint64(time.Now().UnixNano())
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		counts  = map[string]int{}
	)
	var wg sync.WaitGroup
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(cl)))
			seen := map[string]uint64{} // highest version this client saw per comment
			for i := 0; i < opsEach; i++ {
				in := linInput{Comment: ids[rng.IntN(comments)]}
				// Deletes only late, so that most of the run updates
				// live comments.
				switch k := rng.IntN(100); {
				case k < 4 && i >= opsEach*3/4:
					in.Op = "delete"
				case k < 60:
					in.Op = "update"
					// A few texts, so that same-text updates happen too.
					in.Text = []string{"a", "b", "c", fmt.Sprintf("c%d-%d", cl, i)}[rng.IntN(4)]
				default:
					in.Op = "history"
				}
				if in.Op != "history" && rng.IntN(2) == 0 {
					in.Expected = 1 + uint64(rng.IntN(int(seen[in.Comment])+2))
				}
				call := now()
				out := linDo(s.apiClient, in)
				ret := now()
				if out.Unknown {
					ret = math.MaxInt64
				}
				if out.Version > seen[in.Comment] {
					seen[in.Comment] = out.Version
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret})
				key := in.Op
				if in.Op != "history" {
					key += " " + strconv.Itoa(out.Status)
				}
				if out.Unknown {
					key = in.Op + " unknown"
				}
				counts[key]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	res, info := porcupine.CheckOperationsVerbose(linModel, history, 30*time.Second)
	t.Logf("porcupine: %d operations by %d clients on %d comments: %v; verdict %s", len(history), clients, comments, counts, res)
	if counts["update 200"] == 0 || counts["history"] == 0 {
		t.Fatalf("the history exercised too little: %v", counts)
	}
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Log("porcupine timed out: linearizability not decided")
	default:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("commentd-linearizability-%d.html", seed))
		if f, err := os.Create(path); err == nil {
			porcupine.Visualize(linModel, info, f)
			f.Close()
		}
		t.Fatalf("the command history is not linearizable (seed %d); visualization in %s", seed, path)
	}
}

// linDo performs one operation over HTTP and classifies the answer.
func linDo(c *apiClient, in linInput) linOutput {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	path := commentPath("p1", in.Comment)
	var hdr []string
	if in.Expected != 0 {
		hdr = []string{"If-Match", fmt.Sprintf("%q", strconv.FormatUint(in.Expected, 10))}
	}
	var (
		r   response
		err error
	)
	switch in.Op {
	case "update":
		r, err = c.call(ctx, "PATCH", path, "alice", map[string]string{"text": in.Text}, hdr...)
	case "delete":
		r, err = c.call(ctx, "DELETE", path, "alice", nil, hdr...)
	case "history":
		r, err = c.call(ctx, "GET", path+"/history", "alice", nil)
	}
	if err != nil || r.Status >= 500 {
		return linOutput{Unknown: true}
	}
	out := linOutput{Status: r.Status}
	switch {
	case in.Op == "history" && r.Status == http.StatusOK:
		var h historyJSON
		if decodeStrict(r.Body, &h) != nil || len(h.Events) == 0 {
			return linOutput{Status: -1} // matches nothing: the check fails
		}
		e := h.Events[len(h.Events)-1]
		out.Version = e.Version
		for _, ev := range h.Events {
			if ev.Text != nil {
				out.Text = *ev.Text
			}
		}
		out.Deleted = e.Type == "CommentDeleted"
	case in.Op == "history":
		return linOutput{Status: -1}
	case r.Status == http.StatusOK:
		var res commandJSON
		if decodeStrict(r.Body, &res) != nil {
			return linOutput{Status: -1}
		}
		out.Version = res.Version
	}
	return out
}

// TestLinearizabilityModel checks that the model rejects histories that are
// not linearizable, so that TestLinearizability can fail.
func TestLinearizabilityModel(t *testing.T) {
	in := linInput{Comment: "x", Op: "update", Text: "a"}
	// Two sequential updates both claiming version 2: not linearizable.
	h := []porcupine.Operation{
		{ClientId: 0, Input: in, Call: 0, Output: linOutput{Status: 200, Version: 2}, Return: 10},
		{ClientId: 1, Input: linInput{Comment: "x", Op: "update", Text: "b"}, Call: 20, Output: linOutput{Status: 200, Version: 2}, Return: 30},
	}
	if res := porcupine.CheckOperationsTimeout(linModel, h, time.Second); res != porcupine.Illegal {
		t.Fatalf("got %s", res)
	}
	// Overlapping: fine.
	h[1].Output = linOutput{Status: 200, Version: 3}
	h[1].Call = 5
	if res := porcupine.CheckOperationsTimeout(linModel, h, time.Second); res != porcupine.Ok {
		t.Fatalf("got %s", res)
	}
	// A history read that saw a stale state after an acknowledged update.
	h = append(h, porcupine.Operation{ClientId: 2, Input: linInput{Comment: "x", Op: "history"}, Call: 40, Output: linOutput{Status: 200, Version: 2, Text: "a"}, Return: 50})
	if res := porcupine.CheckOperationsTimeout(linModel, h, time.Second); res != porcupine.Illegal {
		t.Fatalf("got %s", res)
	}
}
