package actors

import (
	"testing"
	"time"

	"github.com/commentd/commentd/comment"
)

// TestIDSeedAfterRestart restarts on a store with records: the id counter
// must start after the newest record's commit time, so that ids picked
// after a restart with the clock behind still sort after older ones.
func TestIDSeedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	e := openEnv(t, dir, "readmodel", Config{}, hooks{})
	e.mustSend(comment.Create{PictureID: "p", Text: "first", User: "u"})
	e.mustSend(comment.Create{PictureID: "p", ID: "named", Text: "second", User: "u"})
	e.close()

	e = openEnv(t, dir, "readmodel", Config{}, hooks{})
	recs, err := e.st.ReadAll(e.st.LastPosition()-1, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("newest record: %d records, %v", len(recs), err)
	}
	if got, want := e.sys.ids.last.Load(), recs[0].Time; got < want {
		t.Fatalf("id counter after restart = %d, want at least the newest commit time %d", got, want)
	}
}

// TestIDSeedClockBehind seeds the generator with a commit time in the
// future, as after a restart with the clock set back: the next ids must
// sort after an id generated at that time.
func TestIDSeedClockBehind(t *testing.T) {
	future := time.Now().Add(time.Hour).UnixNano()
	var old idGen
	old.last.Store(future - 1)
	older := old.next() // an id generated at the future commit time

	var g idGen
	g.seed(future)
	g.seed(future - 10) // an older seed never moves the counter back
	for range 100 {
		if id := g.next(); id <= older {
			t.Fatalf("id %q after seeding sorts before %q", id, older)
		}
	}
}
