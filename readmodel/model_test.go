package readmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/commentd/commentd/comment"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// goldenEvents and the golden strings below pin the exact JSON of API.md.
var goldenEvents = []comment.Event{
	{Type: comment.TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: "nice",
		Version: 1, Position: 1, At: at("2026-11-26T10:00:00.123456789Z")},
	{Type: comment.TypeCreated, PictureID: "p1", CommentID: "c2", Author: "bob", Text: "say \"hi\"\n<ok> & é\u2028\\",
		Version: 1, Position: 2, At: at("2026-11-26T11:00:01+01:00")},
	{Type: comment.TypeCreated, PictureID: "p2", CommentID: "c3", Author: "carol", Text: "other",
		Version: 1, Position: 3, At: at("2026-11-26T10:00:02.5Z")},
	{Type: comment.TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "nicer",
		Version: 2, Position: 4, At: at("2026-11-26T10:00:03.000000001Z")},
	{Type: comment.TypeDeleted, PictureID: "p1", CommentID: "c2",
		Version: 2, Position: 5, At: at("2026-11-26T10:00:04Z")},
	{Type: comment.TypeCreated, PictureID: "p1", CommentID: "c4", Author: "alice", Text: "four",
		Version: 1, Position: 6, At: at("2026-11-26T10:00:05Z")},
}

const (
	goldenC1v1 = `{"id":"c1","pictureId":"p1","author":"alice","text":"nice","createdAt":"2026-11-26T10:00:00.123456789Z","updatedAt":"2026-11-26T10:00:00.123456789Z","version":1}`
	goldenC2   = `{"id":"c2","pictureId":"p1","author":"bob","text":"say \"hi\"\n<ok> & é\u2028\\","createdAt":"2026-11-26T10:00:01.000000000Z","updatedAt":"2026-11-26T10:00:01.000000000Z","version":1}`
	goldenC1v2 = `{"id":"c1","pictureId":"p1","author":"alice","text":"nicer","createdAt":"2026-11-26T10:00:00.123456789Z","updatedAt":"2026-11-26T10:00:03.000000001Z","version":2}`
	goldenC3   = `{"id":"c3","pictureId":"p2","author":"carol","text":"other","createdAt":"2026-11-26T10:00:02.500000000Z","updatedAt":"2026-11-26T10:00:02.500000000Z","version":1}`
	goldenC4   = `{"id":"c4","pictureId":"p1","author":"alice","text":"four","createdAt":"2026-11-26T10:00:05.000000000Z","updatedAt":"2026-11-26T10:00:05.000000000Z","version":1}`
)

// Configurations under which every answer must be the same: served from
// the index after Apply, loaded into the index after a reopen, and read
// straight from the store (a budget too small for any picture).
var configs = []struct {
	name   string
	cache  int64
	reopen bool
}{
	{"cached", 0, false},
	{"reopened", 0, true},
	{"uncached", 1, false},
}

func TestGoldenJSON(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openModel(t, dir, Options{CacheBytes: cfg.cache})
			warm := func() {
				// Cache the pictures first so that Apply must update them.
				for _, p := range []string{"p1", "p2"} {
					if _, _, err := m.AppendList(nil, p, 10, ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			reopen := func() {
				if cfg.reopen {
					m.Close()
					m = openModel(t, dir, Options{CacheBytes: cfg.cache})
				}
			}
			warm()
			mustApply(t, m, goldenEvents[:3]...)
			reopen()
			checkListJSON(t, m, "p1", 10, "", `{"pictureId":"p1","comments":[`+goldenC1v1+`,`+goldenC2+`],"next":null}`)
			checkComment(t, m, "p1", "c2", goldenC2)
			warm()
			mustApply(t, m, goldenEvents[3:]...)
			reopen()
			checkListJSON(t, m, "p1", 10, "", `{"pictureId":"p1","comments":[`+goldenC1v2+`,`+goldenC4+`],"next":null}`)
			checkListJSON(t, m, "p2", 1, "", `{"pictureId":"p2","comments":[`+goldenC3+`],"next":null}`)
			checkListJSON(t, m, "p3", 5, "", `{"pictureId":"p3","comments":[],"next":null}`)
			checkComment(t, m, "p1", "c1", goldenC1v2)
			checkComment(t, m, "p2", "c3", goldenC3)

			next := string(appendCursor(nil, 1))
			checkListJSON(t, m, "p1", 1, "", `{"pictureId":"p1","comments":[`+goldenC1v2+`],"next":"`+next+`"}`)
			checkListJSON(t, m, "p1", 1, next, `{"pictureId":"p1","comments":[`+goldenC4+`],"next":null}`)

			for _, q := range []struct{ pic, id string }{{"p1", "c2"}, {"p2", "c1"}, {"p1", "c3"}, {"p1", "nope"}} {
				b, pos, err := m.AppendComment([]byte("keep"), q.pic, q.id)
				if comment.ErrorCode(err) != comment.CodeNotFound || string(b) != "keep" || pos != 6 {
					t.Errorf("AppendComment(%s, %s) = %q, %d, %v; want not_found", q.pic, q.id, b, pos, err)
				}
				if _, _, err := m.Get(q.pic, q.id); comment.ErrorCode(err) != comment.CodeNotFound {
					t.Errorf("Get(%s, %s) = %v; want not_found", q.pic, q.id, err)
				}
			}
		})
	}
}

// apiComment and apiList decode the API shapes strictly.
type apiComment struct {
	ID        string    `json:"id"`
	PictureID string    `json:"pictureId"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   uint64    `json:"version"`
}

type apiList struct {
	PictureID string       `json:"pictureId"`
	Comments  []apiComment `json:"comments"`
	Next      *string      `json:"next"`
}

func decodeStrict(t testing.TB, data []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func (c apiComment) comment() Comment { return Comment(c) }

// checkListJSON checks AppendList against a golden string, and that the
// structured List and the decoded JSON agree.
func checkListJSON(t *testing.T, m *Model, pic string, limit int, cursor, want string) {
	t.Helper()
	got, pos, err := m.AppendList([]byte("prefix:"), pic, limit, cursor)
	if err != nil {
		t.Fatalf("AppendList(%s, %d, %q): %v", pic, limit, cursor, err)
	}
	if pos != m.Position() {
		t.Errorf("AppendList position %d, want %d", pos, m.Position())
	}
	body, ok := bytes.CutPrefix(got, []byte("prefix:"))
	if !ok {
		t.Fatalf("AppendList dropped dst: %q", got)
	}
	if string(body) != want {
		t.Errorf("AppendList(%s, %d, %q):\n got %s\nwant %s", pic, limit, cursor, body, want)
	}
	var decoded apiList
	decodeStrict(t, body, &decoded)
	page, _, err := m.List(pic, limit, cursor)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var fromJSON []Comment
	for _, c := range decoded.Comments {
		fromJSON = append(fromJSON, c.comment())
	}
	if decoded.PictureID != pic || !equalComments(fromJSON, page.Comments) {
		t.Errorf("List = %+v, JSON = %+v", page.Comments, decoded)
	}
	if (decoded.Next == nil) != (page.Next == "") || decoded.Next != nil && *decoded.Next != page.Next {
		t.Errorf("List next %q, JSON next %v", page.Next, decoded.Next)
	}
}

func checkComment(t *testing.T, m *Model, pic, id, want string) {
	t.Helper()
	got, pos, err := m.AppendComment(nil, pic, id)
	if err != nil {
		t.Fatalf("AppendComment(%s, %s): %v", pic, id, err)
	}
	if pos != m.Position() {
		t.Errorf("AppendComment position %d, want %d", pos, m.Position())
	}
	if string(got) != want {
		t.Errorf("AppendComment(%s, %s):\n got %s\nwant %s", pic, id, got, want)
	}
	var decoded apiComment
	decodeStrict(t, got, &decoded)
	c, _, err := m.Get(pic, id)
	if err != nil || !equalComment(c, decoded.comment()) {
		t.Errorf("Get(%s, %s) = %+v, %v; JSON %+v", pic, id, c, err, decoded)
	}
}

func TestPagination(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openModel(t, dir, Options{CacheBytes: cfg.cache})
			l, ref := newEventLog(), newReference()
			var events []comment.Event
			for i := range 40 {
				events = append(events, l.create("big", fmt.Sprintf("c%s%02d", strings.Repeat("x", i%3), i), "u", "t"))
				events = append(events, l.create("small", fmt.Sprintf("s%02d", i), "u", "t"))
			}
			for i := 0; i < 40; i += 7 {
				events = append(events, l.del("big", events[2*i].CommentID))
			}
			ref.apply(events...)
			mustApply(t, m, events...)
			if cfg.reopen {
				m.Close()
				m = openModel(t, dir, Options{CacheBytes: cfg.cache})
			}
			for _, limit := range []int{1, 2, 3, 5, 10, 33, 34, 35, 40, 500} {
				for _, pic := range []string{"big", "small", "none"} {
					if got, want := listAll(t, m, pic, limit), ref.live(pic); !equalComments(got, want) {
						t.Fatalf("limit %d picture %s:\n got %v\nwant %v", limit, pic, got, want)
					}
				}
			}
			// A page that ends exactly at the last comment says so.
			n := len(ref.live("big"))
			page, _, err := m.List("big", n, "")
			if err != nil || len(page.Comments) != n || page.Next != "" {
				t.Fatalf("List(big, %d) = %d comments, next %q, %v; want all, null", n, len(page.Comments), page.Next, err)
			}
			page, _, err = m.List("big", n-1, "")
			if err != nil || len(page.Comments) != n-1 || page.Next == "" {
				t.Fatalf("List(big, %d) = %d comments, next %q, %v; want a cursor", n-1, len(page.Comments), page.Next, err)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l := newEventLog()
	mustApply(t, m, l.create("p", "c1", "u", "t"), l.create("p", "c2", "u", "t"))
	valid := string(appendCursor(nil, 1))
	flipped := []byte(valid)
	flipped[3] ^= 'A' ^ 'B'
	if flipped[3] == valid[3] {
		flipped[3] = 'Q'
	}
	cases := []struct {
		name, pic, cursor string
		limit             int
	}{
		{"garbage", "p", "garbage", 10},
		{"not base64", "p", "!!!!!!!!!!!!!!!", 10},
		{"padding", "p", valid[:14] + "=", 10},
		{"flipped char", "p", string(flipped), 10},
		{"too long", "p", valid + "A", 10},
		{"too short", "p", valid[:14], 10},
		{"std alphabet", "p", strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+", 10},
		{"zero limit", "p", "", 0},
		{"negative limit", "p", "", -1},
		{"bad picture", "p/1", "", 10},
		{"empty picture", "", "", 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _, err := m.AppendList([]byte("x"), c.pic, c.limit, c.cursor)
			var ae *comment.Error
			if !errors.As(err, &ae) || ae.Code != comment.CodeInvalidArgument || string(b) != "x" {
				t.Errorf("AppendList = %q, %v; want invalid_argument", b, err)
			}
			if _, _, err := m.List(c.pic, c.limit, c.cursor); comment.ErrorCode(err) != comment.CodeInvalidArgument {
				t.Errorf("List: %v; want invalid_argument", err)
			}
		})
	}
	if _, _, err := m.Get("p", "c/1"); comment.ErrorCode(err) != comment.CodeInvalidArgument {
		t.Errorf("Get bad id: %v; want invalid_argument", err)
	}
	if page, _, err := m.List("p", 10, valid); err != nil || len(page.Comments) != 1 || page.Comments[0].ID != "c2" {
		t.Errorf("List with a valid cursor = %+v, %v", page, err)
	}
}

func TestRandomAgainstReference(t *testing.T) {
	for _, cfg := range []struct {
		name  string
		cache int64
	}{{"default", 0}, {"tiny", 20 << 10}, {"none", 1}} {
		t.Run(cfg.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(cfg.cache)))
			m := openModel(t, t.TempDir(), Options{CacheBytes: cfg.cache})
			l, ref := newEventLog(), newReference()
			for round := range 8 {
				events := randomEvents(rng, l, 300, 12)
				ref.apply(events...)
				applyInBatches(t, rng, m, events, 50)
				checkAgainst(t, m, ref, 1+rng.IntN(20))
				if m.cache.bytes.Load() > m.cache.budget {
					t.Fatalf("round %d: cache holds %d bytes, budget %d", round, m.cache.bytes.Load(), m.cache.budget)
				}
			}
		})
	}
}

func TestReopenAndRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	dir := t.TempDir()
	m := openModel(t, dir, Options{CacheBytes: 64 << 10})
	l, ref := newEventLog(), newReference()
	var all []comment.Event
	for range 10 {
		events := randomEvents(rng, l, 200, 30)
		all = append(all, events...)
		ref.apply(events...)
		applyInBatches(t, rng, m, events, 64)
		// Queries between batches keep pictures cached so Apply updates them.
		for _, pic := range ref.pictureIDs()[:10] {
			listAll(t, m, pic, 7)
		}
	}
	before, pos := dump(t, m), m.Position()
	if pos != l.pos || checkpointInStore(t, m) != pos {
		t.Fatalf("position %d, checkpoint %d; want %d", pos, checkpointInStore(t, m), l.pos)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	m = openModel(t, dir, Options{})
	if m.Position() != pos {
		t.Fatalf("reopened at %d, want %d", m.Position(), pos)
	}
	if after := dump(t, m); after != before {
		t.Fatalf("reopened store differs:\n%s\nvs\n%s", after, before)
	}
	checkAgainst(t, m, ref, 9)
	// Re-applying events already applied is a no-op.
	mustApply(t, m, all[len(all)-5:]...)
	if after := dump(t, m); after != before {
		t.Fatal("re-applied events changed the store")
	}

	// A model rebuilt from an empty directory, in other batch sizes.
	rebuilt := openModel(t, t.TempDir(), Options{})
	applyInBatches(t, rng, rebuilt, all, 1000)
	if got := dump(t, rebuilt); got != before {
		t.Fatalf("rebuilt store differs:\n%s\nvs\n%s", got, before)
	}
	checkAgainst(t, rebuilt, ref, 50)
}

func TestApplyRejectsGaps(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l := newEventLog()
	e1, e2, e3 := l.create("p", "a", "u", "t"), l.create("p", "b", "u", "t"), l.create("p", "c", "u", "t")
	if err := m.Apply([]comment.Event{e2}); err == nil {
		t.Fatal("Apply starting at 2 on an empty model succeeded")
	}
	if err := m.Apply([]comment.Event{e1, e3}); err == nil {
		t.Fatal("Apply with a gap succeeded")
	}
	if m.Position() != 0 {
		t.Fatalf("position %d after failed applies", m.Position())
	}
	if page, _, _ := m.List("p", 10, ""); len(page.Comments) != 0 {
		t.Fatalf("failed apply left %v", page.Comments)
	}
	mustApply(t, m, e1, e2, e3)
	if m.Position() != 3 {
		t.Fatalf("position %d, want 3", m.Position())
	}
}

func TestSkipsImpossibleEvents(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l, ref := newEventLog(), newReference()
	good := []comment.Event{l.create("p", "a", "u", "one"), l.create("p", "b", "u", "two")}
	ref.apply(good...)
	mustApply(t, m, good...)
	listAll(t, m, "p", 10) // cached
	before := dump(t, m)
	bad := []comment.Event{
		l.update("p", "ghost", "x"),         // unknown comment
		l.create("q", "a", "v", "again"),    // second creation
		l.update("q", "a", "other picture"), // wrong picture
		l.del("q", "ghost2"),                // unknown comment
	}
	stale := l.update("p", "a", "stale")
	stale.Version = 1
	bad = append(bad, stale)
	bad = append(bad, l.del("p", "b"))
	ref.apply(bad[len(bad)-1])
	late := l.update("p", "b", "after delete")
	bad = append(bad, late)
	mustApply(t, m, bad...)
	if m.Position() != l.pos {
		t.Fatalf("position %d, want %d", m.Position(), l.pos)
	}
	checkAgainst(t, m, ref, 10)
	if page, _, _ := m.List("q", 10, ""); len(page.Comments) != 0 {
		t.Fatalf("picture q has %v", page.Comments)
	}
	if dump(t, m) == before {
		t.Fatal("store unchanged")
	}
}

func TestWaitForPosition(t *testing.T) {
	m := openModel(t, t.TempDir(), Options{})
	l := newEventLog()
	ctx := context.Background()
	if pos, err := m.WaitForPosition(ctx, 0); pos != 0 || err != nil {
		t.Fatalf("WaitForPosition(0) = %d, %v", pos, err)
	}
	type result struct {
		pos uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		pos, err := m.WaitForPosition(ctx, 2)
		done <- result{pos, err}
	}()
	mustApply(t, m, l.create("p", "a", "u", "t"))
	select {
	case r := <-done:
		t.Fatalf("woke at position 1: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
	mustApply(t, m, l.create("p", "b", "u", "t"), l.create("p", "c", "u", "t"))
	if r := <-done; r.pos != 3 || r.err != nil {
		t.Fatalf("WaitForPosition(2) = %+v, want 3", r)
	}

	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if pos, err := m.WaitForPosition(cctx, 4); !errors.Is(err, context.DeadlineExceeded) || pos != 3 {
		t.Fatalf("WaitForPosition with deadline = %d, %v", pos, err)
	}

	go func() {
		pos, err := m.WaitForPosition(ctx, 100)
		done <- result{pos, err}
	}()
	time.Sleep(5 * time.Millisecond)
	m.Close()
	if r := <-done; !errors.Is(r.err, ErrClosed) {
		t.Fatalf("WaitForPosition across Close = %+v, want ErrClosed", r)
	}
	if err := m.Apply([]comment.Event{l.create("p", "d", "u", "t")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if _, _, err := m.List("zzz", 1, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("List (miss) after Close: %v", err)
	}
}

func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	m := openModel(t, dir, Options{})
	if err := m.db.Set(keyFormatVersion, []byte{0, 0, 0, 99}, nil); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m2, err := Open(dir, Options{}); err == nil {
		m2.Close()
		t.Fatal("Open accepted format version 99")
	}

	dir = t.TempDir()
	m = openModel(t, dir, Options{})
	mustApply(t, m, newEventLog().create("p", "c", "u", "t"))
	if err := m.db.Delete(keyFormatVersion, nil); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m2, err := Open(dir, Options{}); err == nil {
		m2.Close()
		t.Fatal("Open accepted a store without format version")
	}
}
