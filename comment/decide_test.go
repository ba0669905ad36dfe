package comment

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Second)
)

// live is comment c1 under p1 by alice, at version 2 (created at position
// 3, updated at position 8).
var live = State{
	Exists: true, PictureID: "p1", ID: "c1", Author: "alice", Text: "nicer", CreatedText: "nice",
	CreatedPosition: 3, CreatedAt: t0, UpdatedAt: t0, Version: 2, LastPosition: 8,
}

// deleted is live after its deletion (version 3, position 9).
var deleted = func() State {
	s := live
	s.Deleted, s.Version, s.LastPosition = true, 3, 9
	return s
}()

// TestDecideRuleCodes walks every rule of Decide to the code of its error.
func TestDecideRuleCodes(t *testing.T) {
	create := Create{PictureID: "p1", ID: "c1", Text: "nice", User: "alice", At: t1}
	update := UpdateText{PictureID: "p1", ID: "c1", Text: "new", User: "alice", At: t1}
	del := Delete{PictureID: "p1", ID: "c1", User: "alice", At: t1}
	with := func(f func(*State)) State { s := live; f(&s); return s }

	tests := []struct {
		name string
		s    State
		cmd  Command
		want Code // "" when accepted
	}{
		// 400: identifiers, user and text, before anything else.
		{"create: bad picture id", State{}, func() Command { c := create; c.PictureID = "p 1"; return c }(), CodeInvalidArgument},
		{"create: empty comment id", State{}, func() Command { c := create; c.ID = ""; return c }(), CodeInvalidArgument},
		{"create: bad user", State{}, func() Command { c := create; c.User = "al/ice"; return c }(), CodeInvalidArgument},
		{"create: empty user", State{}, func() Command { c := create; c.User = ""; return c }(), CodeInvalidArgument},
		{"create: bad text", State{}, func() Command { c := create; c.Text = "\x00"; return c }(), CodeInvalidArgument},
		{"create: bad text beats conflict", live, func() Command { c := create; c.User = "bob"; c.Text = " "; return c }(), CodeInvalidArgument},
		{"update: bad text beats not found", State{}, func() Command { c := update; c.Text = strings.Repeat("x", 2001); return c }(), CodeInvalidArgument},
		{"update: bad id beats forbidden", live, func() Command { c := update; c.ID = "c1!"; c.User = "bob"; return c }(), CodeInvalidArgument},
		{"delete: bad picture beats not found", State{}, func() Command { c := del; c.PictureID = strings.Repeat("p", 129); return c }(), CodeInvalidArgument},
		{"delete: bad user beats gone", deleted, func() Command { c := del; c.User = "é"; return c }(), CodeInvalidArgument},
		{"nil command", live, nil, CodeInvalidArgument},
		{"nil *Create", live, (*Create)(nil), CodeInvalidArgument},

		// 404: unknown comment, or under another picture.
		{"update: unknown", State{}, update, CodeNotFound},
		{"update: other picture", live, func() Command { c := update; c.PictureID = "p2"; return c }(), CodeNotFound},
		{"delete: unknown", State{}, del, CodeNotFound},
		{"delete: other picture, stranger, deleted, stale", deleted, func() Command {
			c := del
			c.PictureID, c.User, c.ExpectedVersion = "p2", "bob", 1
			return c
		}(), CodeNotFound},

		// 403: not the author, before gone and precondition.
		{"update: stranger", live, func() Command { c := update; c.User = "bob"; return c }(), CodeForbidden},
		{"update: stranger on deleted", deleted, func() Command { c := update; c.User = "bob"; return c }(), CodeForbidden},
		{"delete: stranger, stale", live, func() Command { c := del; c.User = "bob"; c.ExpectedVersion = 1; return c }(), CodeForbidden},
		{"update: stranger, same text", live, func() Command { c := update; c.User = "bob"; c.Text = "nicer"; return c }(), CodeForbidden},

		// 410: deleted, before precondition.
		{"update: deleted", deleted, update, CodeGone},
		{"update: deleted, stale", deleted, func() Command { c := update; c.ExpectedVersion = 1; return c }(), CodeGone},
		{"delete: deleted", deleted, del, CodeGone},

		// 412: expected version.
		{"update: stale", live, func() Command { c := update; c.ExpectedVersion = 1; return c }(), CodePreconditionFailed},
		{"update: ahead", live, func() Command { c := update; c.ExpectedVersion = 3; return c }(), CodePreconditionFailed},
		{"update: same text, stale", live, func() Command { c := update; c.Text = "nicer"; c.ExpectedVersion = 1; return c }(), CodePreconditionFailed},
		{"delete: stale", live, func() Command { c := del; c.ExpectedVersion = 1; return c }(), CodePreconditionFailed},

		// 409: a create on an existing id that is not a retry.
		{"create: other author", live, func() Command { c := create; c.User = "bob"; return c }(), CodeConflict},
		{"create: other picture", live, func() Command { c := create; c.PictureID = "p2"; return c }(), CodeConflict},
		{"create: other text", live, func() Command { c := create; c.Text = "nicer"; return c }(), CodeConflict},
		{"create: other text on deleted", deleted, func() Command { c := create; c.Text = "other"; return c }(), CodeConflict},

		// The caller's contract: the state is the command's comment's.
		{"create: state of another comment", with(func(s *State) { s.ID = "c2" }), create, CodeInternal},
		{"update: state of another comment", with(func(s *State) { s.ID = "c2" }), update, CodeInternal},

		// Accepted.
		{"create: fresh", State{}, create, ""},
		{"create: retry", live, create, ""},
		{"create: retry after delete", deleted, create, ""},
		{"create: retry with other white space", live, func() Command { c := create; c.Text = " nice\r\n"; return c }(), ""},
		{"update: any version", live, update, ""},
		{"update: current version", live, func() Command { c := update; c.ExpectedVersion = 2; return c }(), ""},
		{"update: same text", live, func() Command { c := update; c.Text = "nicer"; return c }(), ""},
		{"delete: current version", live, func() Command { c := del; c.ExpectedVersion = 2; return c }(), ""},
		{"pointer command", live, &Delete{PictureID: "p1", ID: "c1", User: "alice"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Decide(tt.s, tt.cmd)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Decide = %v, want success", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decide = %v, %v; want an *Error %s", events, err, tt.want)
			}
			if e.Code != tt.want {
				t.Fatalf("Decide = %v, want code %s", err, tt.want)
			}
			if events != nil {
				t.Errorf("rejected command returned events %v", events)
			}
			if e.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

// TestDecideMessages checks that each rejection says which rule failed.
func TestDecideMessages(t *testing.T) {
	tests := []struct {
		s    State
		cmd  Command
		want string
	}{
		{State{}, Create{PictureID: "p1", ID: "c1", User: "alice", Text: "\u202e"}, "invalid_argument: text contains a bidirectional override or isolate (U+202E) at character 1"},
		{State{}, Create{PictureID: "", ID: "c1", User: "alice", Text: "x"}, "invalid_argument: pictureId is empty"},
		{State{}, Delete{PictureID: "p1", ID: "c/1", User: "alice"}, "invalid_argument: commentId has a character outside [A-Za-z0-9_-] at byte 2"},
		{State{}, Delete{PictureID: "p1", ID: "c1", User: strings.Repeat("u", 200)}, "invalid_argument: user is longer than 128 characters"},
		{State{}, Delete{PictureID: "p1", ID: "c1", User: "alice"}, "not_found: comment c1 not found under picture p1"},
		{live, Delete{PictureID: "p1", ID: "c1", User: "bob"}, "forbidden: only the author may delete comment c1"},
		{live, UpdateText{PictureID: "p1", ID: "c1", User: "bob", Text: "x"}, "forbidden: only the author may update comment c1"},
		{deleted, Delete{PictureID: "p1", ID: "c1", User: "alice"}, "gone: comment c1 is deleted"},
		{live, Delete{PictureID: "p1", ID: "c1", User: "alice", ExpectedVersion: 5}, "precondition_failed: comment c1 is at version 2, not 5"},
		{live, Create{PictureID: "p1", ID: "c1", User: "bob", Text: "nice"}, "conflict: comment c1 already exists with a different author, picture or text"},
	}
	for _, tt := range tests {
		_, err := Decide(tt.s, tt.cmd)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Decide(%+v) = %v, want %q", tt.cmd, err, tt.want)
		}
	}
}

func TestDecideEvents(t *testing.T) {
	tests := []struct {
		name string
		s    State
		cmd  Command
		want Event
	}{
		{"create", State{}, Create{PictureID: "p1", ID: "c1", Text: "  nice\r\none ", User: "alice", At: t1},
			Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: "nice\none", Version: 1, At: t1}},
		{"update", live, UpdateText{PictureID: "p1", ID: "c1", Text: "\tnicest\n", User: "alice", ExpectedVersion: 2, At: t1},
			Event{Type: TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "nicest", Version: 3, At: t1}},
		{"update back to the created text", live, UpdateText{PictureID: "p1", ID: "c1", Text: "nice", User: "alice", At: t1},
			Event{Type: TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "nice", Version: 3, At: t1}},
		{"delete", live, Delete{PictureID: "p1", ID: "c1", User: "alice", At: t1},
			Event{Type: TypeDeleted, PictureID: "p1", CommentID: "c1", Version: 3, At: t1}},
		{"pointer", live, &Delete{PictureID: "p1", ID: "c1", User: "alice", At: t1},
			Event{Type: TypeDeleted, PictureID: "p1", CommentID: "c1", Version: 3, At: t1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Decide(tt.s, tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0] != tt.want {
				t.Errorf("got %+v\nwant [%+v]", events, tt.want)
			}
		})
	}
}

func TestDecideNoEvents(t *testing.T) {
	tests := []struct {
		name string
		s    State
		cmd  Command
		want Result
	}{
		{"create retry", live, Create{PictureID: "p1", ID: "c1", Text: "nice", User: "alice"},
			Result{PictureID: "p1", ID: "c1", Version: 1, Position: 3}},
		{"create retry after delete", deleted, &Create{PictureID: "p1", ID: "c1", Text: "nice\n", User: "alice"},
			Result{PictureID: "p1", ID: "c1", Version: 1, Position: 3}},
		{"same-text update", live, UpdateText{PictureID: "p1", ID: "c1", Text: "nicer", User: "alice", ExpectedVersion: 2},
			Result{PictureID: "p1", ID: "c1", Version: 2, Position: 8}},
		{"same text after normalisation", live, UpdateText{PictureID: "p1", ID: "c1", Text: "\u3000nicer\r\n", User: "alice"},
			Result{PictureID: "p1", ID: "c1", Version: 2, Position: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Decide(tt.s, tt.cmd)
			if err != nil || events != nil {
				t.Fatalf("Decide = %v, %v; want nil, nil", events, err)
			}
			if got := Unchanged(tt.s, tt.cmd); got != tt.want {
				t.Errorf("Unchanged = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEvolve(t *testing.T) {
	at := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
	var s State
	s = Evolve(s, Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: "nice", Version: 1, Position: 3, At: at[0]})
	want := State{Exists: true, PictureID: "p1", ID: "c1", Author: "alice", Text: "nice", CreatedText: "nice",
		CreatedPosition: 3, CreatedAt: at[0], UpdatedAt: at[0], Version: 1, LastPosition: 3}
	if s != want {
		t.Fatalf("after create:\n got %+v\nwant %+v", s, want)
	}
	s = Evolve(s, Event{Type: TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "nicer", Version: 2, Position: 8, At: at[1]})
	want.Text, want.Version, want.LastPosition, want.UpdatedAt = "nicer", 2, 8, at[1]
	if s != want {
		t.Fatalf("after update:\n got %+v\nwant %+v", s, want)
	}
	s = Evolve(s, Event{Type: 99, PictureID: "p1", CommentID: "c1", Text: "ignored", Version: 3, Position: 10, At: at[1]})
	want.Version, want.LastPosition = 3, 10
	if s != want {
		t.Fatalf("after an unknown event type:\n got %+v\nwant %+v", s, want)
	}
	s = Evolve(s, Event{Type: TypeDeleted, PictureID: "p1", CommentID: "c1", Version: 4, Position: 12, At: at[2]})
	want.Deleted, want.Version, want.LastPosition, want.UpdatedAt = true, 4, 12, at[2]
	if s != want {
		t.Fatalf("after delete:\n got %+v\nwant %+v", s, want)
	}
}

// TestErrorCode walks ErrorCode and ErrorMessage through wrapping.
func TestErrorCode(t *testing.T) {
	_, domain := Decide(live, Delete{PictureID: "p1", ID: "c1", User: "bob"})
	tests := []struct {
		name string
		err  error
		code Code
		msg  string
	}{
		{"nil", nil, "", "internal error"},
		{"domain error", domain, CodeForbidden, "only the author may delete comment c1"},
		{"wrapped", fmt.Errorf("actor: %w", domain), CodeForbidden, "only the author may delete comment c1"},
		{"Errorf", Errorf(CodeOverloaded, "queue full (%d)", 8192), CodeOverloaded, "queue full (8192)"},
		{"plain error", errors.New("disk on fire at /var/x"), CodeInternal, "internal error"},
		{"codec error", ErrCorrupt, CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if tt.err == nil {
				return
			}
			if got := ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
		})
	}
}

func TestDecideAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	cmd := UpdateText{PictureID: "p1", ID: "c1", Text: "a new text for the comment", User: "alice", At: t1}
	if n := testing.AllocsPerRun(100, func() { _, _ = Decide(live, cmd) }); n != 1 {
		t.Errorf("Decide allocates %v times, want 1 (the event slice)", n)
	}
	same := UpdateText{PictureID: "p1", ID: "c1", Text: "nicer", User: "alice", At: t1}
	if n := testing.AllocsPerRun(100, func() { _, _ = Decide(live, same) }); n != 0 {
		t.Errorf("a same-text Decide allocates %v times, want 0", n)
	}
}
