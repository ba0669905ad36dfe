package comment

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the testdata/*.txt scripts")

// TestScripts runs the scripts in testdata/*.txt. A script is a sequence of
// commands, each followed by a line "----" and the output it must produce:
//
//	# a comment; blank lines separate cases
//	create pic=p1 id=c1 user=alice text="nice"
//	----
//	CommentCreated v=1 pos=1 pic=p1 id=c1 author=alice text="nice"
//
// Commands: create, update and delete take the keys pic, id, user, text
// (create, update) and expect (update, delete: the expected version, 0 if
// absent); a missing key is the empty string. "state id=c1" prints the
// state of comment c1.
//
// A value is a bare word (no space, '"', '+' or '*'), or a Go quoted string
// ("a\r\nb", "\u202e", "\xff"), either optionally repeated ("é"*2000), and
// values joined with '+' are concatenated: text=" "+"a"*2000+"\n".
//
// The script keeps one State per comment id, as the service keeps one actor
// per comment. Every accepted event is committed the way the store commits
// it: positions count from 1 across the script, and the version and time are
// Decide's provisional ones, which the runner checks. The output is one line
// per event, "unchanged v=V pos=P" (Unchanged's answer) when Decide accepts
// without events, or "error <code>: <message>".
//
// go test -run TestScripts -rewrite rewrites the expected output.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptCase struct {
	pre    []string // comment and blank lines before the command
	line   int
	cmd    string
	output []string
}

func parseScript(t *testing.T, file string) (cases []scriptCase, trailer []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var pre []string
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			pre = append(pre, line)
			i++
			continue
		}
		c := scriptCase{pre: pre, line: i + 1, cmd: line}
		pre = nil
		i++
		if i >= len(lines) || lines[i] != "----" {
			t.Fatalf("%s:%d: want ---- after the command", file, c.line)
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			c.output = append(c.output, lines[i])
		}
		cases = append(cases, c)
	}
	return cases, pre
}

func runScript(t *testing.T, file string) {
	cases, trailer := parseScript(t, file)
	r := scriptRunner{states: map[string]State{}, clock: t0}
	var out strings.Builder
	failed := false
	for _, c := range cases {
		got, err := r.run(c.cmd)
		if err != nil {
			t.Fatalf("%s:%d: %v", file, c.line, err)
		}
		if want := strings.Join(c.output, "\n"); got != want && !*rewrite {
			failed = true
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", file, c.line, c.cmd, got, want)
		}
		for _, l := range c.pre {
			out.WriteString(l + "\n")
		}
		out.WriteString(c.cmd + "\n----\n")
		if got != "" {
			out.WriteString(got + "\n")
		}
	}
	for _, l := range trailer {
		out.WriteString(l + "\n")
	}
	if *rewrite && !failed {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptRunner executes script commands against one State per comment.
type scriptRunner struct {
	states   map[string]State
	position uint64
	clock    time.Time
}

func (r *scriptRunner) run(line string) (string, error) {
	words, err := splitWords(line)
	if err != nil {
		return "", err
	}
	args := map[string]string{}
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return "", fmt.Errorf("argument %q is not key=value", w)
		}
		if args[k], err = parseValue(v); err != nil {
			return "", fmt.Errorf("%s: %v", k, err)
		}
	}
	allowed := map[string]string{
		"create": "pic id user text", "update": "pic id user text expect",
		"delete": "pic id user expect", "state": "id",
	}[words[0]]
	if allowed == "" {
		return "", fmt.Errorf("unknown command %q", words[0])
	}
	for k := range args {
		if !strings.Contains(" "+allowed+" ", " "+k+" ") {
			return "", fmt.Errorf("%s takes no %s", words[0], k)
		}
	}
	var expect uint64
	if v, ok := args["expect"]; ok {
		if expect, err = strconv.ParseUint(v, 10, 64); err != nil {
			return "", err
		}
	}
	r.clock = r.clock.Add(time.Second)
	var cmd Command
	switch words[0] {
	case "create":
		cmd = Create{PictureID: args["pic"], ID: args["id"], Text: args["text"], User: args["user"], At: r.clock}
	case "update":
		cmd = UpdateText{PictureID: args["pic"], ID: args["id"], Text: args["text"], User: args["user"], ExpectedVersion: expect, At: r.clock}
	case "delete":
		cmd = Delete{PictureID: args["pic"], ID: args["id"], User: args["user"], ExpectedVersion: expect, At: r.clock}
	case "state":
		return renderState(args["id"], r.states[args["id"]]), nil
	}
	return r.decide(cmd)
}

// decide runs cmd and commits its events the way the service does.
func (r *scriptRunner) decide(cmd Command) (string, error) {
	s := r.states[cmd.CommentID()]
	events, err := Decide(s, cmd)
	if err != nil {
		if events != nil {
			return "", fmt.Errorf("events %v with error %v", events, err)
		}
		if ErrorCode(err) == CodeInternal {
			return "", fmt.Errorf("internal error: %v", err)
		}
		return "error " + err.Error(), nil
	}
	if len(events) == 0 {
		res := Unchanged(s, cmd)
		if res.PictureID != s.PictureID || res.ID != cmd.CommentID() || res.Created {
			return "", fmt.Errorf("bad Unchanged result %+v", res)
		}
		return fmt.Sprintf("unchanged v=%d pos=%d", res.Version, res.Position), nil
	}
	var lines []string
	for _, e := range events {
		if e.Version != s.Version+1 || !e.At.Equal(r.clock) || e.Position != 0 {
			return "", fmt.Errorf("event %+v: want provisional version %d, time %v, no position", e, s.Version+1, r.clock)
		}
		r.position++
		e.Position = r.position
		s = Evolve(s, e)
		lines = append(lines, renderEvent(e))
	}
	r.states[cmd.CommentID()] = s
	return strings.Join(lines, "\n"), nil
}

func renderEvent(e Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v=%d pos=%d pic=%s id=%s", e.Type, e.Version, e.Position, renderValue(e.PictureID), renderValue(e.CommentID))
	if e.Author != "" {
		b.WriteString(" author=" + renderValue(e.Author))
	}
	if e.Type != TypeDeleted {
		b.WriteString(" text=" + renderText(e.Text))
	}
	return b.String()
}

func renderState(id string, s State) string {
	if !s.Exists {
		return "absent"
	}
	var b strings.Builder
	if s.Deleted {
		b.WriteString("deleted ")
	}
	fmt.Fprintf(&b, "v=%d pos=%d pic=%s id=%s author=%s text=%s created=%s createdPos=%d",
		s.Version, s.LastPosition, renderValue(s.PictureID), renderValue(s.ID), renderValue(s.Author),
		renderText(s.Text), renderText(s.CreatedText), s.CreatedPosition)
	return b.String()
}

// renderValue writes v in the value syntax: a bare word when it can be, else
// as renderText.
func renderValue(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" && len(v) < 40 {
		return v
	}
	return renderText(v)
}

// renderText writes v as quoted strings in the value syntax, with a unit of
// one to four code points repeated 8 times or more written as a repetition.
func renderText(v string) string {
	var parts []string
	lit := ""
	for i := 0; i < len(v); {
		unit, n := "", 0
		for k, end := 1, i; k <= 4 && end < len(v); k++ {
			r, size := utf8.DecodeRuneInString(v[end:])
			if r == utf8.RuneError && size == 1 {
				break // keep invalid bytes in literals
			}
			end += size
			u, m := v[i:end], 1
			for strings.HasPrefix(v[i+m*len(u):], u) {
				m++
			}
			if m >= 8 && m*len(u) > n*len(unit) {
				unit, n = u, m
			}
		}
		if n == 0 {
			_, size := utf8.DecodeRuneInString(v[i:])
			lit += v[i : i+size]
			i += size
			continue
		}
		if lit != "" {
			parts = append(parts, strconv.Quote(lit))
			lit = ""
		}
		parts = append(parts, fmt.Sprintf("%s*%d", strconv.Quote(unit), n))
		i += n * len(unit)
	}
	if lit != "" || len(parts) == 0 {
		parts = append(parts, strconv.Quote(lit))
	}
	return strings.Join(parts, "+")
}

// splitWords splits a line at spaces outside quoted strings.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line):
			cur.WriteByte(c)
			i++
			cur.WriteByte(line[i])
			continue
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(c)
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated string")
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}

// parseValue parses term ('+' term)*, term = (quoted | bare) ['*' count].
func parseValue(v string) (string, error) {
	var out strings.Builder
	for {
		var term string
		if strings.HasPrefix(v, `"`) {
			end := 1
			for end < len(v) && v[end] != '"' {
				if v[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(v) {
				return "", fmt.Errorf("unterminated string in %q", v)
			}
			s, err := strconv.Unquote(v[:end+1])
			if err != nil {
				return "", fmt.Errorf("%s: %v", v[:end+1], err)
			}
			term, v = s, v[end+1:]
		} else {
			end := strings.IndexAny(v, "+*")
			if end < 0 {
				end = len(v)
			}
			term, v = v[:end], v[end:]
		}
		if rest, ok := strings.CutPrefix(v, "*"); ok {
			end := strings.IndexByte(rest, '+')
			if end < 0 {
				end = len(rest)
			}
			n, err := strconv.Atoi(rest[:end])
			if err != nil {
				return "", fmt.Errorf("bad count: %v", err)
			}
			term, v = strings.Repeat(term, n), rest[end:]
		}
		out.WriteString(term)
		if v == "" {
			return out.String(), nil
		}
		rest, ok := strings.CutPrefix(v, "+")
		if !ok {
			return "", fmt.Errorf("want + before %q", v)
		}
		v = rest
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{`p1`, "p1"},
		{`""`, ""},
		{`"a b"`, "a b"},
		{`"a\r\nb"`, "a\r\nb"},
		{`"\xff"`, "\xff"},
		{`"é"*3`, "ééé"},
		{`x*3`, "xxx"},
		{`" "+"a"*3+"\n"`, " aaa\n"},
		{`"\""+q`, `"q`},
		{`"a\n"*999+"ab"`, strings.Repeat("a\n", 999) + "ab"},
		{`"ab"*3+"a"`, "abababa"},
	}
	for _, tt := range tests {
		got, err := parseValue(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseValue(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if back, err := parseValue(renderValue(got)); err != nil || back != got {
			t.Errorf("renderValue(%q) = %s does not parse back: %q, %v", got, renderValue(got), back, err)
		}
	}
	for _, bad := range []string{`"abc`, `a*x`, `"a"b`, `"\q"`} {
		if got, err := parseValue(bad); err == nil {
			t.Errorf("parseValue(%s) = %q, want an error", bad, got)
		}
	}
	for in, want := range map[string]string{
		strings.Repeat("é", 2000) + "\u202e":    `"é"*2000+"\u202e"`,
		"x" + strings.Repeat("a\n", 999) + "ab": `"x"+"a\n"*999+"ab"`,
		strings.Repeat("\xff", 9):               `"\xff\xff\xff\xff\xff\xff\xff\xff\xff"`,
	} {
		if got := renderText(in); got != want {
			t.Errorf("renderText = %s, want %s", got, want)
		}
	}
}
