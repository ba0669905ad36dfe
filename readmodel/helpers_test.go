package readmodel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/commentd/commentd/comment"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

// eventLog hands out committed events: consecutive positions, versions per
// comment, non-decreasing times.
type eventLog struct {
	pos      uint64
	at       time.Time
	versions map[string]uint64
}

func newEventLog() *eventLog {
	return &eventLog{at: t0, versions: make(map[string]uint64)}
}

func (l *eventLog) next(typ comment.EventType, pic, id, author, text string) comment.Event {
	l.pos++
	l.at = l.at.Add(time.Millisecond + 7)
	l.versions[id]++
	return comment.Event{
		Type: typ, PictureID: pic, CommentID: id, Author: author, Text: text,
		Version: l.versions[id], Position: l.pos, At: l.at,
	}
}

func (l *eventLog) create(pic, id, author, text string) comment.Event {
	return l.next(comment.TypeCreated, pic, id, author, text)
}

func (l *eventLog) update(pic, id, text string) comment.Event {
	return l.next(comment.TypeTextUpdated, pic, id, "", text)
}

func (l *eventLog) del(pic, id string) comment.Event {
	return l.next(comment.TypeDeleted, pic, id, "", "")
}

// reference is a plain fold of events: what every query must show.
type reference struct {
	byID     map[string]*refComment
	pictures map[string][]*refComment // creation order, including deleted ones
}

type refComment struct {
	c       Comment
	pos     uint64
	deleted bool
}

func newReference() *reference {
	return &reference{byID: make(map[string]*refComment), pictures: make(map[string][]*refComment)}
}

func (r *reference) apply(events ...comment.Event) {
	for _, e := range events {
		switch e.Type {
		case comment.TypeCreated:
			rc := &refComment{pos: e.Position, c: Comment{
				ID: e.CommentID, PictureID: e.PictureID, Author: e.Author, Text: e.Text,
				CreatedAt: e.At.UTC(), UpdatedAt: e.At.UTC(), Version: e.Version,
			}}
			r.byID[e.CommentID] = rc
			r.pictures[e.PictureID] = append(r.pictures[e.PictureID], rc)
		case comment.TypeTextUpdated:
			rc := r.byID[e.CommentID]
			rc.c.Text, rc.c.UpdatedAt, rc.c.Version = e.Text, e.At.UTC(), e.Version
		case comment.TypeDeleted:
			rc := r.byID[e.CommentID]
			rc.deleted, rc.c.Version = true, e.Version
		}
	}
}

func (r *reference) live(pic string) []Comment {
	var out []Comment
	for _, rc := range r.pictures[pic] {
		if !rc.deleted {
			out = append(out, rc.c)
		}
	}
	return out
}

func (r *reference) pictureIDs() []string {
	var ids []string
	for id := range r.pictures {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// randomEvents generates n events over a few pictures, authors and
// comments: creates, updates and deletes that the domain rules allow.
func randomEvents(rng *rand.Rand, l *eventLog, n, pictures int) []comment.Event {
	var live []comment.Event // creation events of live comments
	out := make([]comment.Event, 0, n)
	seq := int(l.pos)
	for len(out) < n {
		switch k := rng.IntN(10); {
		case k < 6 || len(live) == 0:
			seq++
			pic := fmt.Sprintf("p%d", rng.IntN(pictures))
			e := l.create(pic, fmt.Sprintf("c%05d", seq), fmt.Sprintf("u%d", rng.IntN(5)), randomText(rng))
			live = append(live, e)
			out = append(out, e)
		case k < 9:
			c := live[rng.IntN(len(live))]
			out = append(out, l.update(c.PictureID, c.CommentID, randomText(rng)))
		default:
			i := rng.IntN(len(live))
			c := live[i]
			live = slices.Delete(live, i, i+1)
			out = append(out, l.del(c.PictureID, c.CommentID))
		}
	}
	return out
}

var texts = []string{"nice", "so \"nice\"", "line\nbreak\ttab", "<b>&amp;</b>", "héllo wörld ✓ 😀",
	"back\\slash", "sep\u2028arator", "ctl\u0001x"}

func randomText(rng *rand.Rand) string {
	return texts[rng.IntN(len(texts))] + fmt.Sprint(rng.IntN(1000))
}

func openModel(t testing.TB, dir string, opts Options) *Model {
	t.Helper()
	m, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustApply(t testing.TB, m *Model, events ...comment.Event) {
	t.Helper()
	if err := m.Apply(events); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// applyInBatches applies events in batches of random sizes up to max.
func applyInBatches(t testing.TB, rng *rand.Rand, m *Model, events []comment.Event, max int) {
	t.Helper()
	for len(events) > 0 {
		n := min(1+rng.IntN(max), len(events))
		mustApply(t, m, events[:n]...)
		events = events[n:]
	}
}

// listAll walks a picture's pages with the given limit.
func listAll(t testing.TB, m *Model, pic string, limit int) []Comment {
	t.Helper()
	var all []Comment
	cursor := ""
	for pages := 0; ; pages++ {
		page, _, err := m.List(pic, limit, cursor)
		if err != nil {
			t.Fatalf("List(%s, %d, %q): %v", pic, limit, cursor, err)
		}
		if len(page.Comments) > limit {
			t.Fatalf("List(%s, %d): %d comments", pic, limit, len(page.Comments))
		}
		all = append(all, page.Comments...)
		if page.Next == "" {
			return all
		}
		if len(page.Comments) < limit {
			t.Fatalf("List(%s, %d): short page of %d with a cursor", pic, limit, len(page.Comments))
		}
		if pages > 100000 {
			t.Fatal("List: no end")
		}
		cursor = page.Next
	}
}

// checkAgainst compares every picture's listing and every comment with ref.
func checkAgainst(t testing.TB, m *Model, ref *reference, limit int) {
	t.Helper()
	for _, pic := range ref.pictureIDs() {
		if d := diffComments(listAll(t, m, pic, limit), ref.live(pic)); d != "" {
			t.Fatalf("picture %s: %s", pic, d)
		}
		for _, rc := range ref.pictures[pic] {
			c, _, err := m.Get(pic, rc.c.ID)
			switch {
			case rc.deleted && comment.ErrorCode(err) != comment.CodeNotFound:
				t.Fatalf("Get deleted %s: %v, %v; want not_found", rc.c.ID, c, err)
			case !rc.deleted && (err != nil || !equalComment(c, rc.c)):
				t.Fatalf("Get %s: %v, %v; want %v", rc.c.ID, c, err, rc.c)
			}
		}
	}
}

func equalComment(a, b Comment) bool {
	return a.ID == b.ID && a.PictureID == b.PictureID && a.Author == b.Author && a.Text == b.Text &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.Version == b.Version
}

// diffComments describes the first difference between got and want, or
// returns "".
func diffComments(got, want []Comment) string {
	for i := range min(len(got), len(want)) {
		if !equalComment(got[i], want[i]) {
			return fmt.Sprintf("comment %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d comments, want %d", len(got), len(want))
	}
	return ""
}

func equalComments(a, b []Comment) bool {
	return slices.EqualFunc(a, b, equalComment)
}

// dump returns every key and value of the read store.
func dump(t testing.TB, m *Model) string {
	t.Helper()
	it, err := m.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var b bytes.Buffer
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Fprintf(&b, "%q => %q\n", it.Key(), it.Value())
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func checkpointInStore(t testing.TB, m *Model) uint64 {
	t.Helper()
	v, closer, err := m.db.Get(keyCheckpoint)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v)
}
