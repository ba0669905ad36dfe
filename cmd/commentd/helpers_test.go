package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commentd/commentd/httpapi"
)

// testSecret is the token secret of the servers the tests start, unless a
// test wants a generated one.
const testSecret = "end-to-end-test-secret"

// syncBuffer is a bytes.Buffer safe for a writer and readers in different
// goroutines (the logger and the test).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a Main started in-process on 127.0.0.1:0.
type testServer struct {
	*apiClient
	m    *Main
	dir  string
	logs *syncBuffer
}

// startServer starts Main on dir with the test secret and waits until it is
// ready. It is closed at the end of the test.
func startServer(t *testing.T, dir string, args ...string) *testServer {
	t.Helper()
	return startServerWith(t, dir, testSecret, args...)
}

// startServerWith is startServer with the given secret; "" lets the server
// generate (or reuse) <dir>/auth-secret.
func startServerWith(t *testing.T, dir, secret string, args ...string) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	m := NewMain()
	m.Stderr = logs
	base := []string{"--addr", "127.0.0.1:0", "--data", dir, "--log-level", "debug", "--shutdown-timeout", "5s"}
	if err := m.ParseFlags(append(base, args...), func(string) string { return "" }); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	m.Config.AuthSecret = secret
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatalf("Run: %v\nlogs:\n%s", err, logs)
	}
	key := []byte(secret)
	if len(key) == 0 {
		var err error
		if key, err = readSecret(dir); err != nil {
			m.Close()
			t.Fatal(err)
		}
	}
	s := &testServer{apiClient: newAPIClient("http://"+m.Addr(), key), m: m, dir: dir, logs: logs}
	t.Cleanup(func() {
		s.hc.CloseIdleConnections()
		m.Close()
	})
	if err := s.waitReady(ctx); err != nil {
		t.Fatalf("server not ready: %v\nlogs:\n%s", err, logs)
	}
	return s
}

// stop closes the server now and fails the test on a shutdown error.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	s.hc.CloseIdleConnections()
	if err := s.m.Close(); err != nil {
		t.Fatalf("Close: %v\nlogs:\n%s", err, s.logs)
	}
}

// apiClient speaks the HTTP API with net/http.
type apiClient struct {
	base   string
	secret []byte
	hc     *http.Client

	mu     sync.Mutex
	tokens map[string]string
}

func newAPIClient(base string, secret []byte) *apiClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	return &apiClient{
		base:   base,
		secret: secret,
		hc:     &http.Client{Transport: tr, Timeout: 30 * time.Second},
		tokens: map[string]string{},
	}
}

// token is a cached valid token for user.
func (c *apiClient) token(user string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok, ok := c.tokens[user]; ok {
		return tok
	}
	tok, err := httpapi.SignToken(c.secret, user, time.Hour)
	if err != nil {
		panic(err)
	}
	c.tokens[user] = tok
	return tok
}

// response is one HTTP answer, body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// call sends one request. user "" sends no token; body nil sends no body;
// hdr adds headers (key/value pairs).
func (c *apiClient) call(ctx context.Context, method, path, user string, body any, hdr ...string) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+c.token(user))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// do is call that fails the test on a transport error.
func (c *apiClient) do(t *testing.T, method, path, user string, body any, hdr ...string) response {
	t.Helper()
	r, err := c.call(context.Background(), method, path, user, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// waitReady polls /readyz until it answers 200.
func (c *apiClient) waitReady(ctx context.Context) error {
	for {
		r, err := c.call(ctx, "GET", "/readyz", "", nil)
		if err == nil && r.Status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v %v)", ctx.Err(), r, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The API's JSON shapes.

type commandJSON struct {
	PictureID string `json:"pictureId"`
	ID        string `json:"id"`
	Version   uint64 `json:"version"`
	Position  uint64 `json:"position"`
}

type commentJSON struct {
	ID        string `json:"id"`
	PictureID string `json:"pictureId"`
	Author    string `json:"author"`
	Text      string `json:"text"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
	Version   uint64 `json:"version"`
}

type listJSON struct {
	PictureID string        `json:"pictureId"`
	Comments  []commentJSON `json:"comments"`
	Next      *string       `json:"next"`
}

type historyJSON struct {
	PictureID string             `json:"pictureId"`
	ID        string             `json:"id"`
	Events    []historyEventJSON `json:"events"`
}

type historyEventJSON struct {
	Type     string  `json:"type"`
	Version  uint64  `json:"version"`
	Position uint64  `json:"position"`
	At       string  `json:"at"`
	Author   string  `json:"author,omitempty"`
	Text     *string `json:"text,omitempty"`
}

type feedJSON struct {
	Events []feedEventJSON `json:"events"`
	Last   uint64          `json:"last"`
}

type feedEventJSON struct {
	Position  uint64  `json:"position"`
	Type      string  `json:"type"`
	PictureID string  `json:"pictureId"`
	CommentID string  `json:"commentId"`
	Version   uint64  `json:"version"`
	At        string  `json:"at"`
	Author    string  `json:"author,omitempty"`
	Text      *string `json:"text,omitempty"`
}

type errorJSON struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeStrict decodes body into v, rejecting unknown fields and trailing
// data: the answer must have exactly the contract's shape.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", body, err)
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON in %s", body)
	}
	return nil
}

// expect checks the status and decodes the body strictly into v (if not nil).
func expect(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	if v != nil {
		if err := decodeStrict(r.Body, v); err != nil {
			t.Fatal(err)
		}
	}
}

// expectError checks an error answer's status and code.
func expectError(t *testing.T, r response, status int, code string) {
	t.Helper()
	var e errorJSON
	expect(t, r, status, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %+v, want code %q with a message", e.Error, code)
	}
}

// keysOf answers the sorted keys of the JSON object in body.
func keysOf(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %s", body)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return strings.Join(keys, ",")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// commentsPath is the collection path of a picture.
func commentsPath(picture string) string { return "/v1/pictures/" + picture + "/comments" }

// commentPath is the path of one comment.
func commentPath(picture, id string) string { return commentsPath(picture) + "/" + id }

// listAll reads every page of a picture's comments at minPosition.
func (c *apiClient) listAll(ctx context.Context, picture string, minPosition uint64, limit int) ([]commentJSON, error) {
	var all []commentJSON
	cursor := ""
	for page := 0; ; page++ {
		if page > 100000 {
			return nil, fmt.Errorf("list of %s does not end", picture)
		}
		q := url.Values{}
		q.Set("limit", fmt.Sprint(limit))
		q.Set("minPosition", fmt.Sprint(minPosition))
		q.Set("wait", "10s")
		if cursor != "" {
			q.Set("after", cursor)
		}
		r, err := c.call(ctx, "GET", commentsPath(picture)+"?"+q.Encode(), "", nil)
		if err != nil {
			return nil, err
		}
		if r.Status != http.StatusOK {
			return nil, fmt.Errorf("list %s: %v", picture, r)
		}
		var l listJSON
		if err := decodeStrict(r.Body, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Comments...)
		if l.Next == nil {
			return all, nil
		}
		cursor = *l.Next
	}
}

// feedAll reads the whole event feed from position 1 on.
func (c *apiClient) feedAll(ctx context.Context) ([]feedEventJSON, uint64, error) {
	var all []feedEventJSON
	var after, last uint64
	for {
		r, err := c.call(ctx, "GET", fmt.Sprintf("/v1/events?after=%d&limit=1000", after), "", nil)
		if err != nil {
			return nil, 0, err
		}
		if r.Status != http.StatusOK {
			return nil, 0, fmt.Errorf("feed after %d: %v", after, r)
		}
		var f feedJSON
		if err := decodeStrict(r.Body, &f); err != nil {
			return nil, 0, err
		}
		last = f.Last
		all = append(all, f.Events...)
		if len(f.Events) == 0 {
			return all, last, nil
		}
		after = f.Events[len(f.Events)-1].Position
		if after >= last {
			return all, last, nil
		}
	}
}

// checkGapFree checks that the feed holds positions 1..last exactly.
func checkGapFree(events []feedEventJSON, last uint64) error {
	if uint64(len(events)) != last {
		return fmt.Errorf("feed has %d events, last = %d", len(events), last)
	}
	for i, e := range events {
		if e.Position != uint64(i+1) {
			return fmt.Errorf("feed event %d has position %d", i, e.Position)
		}
	}
	return nil
}

// foldedComment is a comment as the event log says it is.
type foldedComment struct {
	PictureID, ID, Author, Text string
	Version                     uint64
	Deleted                     bool
	Order                       int // index of the creation in the feed
}

// foldFeed folds the feed into the comments' states, checking that versions
// are contiguous per comment.
func foldFeed(events []feedEventJSON) (map[string]*foldedComment, error) {
	m := map[string]*foldedComment{}
	for i, e := range events {
		c := m[e.CommentID]
		switch e.Type {
		case "CommentCreated":
			if c != nil {
				return nil, fmt.Errorf("position %d: %s created twice", e.Position, e.CommentID)
			}
			if e.Text == nil {
				return nil, fmt.Errorf("position %d: creation without text", e.Position)
			}
			c = &foldedComment{PictureID: e.PictureID, ID: e.CommentID, Author: e.Author, Text: *e.Text, Order: i}
			m[e.CommentID] = c
		case "CommentTextUpdated", "CommentDeleted":
			if c == nil || c.Deleted {
				return nil, fmt.Errorf("position %d: %s on missing or deleted %s", e.Position, e.Type, e.CommentID)
			}
			if e.Type == "CommentDeleted" {
				c.Deleted = true
			} else if e.Text == nil {
				return nil, fmt.Errorf("position %d: update without text", e.Position)
			} else {
				c.Text = *e.Text
			}
		default:
			return nil, fmt.Errorf("position %d: unknown event type %q", e.Position, e.Type)
		}
		if e.Version != c.Version+1 {
			return nil, fmt.Errorf("position %d: %s version %d after %d", e.Position, e.CommentID, e.Version, c.Version)
		}
		c.Version = e.Version
	}
	return m, nil
}

// checkConverged checks that the read model, read at minPosition=last,
// shows exactly the live comments of the fold, per picture in creation
// order, with the right text and version.
func (c *apiClient) checkConverged(ctx context.Context, fold map[string]*foldedComment, last uint64) (checked int, err error) {
	byPicture := map[string][]*foldedComment{}
	for _, fc := range fold {
		byPicture[fc.PictureID] = append(byPicture[fc.PictureID], fc)
	}
	for picture, fcs := range byPicture {
		var live []*foldedComment
		for _, fc := range fcs {
			if !fc.Deleted {
				live = append(live, fc)
			}
		}
		sortByOrder(live)
		got, err := c.listAll(ctx, picture, last, 500)
		if err != nil {
			return checked, err
		}
		if len(got) != len(live) {
			return checked, fmt.Errorf("picture %s lists %d comments, the log has %d live", picture, len(got), len(live))
		}
		for i, fc := range live {
			g := got[i]
			if g.ID != fc.ID || g.Text != fc.Text || g.Version != fc.Version || g.Author != fc.Author || g.PictureID != picture {
				return checked, fmt.Errorf("picture %s item %d = %+v, the log says %+v", picture, i, g, *fc)
			}
			checked++
		}
	}
	return checked, nil
}

func sortByOrder(s []*foldedComment) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Order < s[j-1].Order; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// The built binary, for the tests that run it as a process.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "commentd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// commentdBinary builds cmd/commentd once per test run (with the race
// detector when the tests have it, so the build reuses the test's compiled
// packages) and answers its path.
func commentdBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "commentd")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		start := time.Now()
		cmd := exec.Command(goTool(), append(args, ".")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		t.Logf("built %s in %v", binPath, time.Since(start).Round(time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process is the commentd binary running "serve".
type process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan struct{} // closed when the process exited
	err    error         // Wait's answer, after done
}

// startProcess runs "commentd serve" on dir and 127.0.0.1:0 with the test
// secret, and waits until it logged its address.
func startProcess(t *testing.T, dir string, extraEnv ...string) *process {
	t.Helper()
	cmd := exec.Command(commentdBinary(t), "serve", "--addr", "127.0.0.1:0", "--data", dir, "--log-format", "json")
	cmd.Env = append(os.Environ(), "COMMENTS_AUTH_SECRET="+testSecret, "COMMENTS_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, extraEnv...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(line, '\n'))
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("commentd exited before listening: %v\n%s", p.err, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("commentd did not log its address\n%s", p.stderr)
	}
	return p
}

// kill sends SIGKILL and waits for the exit.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the exit, at most d.
func (p *process) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("commentd did not exit within %v", d)
	}
}

// binaryCommand is the built commentd with args, not started.
func binaryCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(commentdBinary(t), args...)
}

// goTool is the go command: the one in $GOROOT/bin when the environment
// names it, else the one on PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
