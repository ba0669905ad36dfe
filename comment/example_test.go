package comment_test

import (
	"fmt"
	"time"

	"github.com/commentd/commentd/comment"
)

// The life of one comment: decide each command against the current state,
// commit the events (here: number them as a store would), and fold them
// into the state with Evolve.
func ExampleDecide() {
	var (
		state    comment.State
		position uint64 // the store's global position
		at       = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	)
	run := func(cmd comment.Command) {
		events, err := comment.Decide(state, cmd)
		switch {
		case err != nil:
			fmt.Printf("%s (%s)\n", comment.ErrorCode(err), comment.ErrorMessage(err))
		case len(events) == 0:
			r := comment.Unchanged(state, cmd)
			fmt.Printf("unchanged: version %d at position %d\n", r.Version, r.Position)
		}
		for _, e := range events {
			position++
			e.Position = position // committed by the store
			state = comment.Evolve(state, e)
			fmt.Printf("%s version %d at position %d: %q\n", e.Type, e.Version, e.Position, e.Text)
		}
	}

	run(comment.Create{PictureID: "p1", ID: "c1", User: "alice", Text: "  nice\r\nshot ", At: at})
	run(comment.Create{PictureID: "p1", ID: "c1", User: "alice", Text: "nice\nshot", At: at}) // a retry
	run(comment.UpdateText{PictureID: "p1", ID: "c1", User: "bob", Text: "mine now", At: at})
	run(comment.UpdateText{PictureID: "p1", ID: "c1", User: "alice", Text: "nicer", ExpectedVersion: 1, At: at})
	run(comment.UpdateText{PictureID: "p1", ID: "c1", User: "alice", Text: "nicer", At: at})
	run(comment.Delete{PictureID: "p1", ID: "c1", User: "alice", ExpectedVersion: 1, At: at})
	run(comment.Delete{PictureID: "p1", ID: "c1", User: "alice", ExpectedVersion: 2, At: at})
	run(comment.Delete{PictureID: "p1", ID: "c1", User: "alice", At: at})
	fmt.Println("deleted:", state.Deleted, "version:", state.Version, "created:", comment.FormatTime(state.CreatedAt))
	// Output:
	// CommentCreated version 1 at position 1: "nice\nshot"
	// unchanged: version 1 at position 1
	// forbidden (only the author may update comment c1)
	// CommentTextUpdated version 2 at position 2: "nicer"
	// unchanged: version 2 at position 2
	// precondition_failed (comment c1 is at version 2, not 1)
	// CommentDeleted version 3 at position 3: ""
	// gone (comment c1 is deleted)
	// deleted: true version: 3 created: 2026-11-26T10:00:00.000000000Z
}

// Events are stored in a compact binary form; decoding gives back the
// payload fields (Version, Position and At travel in the store's record).
func ExampleAppendEvent() {
	e := comment.Event{Type: comment.TypeCreated, PictureID: "p1", CommentID: "c1", Author: "al", Text: "hi"}
	data := comment.AppendEvent(nil, e)
	fmt.Printf("% x\n", data)
	back, err := comment.DecodeEvent(data)
	fmt.Println(back == e, err)
	// Output:
	// 01 01 01 01 02 02 70 31 03 02 63 31 04 02 61 6c 05 02 68 69
	// true <nil>
}

func ExampleNormalizeText() {
	text, err := comment.NormalizeText("\u3000 first line\r\nsecond line\r\n")
	fmt.Printf("%q %v\n", text, err)
	_, err = comment.NormalizeText("evil\u202etxt.exe")
	fmt.Println(err)
	// Output:
	// "first line\nsecond line" <nil>
	// invalid_argument: text contains a bidirectional override or isolate (U+202E) at character 5
}
