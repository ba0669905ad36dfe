package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// timeRE is the API's timestamp format: RFC 3339, UTC, nine fractional digits.
var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

func checkTime(t *testing.T, what, s string) {
	t.Helper()
	if !timeRE.MatchString(s) {
		t.Fatalf("%s = %q, want RFC 3339 UTC with 9 fractional digits", what, s)
	}
}

func create(t *testing.T, c *apiClient, user, picture, id, text string) commandJSON {
	t.Helper()
	body := map[string]string{"text": text}
	if id != "" {
		body["id"] = id
	}
	r := c.do(t, "POST", commentsPath(picture), user, body)
	var res commandJSON
	expect(t, r, http.StatusCreated, &res)
	if res.Version != 1 || res.PictureID != picture || res.Position == 0 || (id != "" && res.ID != id) {
		t.Fatalf("create answered %+v", res)
	}
	return res
}

func update(t *testing.T, c *apiClient, user, picture, id, text string, hdr ...string) commandJSON {
	t.Helper()
	r := c.do(t, "PATCH", commentPath(picture, id), user, map[string]string{"text": text}, hdr...)
	var res commandJSON
	expect(t, r, http.StatusOK, &res)
	return res
}

func TestLifecycle(t *testing.T) {
	s := startServer(t, t.TempDir())

	// Create.
	r := s.do(t, "POST", commentsPath("p1"), "alice", map[string]string{"text": "  nice\r\npicture  "})
	var cr commandJSON
	expect(t, r, http.StatusCreated, &cr)
	if got := keysOf(t, r.Body); got != "id,pictureId,position,version" {
		t.Fatalf("create body keys = %s", got)
	}
	if cr.PictureID != "p1" || cr.ID == "" || cr.Version != 1 || cr.Position != 1 {
		t.Fatalf("create = %+v, want p1/<id>/1/1", cr)
	}
	if loc, want := r.Header.Get("Location"), commentPath("p1", cr.ID); loc != want {
		t.Fatalf("Location = %q, want %q", loc, want)
	}
	if etag := r.Header.Get("ETag"); etag != `"1"` {
		t.Fatalf("ETag = %q, want \"1\"", etag)
	}

	// Get (read your write).
	r = s.do(t, "GET", fmt.Sprintf("%s?minPosition=%d", commentPath("p1", cr.ID), cr.Position), "", nil)
	var got commentJSON
	expect(t, r, http.StatusOK, &got)
	if keys := keysOf(t, r.Body); keys != "author,createdAt,id,pictureId,text,updatedAt,version" {
		t.Fatalf("comment keys = %s", keys)
	}
	checkTime(t, "createdAt", got.CreatedAt)
	if got.ID != cr.ID || got.PictureID != "p1" || got.Author != "alice" || got.Text != "nice\npicture" ||
		got.Version != 1 || got.UpdatedAt != got.CreatedAt {
		t.Fatalf("get = %+v", got)
	}
	if rp := r.Header.Get("X-Read-Position"); rp != "1" {
		t.Fatalf("X-Read-Position = %q, want 1", rp)
	}

	// Update.
	up := update(t, s.apiClient, "alice", "p1", cr.ID, "nicer")
	if up.Version != 2 || up.Position != 2 || up.ID != cr.ID || up.PictureID != "p1" {
		t.Fatalf("update = %+v", up)
	}
	// Same text: no event, the current version and position.
	same := update(t, s.apiClient, "alice", "p1", cr.ID, " nicer ")
	if same != up {
		t.Fatalf("same-text update = %+v, want %+v", same, up)
	}

	// List.
	r = s.do(t, "GET", commentsPath("p1")+"?minPosition=2", "", nil)
	var l listJSON
	expect(t, r, http.StatusOK, &l)
	if keys := keysOf(t, r.Body); keys != "comments,next,pictureId" {
		t.Fatalf("list keys = %s", keys)
	}
	if l.PictureID != "p1" || len(l.Comments) != 1 || l.Next != nil {
		t.Fatalf("list = %s", r.Body)
	}
	if c := l.Comments[0]; c.Text != "nicer" || c.Version != 2 || c.CreatedAt != got.CreatedAt || c.UpdatedAt <= c.CreatedAt {
		t.Fatalf("listed comment = %+v", c)
	}
	// An empty picture.
	r = s.do(t, "GET", commentsPath("empty"), "", nil)
	expect(t, r, http.StatusOK, &l)
	if l.PictureID != "empty" || len(l.Comments) != 0 || l.Next != nil || !strings.Contains(string(r.Body), `"comments":[]`) {
		t.Fatalf("empty list = %s", r.Body)
	}

	// Delete.
	r = s.do(t, "DELETE", commentPath("p1", cr.ID), "alice", nil)
	var del commandJSON
	expect(t, r, http.StatusOK, &del)
	if del.Version != 3 || del.Position != 3 {
		t.Fatalf("delete = %+v", del)
	}
	if etag := r.Header.Get("ETag"); etag != `"3"` {
		t.Fatalf("delete ETag = %q", etag)
	}
	expectError(t, s.do(t, "GET", commentPath("p1", cr.ID)+"?minPosition=3", "", nil), http.StatusNotFound, "not_found")
	expectError(t, s.do(t, "PATCH", commentPath("p1", cr.ID), "alice", map[string]string{"text": "x"}), http.StatusGone, "gone")
	expectError(t, s.do(t, "DELETE", commentPath("p1", cr.ID), "bob", nil), http.StatusForbidden, "forbidden")

	// History, kept after deletion.
	r = s.do(t, "GET", commentPath("p1", cr.ID)+"/history", "alice", nil)
	var h historyJSON
	expect(t, r, http.StatusOK, &h)
	if h.PictureID != "p1" || h.ID != cr.ID || len(h.Events) != 3 {
		t.Fatalf("history = %s", r.Body)
	}
	wantTypes := []string{"CommentCreated", "CommentTextUpdated", "CommentDeleted"}
	wantText := []string{"nice\npicture", "nicer", ""}
	for i, e := range h.Events {
		checkTime(t, "history at", e.At)
		text := ""
		if e.Text != nil {
			text = *e.Text
		}
		if e.Type != wantTypes[i] || e.Version != uint64(i+1) || e.Position != uint64(i+1) || text != wantText[i] {
			t.Fatalf("history event %d = %+v", i, e)
		}
		if (e.Author == "alice") != (i == 0) {
			t.Fatalf("history event %d author = %q", i, e.Author)
		}
		if i > 0 && e.At < h.Events[i-1].At {
			t.Fatalf("history times decrease: %s", r.Body)
		}
	}

	// The feed carries every event, the deleted comment's text included.
	r = s.do(t, "GET", "/v1/events", "", nil)
	var f feedJSON
	expect(t, r, http.StatusOK, &f)
	if keys := keysOf(t, r.Body); keys != "events,last" {
		t.Fatalf("feed keys = %s", keys)
	}
	if f.Last != 3 || len(f.Events) != 3 {
		t.Fatalf("feed = %s", r.Body)
	}
	for i, e := range f.Events {
		if e.Position != uint64(i+1) || e.Type != wantTypes[i] || e.PictureID != "p1" || e.CommentID != cr.ID ||
			e.Version != uint64(i+1) || e.At != h.Events[i].At {
			t.Fatalf("feed event %d = %+v", i, e)
		}
	}
	if f.Events[0].Author != "alice" || f.Events[0].Text == nil || *f.Events[0].Text != "nice\npicture" {
		t.Fatalf("feed creation = %+v", f.Events[0])
	}
	r = s.do(t, "GET", "/v1/events?after=2&limit=1", "", nil)
	expect(t, r, http.StatusOK, &f)
	if len(f.Events) != 1 || f.Events[0].Position != 3 || f.Last != 3 {
		t.Fatalf("feed after 2 = %s", r.Body)
	}
}

func TestOperationsEndpoints(t *testing.T) {
	s := startServer(t, t.TempDir())
	r := s.do(t, "GET", "/healthz", "", nil)
	expect(t, r, http.StatusOK, nil)
	if string(r.Body) != `{"status":"ok"}` {
		t.Fatalf("healthz = %s", r.Body)
	}
	r = s.do(t, "GET", "/readyz", "", nil)
	expect(t, r, http.StatusOK, nil)
	if string(r.Body) != `{"status":"ready"}` {
		t.Fatalf("readyz = %s", r.Body)
	}
	create(t, s.apiClient, "alice", "p1", "", "hello")
	r = s.do(t, "GET", "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics = %v", r)
	}
	// The runtime's collectors and every package's own metrics, on one
	// registry.
	for _, sample := range []string{
		"go_goroutines ", "process_resident_memory_bytes ",
		"commentd_store_appends_total", "commentd_readmodel_position", "commentd_cache_bytes",
		"commentd_commands_total{", "commentd_projection_position", "commentd_http_requests_total{",
		`commentd_pebble_read_amplification{db="events"}`, `commentd_pebble_read_amplification{db="readmodel"}`,
	} {
		if !strings.Contains(string(r.Body), "\n"+sample) {
			t.Errorf("/metrics lacks %s", sample)
		}
	}
	if strings.Contains(string(r.Body), testSecret) {
		t.Error("/metrics shows the secret")
	}
}

func TestReadYourWrites(t *testing.T) {
	s := startServer(t, t.TempDir())
	var id string
	for i := 0; i < 30; i++ {
		text := fmt.Sprintf("text %d", i)
		var res commandJSON
		if i == 0 {
			res = create(t, s.apiClient, "alice", "p1", "", text)
			id = res.ID
		} else {
			res = update(t, s.apiClient, "alice", "p1", id, text)
		}
		// Immediately after the acknowledgement, both queries reflect it.
		r := s.do(t, "GET", fmt.Sprintf("%s?minPosition=%d", commentPath("p1", id), res.Position), "", nil)
		var c commentJSON
		expect(t, r, http.StatusOK, &c)
		if c.Text != text || c.Version != res.Version {
			t.Fatalf("after write %d: get = %+v, want text %q version %d", i, c, text, res.Version)
		}
		r = s.do(t, "GET", fmt.Sprintf("%s?minPosition=%d&wait=2s", commentsPath("p1"), res.Position), "", nil)
		var l listJSON
		expect(t, r, http.StatusOK, &l)
		if len(l.Comments) != 1 || l.Comments[0].Text != text {
			t.Fatalf("after write %d: list = %s", i, r.Body)
		}
		if rp, err := strconv.ParseUint(r.Header.Get("X-Read-Position"), 10, 64); err != nil || rp < res.Position {
			t.Fatalf("X-Read-Position %q below %d", r.Header.Get("X-Read-Position"), res.Position)
		}
	}
	// A position the log has not reached is stale after the wait.
	r := s.do(t, "GET", commentsPath("p1")+"?minPosition=1000&wait=50ms", "", nil)
	expectError(t, r, http.StatusServiceUnavailable, "stale")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("X-Read-Position") != "30" {
		t.Fatalf("stale headers: %v", r.Header)
	}
}

func TestCreateRetry(t *testing.T) {
	s := startServer(t, t.TempDir())
	first := s.do(t, "POST", commentsPath("p1"), "alice", map[string]string{"id": "c1", "text": "hello"})
	expect(t, first, http.StatusCreated, nil)
	update(t, s.apiClient, "alice", "p1", "c1", "changed since")

	// The same create again answers 200 with the original body.
	again := s.do(t, "POST", commentsPath("p1"), "alice", map[string]string{"id": "c1", "text": " hello "})
	expect(t, again, http.StatusOK, nil)
	if string(again.Body) != string(first.Body) {
		t.Fatalf("retry body = %s, want %s", again.Body, first.Body)
	}
	for _, tc := range []struct {
		name          string
		user, picture string
		text          string
	}{
		{"other text", "alice", "p1", "bye"},
		{"other user", "bob", "p1", "hello"},
		{"other picture", "alice", "p2", "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, "POST", commentsPath(tc.picture), tc.user, map[string]string{"id": "c1", "text": tc.text})
			expectError(t, r, http.StatusConflict, "conflict")
		})
	}
	// Server-picked ids sort in creation order.
	var prev string
	for i := 0; i < 5; i++ {
		id := create(t, s.apiClient, "alice", "p3", "", "x").ID
		if id <= prev {
			t.Fatalf("server id %q does not sort after %q", id, prev)
		}
		prev = id
	}
}

func TestIfMatch(t *testing.T) {
	s := startServer(t, t.TempDir())
	create(t, s.apiClient, "alice", "p1", "c1", "v1")
	if res := update(t, s.apiClient, "alice", "p1", "c1", "v2", "If-Match", `"1"`); res.Version != 2 {
		t.Fatalf("update with If-Match \"1\" = %+v", res)
	}
	if res := update(t, s.apiClient, "alice", "p1", "c1", "v3", "If-Match", "2"); res.Version != 3 {
		t.Fatalf("update with If-Match 2 = %+v", res)
	}
	// Stale version, even with the same text.
	for _, text := range []string{"v4", "v3"} {
		r := s.do(t, "PATCH", commentPath("p1", "c1"), "alice", map[string]string{"text": text}, "If-Match", `"2"`)
		expectError(t, r, http.StatusPreconditionFailed, "precondition_failed")
	}
	for _, bad := range []string{"*", `W/"3"`, `"3", "4"`, "three"} {
		r := s.do(t, "PATCH", commentPath("p1", "c1"), "alice", map[string]string{"text": "v4"}, "If-Match", bad)
		expectError(t, r, http.StatusBadRequest, "invalid_argument")
	}
	expectError(t, s.do(t, "DELETE", commentPath("p1", "c1"), "alice", nil, "If-Match", `"1"`), http.StatusPreconditionFailed, "precondition_failed")
	// A stranger gets 403 before 412.
	expectError(t, s.do(t, "DELETE", commentPath("p1", "c1"), "bob", nil, "If-Match", `"1"`), http.StatusForbidden, "forbidden")
	r := s.do(t, "DELETE", commentPath("p1", "c1"), "alice", nil, "If-Match", `"3"`)
	var del commandJSON
	expect(t, r, http.StatusOK, &del)
	if del.Version != 4 {
		t.Fatalf("delete = %+v", del)
	}
	// Deleted wins over a stale version.
	expectError(t, s.do(t, "DELETE", commentPath("p1", "c1"), "alice", nil, "If-Match", `"1"`), http.StatusGone, "gone")
}

func TestHistoryAuthorisation(t *testing.T) {
	s := startServer(t, t.TempDir())
	create(t, s.apiClient, "alice", "p1", "c1", "hello")
	path := commentPath("p1", "c1") + "/history"
	expectError(t, s.do(t, "GET", path, "", nil), http.StatusUnauthorized, "unauthenticated")
	expectError(t, s.do(t, "GET", path, "", nil, "Authorization", "Bearer not-a-token"), http.StatusUnauthorized, "unauthenticated")
	expectError(t, s.do(t, "GET", path, "bob", nil), http.StatusForbidden, "forbidden")
	expectError(t, s.do(t, "GET", commentPath("p2", "c1")+"/history", "alice", nil), http.StatusNotFound, "not_found")
	expectError(t, s.do(t, "GET", commentPath("p1", "nope")+"/history", "alice", nil), http.StatusNotFound, "not_found")
	var h historyJSON
	expect(t, s.do(t, "GET", path, "alice", nil), http.StatusOK, &h)
	if len(h.Events) != 1 || h.Events[0].Author != "alice" {
		t.Fatalf("history = %+v", h)
	}
	// A token signed with another secret is not valid.
	other := newAPIClient(s.base, []byte("another secret"))
	expectError(t, other.do(t, "GET", path, "alice", nil), http.StatusUnauthorized, "unauthenticated")
}

func TestQueryAuth(t *testing.T) {
	s := startServer(t, t.TempDir(), "--query-auth")
	create(t, s.apiClient, "alice", "p1", "c1", "hello")
	for _, path := range []string{commentsPath("p1"), commentPath("p1", "c1"), "/v1/events"} {
		expectError(t, s.do(t, "GET", path, "", nil), http.StatusUnauthorized, "unauthenticated")
		expect(t, s.do(t, "GET", path+"?minPosition=1", "bob", nil), http.StatusOK, nil)
	}
	expect(t, s.do(t, "GET", "/healthz", "", nil), http.StatusOK, nil)
}

func TestPagination(t *testing.T) {
	s := startServer(t, t.TempDir())
	var want []string
	for i := 0; i < 11; i++ {
		res := create(t, s.apiClient, "alice", "p1", fmt.Sprintf("c%02d", 10-i), fmt.Sprintf("text %d", i))
		want = append(want, res.ID)
		create(t, s.apiClient, "bob", "other", "", "noise")
	}
	// Delete one in the middle: it disappears from the pages.
	r := s.do(t, "DELETE", commentPath("p1", want[4]), "alice", nil)
	var del commandJSON
	expect(t, r, http.StatusOK, &del)
	last := del.Position
	want = append(want[:4], want[5:]...)

	var got []string
	cursor := ""
	pages := 0
	for {
		q := url.Values{"limit": {"3"}, "minPosition": {fmt.Sprint(last)}}
		if cursor != "" {
			q.Set("after", cursor)
		}
		r := s.do(t, "GET", commentsPath("p1")+"?"+q.Encode(), "", nil)
		var l listJSON
		expect(t, r, http.StatusOK, &l)
		if len(l.Comments) > 3 {
			t.Fatalf("page of %d comments with limit 3", len(l.Comments))
		}
		for _, c := range l.Comments {
			got = append(got, c.ID)
		}
		pages++
		if l.Next == nil {
			break
		}
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		cursor = *l.Next
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("paged ids = %v, want (creation order) %v", got, want)
	}
	if pages < 4 {
		t.Fatalf("%d pages for 10 comments at limit 3", pages)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "after=%25%25garbage"} {
		expectError(t, s.do(t, "GET", commentsPath("p1")+"?"+q, "", nil), http.StatusBadRequest, "invalid_argument")
	}
}

func TestFeedLongPoll(t *testing.T) {
	s := startServer(t, t.TempDir())
	create(t, s.apiClient, "alice", "p1", "c1", "first")

	type answer struct {
		r   response
		err error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		r, err := s.call(context.Background(), "GET", "/v1/events?after=1&wait=5s", "", nil)
		done <- answer{r, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("long-poll answered before any event: %v %v", a.r, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	res := create(t, s.apiClient, "bob", "p1", "c2", "second")
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	var f feedJSON
	expect(t, a.r, http.StatusOK, &f)
	if len(f.Events) != 1 || f.Events[0].CommentID != "c2" || f.Events[0].Position != res.Position || f.Last != res.Position {
		t.Fatalf("long-poll answer = %s", a.r.Body)
	}
	if waited := time.Since(start); waited >= 5*time.Second {
		t.Fatalf("long-poll answered after its whole wait (%v), not on the event", waited)
	}
	// Nothing new: an empty list once the wait ends.
	r := s.do(t, "GET", fmt.Sprintf("/v1/events?after=%d&wait=100ms", res.Position), "", nil)
	expect(t, r, http.StatusOK, &f)
	if len(f.Events) != 0 || f.Last != res.Position || !strings.Contains(string(r.Body), `"events":[]`) {
		t.Fatalf("empty long-poll = %s", r.Body)
	}
	for _, q := range []string{"limit=0", "limit=1001", "wait=61s", "wait=forever", "after=-1"} {
		expectError(t, s.do(t, "GET", "/v1/events?"+q, "", nil), http.StatusBadRequest, "invalid_argument")
	}
}

// writeSome writes a mix of creates, updates and deletes by three users on
// three pictures and answers the last position.
func writeSome(t *testing.T, c *apiClient, n int) uint64 {
	t.Helper()
	type ref struct{ user, picture, id string }
	var last uint64
	var live []ref
	for i := 0; i < n; i++ {
		user := fmt.Sprintf("u%d", i%3)
		picture := fmt.Sprintf("p%d", i%3)
		switch {
		case i%5 == 3 && len(live) > 0:
			x := live[len(live)/2]
			live = append(live[:len(live)/2], live[len(live)/2+1:]...)
			r := c.do(t, "DELETE", commentPath(x.picture, x.id), x.user, nil)
			var res commandJSON
			expect(t, r, http.StatusOK, &res)
			last = res.Position
		case i%5 == 4 && len(live) > 0:
			x := live[0]
			last = update(t, c, x.user, x.picture, x.id, fmt.Sprintf("comment %d, edited", i)).Position
		default:
			res := create(t, c, user, picture, "", fmt.Sprintf("comment %d ✓", i))
			live = append(live, ref{user, picture, res.ID})
			last = res.Position
		}
	}
	return last
}

// dump is everything the queries show: each picture's full list and the feed.
type dump struct {
	Lists map[string][]commentJSON
	Feed  []feedEventJSON
	Last  uint64
}

func takeDump(t *testing.T, c *apiClient, minPosition uint64, pictures ...string) dump {
	t.Helper()
	d := dump{Lists: map[string][]commentJSON{}}
	for _, p := range pictures {
		l, err := c.listAll(context.Background(), p, minPosition, 2)
		if err != nil {
			t.Fatal(err)
		}
		d.Lists[p] = l
	}
	var err error
	if d.Feed, d.Last, err = c.feedAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := checkGapFree(d.Feed, d.Last); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	last := writeSome(t, s.apiClient, 20)
	before := takeDump(t, s.apiClient, last, "p0", "p1", "p2")
	s.stop(t)

	s = startServer(t, dir)
	after := takeDump(t, s.apiClient, last, "p0", "p1", "p2")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed across a restart:\nbefore %+v\nafter  %+v", before, after)
	}
	// Positions continue where the log ended.
	res := create(t, s.apiClient, "alice", "p0", "", "after restart")
	if res.Position != last+1 {
		t.Fatalf("first position after restart = %d, want %d", res.Position, last+1)
	}
}

func TestReadModelRebuild(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	last := writeSome(t, s.apiClient, 30)
	before := takeDump(t, s.apiClient, last, "p0", "p1", "p2")
	s.stop(t)

	if err := os.RemoveAll(filepath.Join(dir, "readmodel")); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, dir)
	// Ready means caught up with the log as it was at start: no minPosition.
	after := takeDump(t, s.apiClient, 0, "p0", "p1", "p2")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("rebuilt read model differs:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, err := os.Stat(filepath.Join(dir, "readmodel")); err != nil {
		t.Fatalf("read model not recreated: %v", err)
	}
}

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	s := startServerWith(t, dir, "") // generates <dir>/auth-secret

	var stdout, stderr strings.Builder
	noEnv := func(string) string { return "" }
	if code := run([]string{"token", "--user", "alice", "--data", dir}, noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("token exit %d: %s", code, stderr.String())
	}
	token := strings.TrimSpace(stdout.String())
	r := s.do(t, "POST", commentsPath("p1"), "", map[string]string{"text": "with a minted token"}, "Authorization", "Bearer "+token)
	expect(t, r, http.StatusCreated, nil)

	// The environment names the data directory when --data is absent; a
	// flag beats the environment.
	env := func(k string) string {
		if k == "COMMENTS_DATA" {
			return dir
		}
		return ""
	}
	stdout.Reset()
	if code := run([]string{"token", "--user", "bob", "--ttl", "1m"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("token exit %d: %s", code, stderr.String())
	}
	r = s.do(t, "GET", commentsPath("p1"), "", nil, "Authorization", "Bearer "+strings.TrimSpace(stdout.String()))
	expect(t, r, http.StatusOK, nil)
	r = s.do(t, "PATCH", commentPath("p1", "nope"), "", map[string]string{"text": "x"}, "Authorization", "Bearer "+strings.TrimSpace(stdout.String()))
	expectError(t, r, http.StatusNotFound, "not_found")

	// --auth-secret beats the file: that token is not valid here.
	stdout.Reset()
	if code := run([]string{"token", "--user", "alice", "--data", dir, "--auth-secret", "other"}, noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("token exit %d: %s", code, stderr.String())
	}
	r = s.do(t, "POST", commentsPath("p1"), "", map[string]string{"text": "x"}, "Authorization", "Bearer "+strings.TrimSpace(stdout.String()))
	expectError(t, r, http.StatusUnauthorized, "unauthenticated")

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"bad user", []string{"token", "--user", "al ice", "--data", dir}, 2},
		{"missing user", []string{"token", "--data", dir}, 2},
		{"long user", []string{"token", "--user", strings.Repeat("a", 129), "--data", dir}, 2},
		{"bad ttl", []string{"token", "--user", "alice", "--ttl", "soon", "--data", dir}, 2},
		{"stray argument", []string{"token", "--user", "alice", "--data", dir, "extra"}, 2},
		{"no secret", []string{"token", "--user", "alice", "--data", t.TempDir()}, 1},
		{"unknown command", []string{"frobnicate"}, 2},
		{"no command", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := run(tc.args, noEnv, &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errOut.String())
			}
			if out.Len() != 0 || errOut.Len() == 0 {
				t.Fatalf("stdout %q, stderr %q: want a message on stderr only", out.String(), errOut.String())
			}
		})
	}
}

func TestSafeDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServerWith(t, dir, "")

	info, err := os.Stat(filepath.Join(dir, SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("secret file mode = %o, want 600", perm)
	}
	info, err = os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Fatalf("data dir mode = %o, want 700", perm)
	}
	secret, err := readSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 64 {
		t.Fatalf("generated secret has %d hex characters, want 64", len(secret))
	}

	// Use tokens, valid and not, then look for them in the logs.
	create(t, s.apiClient, "alice", "p1", "c1", "hello")
	s.do(t, "GET", commentPath("p1", "c1")+"/history", "bob", nil)
	s.do(t, "POST", commentsPath("p1"), "", map[string]string{"text": "x"}, "Authorization", "Bearer forged.token.value")
	s.stop(t)
	logs := s.logs.String()
	for _, leak := range []string{string(secret), s.token("alice"), s.token("bob"), "forged.token.value"} {
		if strings.Contains(logs, leak) {
			t.Fatalf("the logs contain a secret or token %q", leak)
		}
	}
	if !strings.Contains(logs, `"msg":"listening"`) {
		t.Fatalf("no structured log lines: %s", logs)
	}

	// A restart reuses the secret.
	s = startServerWith(t, dir, "")
	if string(s.secret) != string(secret) {
		t.Fatal("secret changed across a restart")
	}
	create(t, s.apiClient, "alice", "p1", "c2", "still valid")
}

func TestFlags(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(Config) bool
		usage bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.Addr == "127.0.0.1:8080" && c.DataDir == "./data" && c.AuthSecret == "" && !c.QueryAuth
		}, false},
		{"env", nil, map[string]string{"COMMENTS_ADDR": ":9", "COMMENTS_DATA": "/d", "COMMENTS_AUTH_SECRET": "s", "COMMENTS_QUERY_AUTH": "1"},
			func(c Config) bool { return c.Addr == ":9" && c.DataDir == "/d" && c.AuthSecret == "s" && c.QueryAuth }, false},
		{"query auth true", nil, map[string]string{"COMMENTS_QUERY_AUTH": "true"}, func(c Config) bool { return c.QueryAuth }, false},
		{"flag beats env", []string{"--addr", ":7", "--query-auth=false", "--data", "/f"},
			map[string]string{"COMMENTS_ADDR": ":9", "COMMENTS_QUERY_AUTH": "1", "COMMENTS_DATA": "/d"},
			func(c Config) bool { return c.Addr == ":7" && !c.QueryAuth && c.DataDir == "/f" }, false},
		{"empty env is unset", nil, map[string]string{"COMMENTS_ADDR": "", "COMMENTS_QUERY_AUTH": ""},
			func(c Config) bool { return c.Addr == DefaultAddr && !c.QueryAuth }, false},
		{"extras", []string{"--cache-bytes", "16MiB", "--idle-timeout", "30s", "--log-level", "warn", "--log-format", "text"},
			map[string]string{"COMMENTS_MAX_IN_FLIGHT": "100"},
			func(c Config) bool {
				return c.CacheBytes == 16<<20 && c.IdleTimeout == 30*time.Second && c.LogLevel.String() == "WARN" &&
					c.LogFormat == "text" && c.MaxInFlight == 100
			}, false},
		{"flag hides a bad env value", []string{"--max-actors", "3", "--query-auth"},
			map[string]string{"COMMENTS_MAX_ACTORS": "abc", "COMMENTS_QUERY_AUTH": "maybe"},
			func(c Config) bool { return c.MaxActors == 3 && c.QueryAuth }, false},
		{"bad env bool", nil, map[string]string{"COMMENTS_QUERY_AUTH": "maybe"}, nil, true},
		{"bad duration", []string{"--idle-timeout", "soon"}, nil, nil, true},
		{"bad level", []string{"--log-level", "loud"}, nil, nil, true},
		{"unknown flag", []string{"--nope"}, nil, nil, true},
		{"stray argument", []string{"extra"}, nil, nil, true},
		{"empty addr", []string{"--addr", ""}, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			m.Stderr = &strings.Builder{}
			err := m.ParseFlags(tc.args, env(tc.env))
			if tc.usage {
				if !IsUsageError(err) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(m.Config) {
				t.Fatalf("config = %+v", m.Config)
			}
		})
	}
	// Usage errors exit 2 through run.
	var out, errOut strings.Builder
	if code := run([]string{"serve", "--addr"}, env(nil), &out, &errOut); code != 2 {
		t.Fatalf("serve with a bad flag exited %d, want 2", code)
	}
}

// TestConcurrentCommandsOneComment checks that concurrent updates to one
// comment each get their own version and that the versions are contiguous.
func TestConcurrentCommandsOneComment(t *testing.T) {
	s := startServer(t, t.TempDir())
	create(t, s.apiClient, "alice", "p1", "c1", "start")
	var wg sync.WaitGroup
	versions := make(chan uint64, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				r, err := s.call(context.Background(), "PATCH", commentPath("p1", "c1"), "alice", map[string]string{"text": fmt.Sprintf("w%d-%d", w, i)})
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("update: %v %v", r, err)
					return
				}
				var res commandJSON
				if err := decodeStrict(r.Body, &res); err != nil {
					t.Error(err)
					return
				}
				versions <- res.Version
			}
		}()
	}
	wg.Wait()
	close(versions)
	seen := map[uint64]bool{}
	for v := range versions {
		if seen[v] {
			t.Fatalf("version %d acknowledged twice", v)
		}
		seen[v] = true
	}
	for v := uint64(2); v <= 65; v++ {
		if !seen[v] {
			t.Fatalf("version %d missing among %d acknowledgements", v, len(seen))
		}
	}
}

// TestStartFailures checks that a start that cannot succeed fails with an
// error (exit status 1), releases what it opened, and leaves the running
// server alone.
func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"data dir in use", []string{"--addr", "127.0.0.1:0", "--data", dir}},
		{"data dir is a file", []string{"--addr", "127.0.0.1:0", "--data", file}},
		{"address in use", []string{"--addr", s.m.Addr(), "--data", t.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			args := append([]string{"serve", "--auth-secret", "s", "--log-level", "error"}, tc.args...)
			if code := run(args, func(string) string { return "" }, &out, &errOut); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), "commentd serve:") {
				t.Fatalf("no error message: %s", errOut.String())
			}
		})
	}
	// The first server still serves.
	create(t, s.apiClient, "alice", "p1", "", "still here")
}

// TestCloseStopsEverything checks that Close ends every goroutine Run
// started.
func TestCloseStopsEverything(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := startServer(t, t.TempDir())
	res := create(t, s.apiClient, "alice", "p1", "", "hello")
	expect(t, s.do(t, "GET", fmt.Sprintf("%s?minPosition=%d", commentsPath("p1"), res.Position), "", nil), http.StatusOK, nil)
	expect(t, s.do(t, "GET", "/v1/events?after=0&wait=1s", "", nil), http.StatusOK, nil)
	s.stop(t)
	if err := s.m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// fasthttp keeps one process-wide clock goroutine, and its worker
	// pool's cleaner notices the stop only after its sleep.
	if err := goleak.Find(ignore,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	); err != nil {
		t.Fatal(err)
	}
}

// TestErrorTable walks API.md's error table through the real server.
func TestErrorTable(t *testing.T) {
	s := startServer(t, t.TempDir())
	create(t, s.apiClient, "alice", "p1", "c1", "hello")
	create(t, s.apiClient, "alice", "p1", "gone", "bye")
	expect(t, s.do(t, "DELETE", commentPath("p1", "gone"), "alice", nil), http.StatusOK, nil)

	raw := func(method, path, user, contentType, body string) response {
		t.Helper()
		req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if user != "" {
			req.Header.Set("Authorization", "Bearer "+s.token(user))
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(b.String())}
	}
	json := "application/json"
	for _, tc := range []struct {
		name   string
		r      func() response
		status int
		code   string
	}{
		{"malformed json", func() response { return raw("POST", commentsPath("p1"), "alice", json, `{"text":`) }, 400, "invalid_argument"},
		{"unknown field", func() response { return raw("POST", commentsPath("p1"), "alice", json, `{"text":"x","x":1}`) }, 400, "invalid_argument"},
		{"bad picture id", func() response { return raw("POST", commentsPath("p.1"), "alice", json, `{"text":"x"}`) }, 400, "invalid_argument"},
		{"empty text", func() response { return raw("POST", commentsPath("p1"), "alice", json, `{"text":"  "}`) }, 400, "invalid_argument"},
		{"bidi override", func() response { return raw("POST", commentsPath("p1"), "alice", json, `{"text":"a\u202eb"}`) }, 400, "invalid_argument"},
		{"no token", func() response { return raw("POST", commentsPath("p1"), "", json, `{"text":"x"}`) }, 401, "unauthenticated"},
		{"stranger", func() response { return raw("PATCH", commentPath("p1", "c1"), "bob", json, `{"text":"x"}`) }, 403, "forbidden"},
		{"stranger on deleted", func() response { return raw("DELETE", commentPath("p1", "gone"), "bob", "", "") }, 403, "forbidden"},
		{"unknown route", func() response { return raw("GET", "/v2/nothing", "", "", "") }, 404, "not_found"},
		{"unknown comment", func() response { return raw("PATCH", commentPath("p1", "nope"), "alice", json, `{"text":"x"}`) }, 404, "not_found"},
		{"other picture", func() response { return raw("GET", commentPath("p2", "c1"), "", "", "") }, 404, "not_found"},
		{"wrong method", func() response { return raw("PUT", commentPath("p1", "c1"), "alice", json, `{"text":"x"}`) }, 405, "method_not_allowed"},
		{"conflict", func() response { return raw("POST", commentsPath("p1"), "alice", json, `{"id":"c1","text":"other"}`) }, 409, "conflict"},
		{"gone", func() response { return raw("PATCH", commentPath("p1", "gone"), "alice", json, `{"text":"x"}`) }, 410, "gone"},
		{"stale if-match", func() response {
			return s.do(t, "PATCH", commentPath("p1", "c1"), "alice", map[string]string{"text": "x"}, "If-Match", `"7"`)
		}, 412, "precondition_failed"},
		{"too large", func() response {
			return raw("POST", commentsPath("p1"), "alice", json, `{"text":"`+strings.Repeat("a", 65<<10)+`"}`)
		}, 413, "payload_too_large"},
		{"not json", func() response { return raw("POST", commentsPath("p1"), "alice", "text/plain", `{"text":"x"}`) }, 415, "unsupported_media_type"},
		{"stale read", func() response { return raw("GET", commentsPath("p1")+"?minPosition=99&wait=10ms", "", "", "") }, 503, "stale"},
	} {
		t.Run(tc.name, func(t *testing.T) { expectError(t, tc.r(), tc.status, tc.code) })
	}
}

// TestOverloaded checks that commands beyond --max-in-flight are refused
// with 503 overloaded and Retry-After, and that nothing acknowledged is lost.
func TestOverloaded(t *testing.T) {
	s := startServer(t, t.TempDir(), "--max-in-flight", "1")
	var (
		mu         sync.Mutex
		overloaded response
		acked      []commandJSON
	)
	for burst := 0; burst < 20 && overloaded.Status == 0; burst++ {
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.call(context.Background(), "POST", commentsPath("p1"), "alice", map[string]string{"text": "flood"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch r.Status {
				case http.StatusCreated:
					var res commandJSON
					if err := decodeStrict(r.Body, &res); err != nil {
						t.Error(err)
					}
					acked = append(acked, res)
				case http.StatusServiceUnavailable:
					overloaded = r
				default:
					t.Errorf("flood answer %v", r)
				}
			}()
		}
		wg.Wait()
	}
	t.Logf("%d commands acknowledged before the first refusal", len(acked))
	if overloaded.Status == 0 {
		t.Fatal("20 bursts of 32 concurrent commands with --max-in-flight 1: none refused")
	}
	expectError(t, overloaded, http.StatusServiceUnavailable, "overloaded")
	if overloaded.Header.Get("Retry-After") == "" {
		t.Fatal("overloaded answer without Retry-After")
	}
	var last uint64
	for _, a := range acked {
		last = max(last, a.Position)
	}
	got, err := s.listAll(context.Background(), "p1", last, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(acked) {
		t.Fatalf("%d comments listed, %d acknowledged", len(got), len(acked))
	}
}
