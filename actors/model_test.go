package actors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/store"
)

// sent is one command as a worker sent it, with its answer.
type sent struct {
	cmd comment.Command
	res comment.Result
	err error
}

// modelWorker sends a random command sequence over the comment ids it owns
// (so the order of the commands of one comment is the worker's order), and
// records every answer.
func modelWorker(e *env, rng *rand.Rand, w, steps int) []sent {
	users := []string{"ann", "ben", "cat"}
	pictures := []string{"p0", "p1", "p2"}
	texts := []string{"alpha", "beta", " alpha\r\n", "gamma", ""}
	type known struct {
		author, picture string
		version         uint64
	}
	owned := map[string]*known{}
	var ids []string
	for k := range 3 {
		ids = append(ids, fmt.Sprintf("w%dc%d", w, k))
	}
	unknownID := fmt.Sprintf("w%dnever", w)
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	target := func() (string, *known) {
		if rng.IntN(10) == 0 {
			return unknownID, nil
		}
		id := pick(ids)
		return id, owned[id]
	}
	// who/where: mostly the right author and picture when known.
	who := func(k *known) (string, string) {
		u, p := pick(users), pick(pictures)
		if k != nil && rng.IntN(10) < 7 {
			u = k.author
		}
		if k != nil && rng.IntN(10) < 8 {
			p = k.picture
		}
		return u, p
	}
	expect := func(k *known) uint64 {
		switch r := rng.IntN(10); {
		case r < 5 || k == nil:
			return 0
		case r < 8:
			return k.version
		default:
			return k.version + uint64(rng.IntN(3)) - 1
		}
	}
	var log []sent
	for range steps {
		var cmd comment.Command
		switch r := rng.IntN(10); {
		case r < 3: // create with a client id: new, retry or reuse
			id := pick(ids)
			u, p := who(owned[id])
			cmd = comment.Create{PictureID: p, ID: id, Text: pick(texts), User: u, At: time.Now()}
		case r < 4: // create with a server id
			cmd = comment.Create{PictureID: pick(pictures), Text: pick(texts), User: pick(users), At: time.Now()}
		case r < 8:
			id, k := target()
			u, p := who(k)
			cmd = comment.UpdateText{PictureID: p, ID: id, Text: pick(texts), ExpectedVersion: expect(k), User: u, At: time.Now()}
		default:
			id, k := target()
			u, p := who(k)
			cmd = comment.Delete{PictureID: p, ID: id, ExpectedVersion: expect(k), User: u, At: time.Now()}
		}
		res, err := e.send(cmd)
		log = append(log, sent{cmd, res, err})
		if err != nil {
			continue
		}
		k := owned[res.ID]
		if k == nil {
			c, ok := cmd.(comment.Create)
			if !ok {
				panic("a successful update or delete on an unknown id")
			}
			k = &known{author: c.User, picture: c.PictureID}
			owned[res.ID] = k
			if !slices.Contains(ids, res.ID) {
				ids = append(ids, res.ID)
			}
		}
		if _, isCreate := cmd.(comment.Create); !isCreate || res.Created {
			k.version = res.Version
		}
	}
	return log
}

// TestModel sends random command sequences concurrently, then folds the
// same commands with comment.Decide/Evolve in the order the log shows, and
// compares every answer, the log and the final read model with that fold.
func TestModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e := openEnv(t, t.TempDir(), "readmodel", Config{IdleTimeout: 5 * time.Millisecond, SnapshotEvery: 3, Shards: 3}, hooks{})
	const workers, steps = 6, 80
	logs := make([][]sent, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { logs[w] = modelWorker(e, rand.New(rand.NewPCG(seed, uint64(w))), w, steps) })
	}
	wg.Wait()

	recs, err := e.st.ReadAll(0, 1<<20)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	byStream := map[string]map[uint64]store.Record{}
	for i, r := range recs {
		if r.Position != uint64(i+1) {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
		if byStream[r.Stream] == nil {
			byStream[r.Stream] = map[uint64]store.Record{}
		}
		byStream[r.Stream][r.Version] = r
	}

	ref := map[string]comment.State{}
	appended := 0
	for w, log := range logs {
		for i, op := range log {
			cmd := op.cmd
			if c, ok := cmd.(comment.Create); ok && c.ID == "" {
				c.ID = op.res.ID
				if op.err != nil {
					c.ID = "placeholder"
				}
				cmd = c
			}
			where := fmt.Sprintf("worker %d step %d %T%+v", w, i, cmd, cmd)
			id := cmd.CommentID()
			s := ref[id]
			events, derr := comment.Decide(s, cmd)
			if derr != nil {
				if got, want := comment.ErrorCode(op.err), comment.ErrorCode(derr); got != want {
					t.Fatalf("%s: answer %v (%v), reference %v", where, got, op.err, derr)
				}
				continue
			}
			if op.err != nil {
				t.Fatalf("%s: answer %v, reference accepts", where, op.err)
			}
			if len(events) == 0 {
				if want := comment.Unchanged(s, cmd); op.res != want {
					t.Fatalf("%s: answer %+v, reference %+v", where, op.res, want)
				}
				continue
			}
			_, isCreate := cmd.(comment.Create)
			for _, ev := range events {
				rec, ok := byStream[id][s.Version+1]
				if !ok {
					t.Fatalf("%s: no record of version %d in the log", where, s.Version+1)
				}
				got, err := decodeRecord(rec)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if got.Type != ev.Type || got.PictureID != ev.PictureID || got.CommentID != ev.CommentID || got.Author != ev.Author || got.Text != ev.Text {
					t.Fatalf("%s: log has %+v, reference decided %+v", where, got, ev)
				}
				ev.Version, ev.Position, ev.At = rec.Version, rec.Position, got.At
				s = comment.Evolve(s, ev)
				appended++
			}
			ref[id] = s
			want := comment.Result{PictureID: s.PictureID, ID: id, Version: s.Version, Position: s.LastPosition, Created: isCreate}
			if op.res != want {
				t.Fatalf("%s: answer %+v, reference %+v", where, op.res, want)
			}
		}
	}
	if appended != len(recs) {
		t.Fatalf("the log has %d records, the reference appended %d", len(recs), appended)
	}
	t.Logf("%d commands, %d events, %d comments", workers*steps, appended, len(ref))

	e.waitCaughtUp()
	lists := map[string][]comment.State{}
	for id, s := range ref {
		got, _, err := e.rm.Get(s.PictureID, id)
		if s.Deleted {
			if comment.ErrorCode(err) != comment.CodeNotFound {
				t.Fatalf("Get(%s) of a deleted comment = %+v, %v", id, got, err)
			}
			continue
		}
		lists[s.PictureID] = append(lists[s.PictureID], s)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if got.ID != id || got.PictureID != s.PictureID || got.Author != s.Author || got.Text != s.Text ||
			got.Version != s.Version || !got.CreatedAt.Equal(s.CreatedAt) || !got.UpdatedAt.Equal(s.UpdatedAt) {
			t.Fatalf("Get(%s) = %+v, reference %+v", id, got, s)
		}
	}
	for _, p := range []string{"p0", "p1", "p2"} {
		want := lists[p]
		slices.SortFunc(want, func(a, b comment.State) int { return int(a.CreatedPosition) - int(b.CreatedPosition) })
		var got []string
		cursor := ""
		for {
			page, _, err := e.rm.List(p, 3, cursor)
			if err != nil {
				t.Fatalf("List(%s): %v", p, err)
			}
			for _, c := range page.Comments {
				got = append(got, c.ID)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		var wantIDs []string
		for _, s := range want {
			wantIDs = append(wantIDs, s.ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("List(%s) = %v, reference %v", p, got, wantIDs)
		}
	}
}
