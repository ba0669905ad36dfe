package comment

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// knownCodes is the error vocabulary of error.go.
var knownCodes = map[Code]bool{
	CodeInvalidArgument: true, CodeUnauthenticated: true, CodeForbidden: true, CodeNotFound: true,
	CodeMethodNotAllowed: true, CodeConflict: true, CodeGone: true, CodePreconditionFailed: true,
	CodePayloadTooLarge: true, CodeUnsupportedMediaType: true, CodeOverloaded: true, CodeStale: true,
	CodeNotReady: true, CodeInternal: true,
}

// FuzzDecodeEvent decodes arbitrary bytes: it never panics, rejections are
// codec errors, and whatever decodes re-encodes to an encoding that decodes
// to the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, tt := range codecEvents {
		f.Add(AppendEvent(nil, tt.e))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatVersion) {
				t.Fatalf("DecodeEvent error %v is not a codec error", err)
			}
			if e != (Event{}) {
				t.Fatalf("rejected data decoded to %+v", e)
			}
			return
		}
		if e.Type == 0 || e.Version != 0 || e.Position != 0 || !e.At.IsZero() {
			t.Fatalf("decoded %+v", e)
		}
		enc := AppendEvent(nil, e)
		if len(enc) > len(data) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(data), len(enc))
		}
		e2, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if e2 != e {
			t.Fatalf("decode(encode(e)) = %+v, want %+v", e2, e)
		}
	})
}

// FuzzEventRoundTrip encodes arbitrary events: decoding gives them back.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add(uint8(TypeCreated), "p1", "c1", "alice", "nice")
	f.Add(uint8(TypeTextUpdated), "p1", "c1", "", "nicer\n")
	f.Add(uint8(TypeDeleted), "p1", "c1", "", "")
	f.Add(uint8(0), "", "", "", "")
	f.Fuzz(func(t *testing.T, typ uint8, pic, id, author, text string) {
		e := Event{Type: EventType(typ), PictureID: pic, CommentID: id, Author: author, Text: text}
		enc := AppendEvent([]byte{0xee}, e)
		if enc[0] != 0xee || enc[1] != EventFormatVersion {
			t.Fatalf("AppendEvent did not append: % x", enc[:2])
		}
		got, err := DecodeEvent(enc[1:])
		if typ == 0 {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("type 0 decoded: %+v, %v", got, err)
			}
			return
		}
		if err != nil || got != e {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", e, got, err)
		}
	})
}

// FuzzDecodeState decodes arbitrary bytes as a snapshot: it never panics,
// and whatever decodes round-trips.
func FuzzDecodeState(f *testing.F) {
	for _, tt := range codecStates {
		f.Add(AppendState(nil, tt.s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeState(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatVersion) {
				t.Fatalf("DecodeState error %v is not a codec error", err)
			}
			return
		}
		if s.Deleted && !s.Exists {
			t.Fatalf("decoded a deleted comment that does not exist: %+v", s)
		}
		s2, err := DecodeState(AppendState(nil, s))
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if s2 != s {
			t.Fatalf("decode(encode(s)) = %+v, want %+v", s2, s)
		}
	})
}

// FuzzDecide gives a random command to a random state: Decide never panics,
// every error carries a known code, every accepted command obeys the rules,
// and its event folds into a state that Decide accepts again.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(0), "p1", "c1", "alice", "nice", uint64(0), uint8(0), "", "", "", "", uint64(0))
	f.Add(uint8(0), "p1", "c1", "alice", " nice\r\n", uint64(0), uint8(1), "p1", "alice", "edited", "nice", uint64(2))
	f.Add(uint8(1), "p1", "c1", "alice", "nicer", uint64(2), uint8(1), "p1", "alice", "nice", "nice", uint64(2))
	f.Add(uint8(1), "p1", "c1", "bob", "x", uint64(0), uint8(3), "p1", "alice", "nice", "nice", uint64(3))
	f.Add(uint8(2), "p1", "c1", "alice", "", uint64(7), uint8(1), "p1", "alice", "nice", "nice", uint64(2))
	f.Add(uint8(2), "p2", "c1", "alice", "", uint64(0), uint8(1), "p1", "alice", "nice", "nice", uint64(1))
	f.Add(uint8(1), "p1", "c\x00", "alice", "\u202e", uint64(0), uint8(0), "", "", "", "", uint64(0))
	f.Fuzz(func(t *testing.T, kind uint8, pic, id, user, text string, expect uint64,
		flags uint8, sPic, sAuthor, sText, sCreatedText string, sVersion uint64) {
		at := time.Unix(1700000000, int64(expect%1e9))
		var cmd Command
		switch kind % 4 {
		case 0:
			cmd = Create{PictureID: pic, ID: id, Text: text, User: user, At: at}
		case 1:
			cmd = UpdateText{PictureID: pic, ID: id, Text: text, User: user, ExpectedVersion: expect, At: at}
		case 2:
			cmd = &Delete{PictureID: pic, ID: id, User: user, ExpectedVersion: expect, At: at}
		default:
			cmd = nil
		}
		s := State{
			Exists: flags&1 != 0, Deleted: flags&1 != 0 && flags&2 != 0,
			PictureID: sPic, ID: id, Author: sAuthor, Text: sText, CreatedText: sCreatedText,
			CreatedPosition: 1, Version: sVersion, LastPosition: sVersion + 10,
		}
		if !s.Exists {
			s = State{}
		}

		events, err := Decide(s, cmd)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !knownCodes[e.Code] || e.Code == CodeInternal {
				t.Fatalf("Decide error %v (%T) has no known domain code", err, err)
			}
			if events != nil {
				t.Fatalf("events %v with error %v", events, err)
			}
			if !utf8.ValidString(e.Message) || len(e.Message) > 400 {
				t.Fatalf("bad message %q", e.Message)
			}
			checkRejection(t, s, cmd, e.Code)
			return
		}
		if cmd == nil {
			t.Fatal("nil command accepted")
		}
		if err := validateIDs(pic, id, user); err != nil {
			t.Fatalf("accepted with %v", err)
		}
		if len(events) == 0 {
			r := Unchanged(s, cmd)
			switch kind % 4 {
			case 0:
				norm, _ := NormalizeText(text)
				if !s.Exists || s.Author != user || s.PictureID != pic || s.CreatedText != norm || r.Version != 1 {
					t.Fatalf("create without events on %+v: %+v", s, r)
				}
			case 1:
				norm, _ := NormalizeText(text)
				if s.Text != norm || r.Version != s.Version {
					t.Fatalf("update without events on %+v: %+v", s, r)
				}
			default:
				t.Fatal("a delete appended nothing")
			}
			return
		}
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		e := events[0]
		if e.Version != s.Version+1 || !e.At.Equal(at) || e.Position != 0 || e.CommentID != id || e.PictureID != pic {
			t.Fatalf("event %+v for %+v on %+v", e, cmd, s)
		}
		if e.Type != TypeDeleted {
			if norm, err := NormalizeText(e.Text); err != nil || norm != e.Text {
				t.Fatalf("event text %q is not normalised (%v)", e.Text, err)
			}
		}
		if e.Type == TypeCreated && (s.Exists || e.Author != user) {
			t.Fatalf("created %+v on %+v", e, s)
		}
		if e.Type != TypeCreated && (!s.Exists || s.Deleted || s.Author != user || s.PictureID != pic) {
			t.Fatalf("changed %+v on %+v", e, s)
		}
		// The event round-trips through the codec and folds into a state
		// on which a retry of the same command is answered without events
		// (create, update) or is gone (delete).
		dec, err := DecodeEvent(AppendEvent(nil, e))
		if err != nil {
			t.Fatal(err)
		}
		dec.Version, dec.Position, dec.At = e.Version, 100, e.At
		next := Evolve(s, dec)
		again, err := Decide(next, cmd)
		switch e.Type {
		case TypeDeleted:
			if ErrorCode(err) != CodeGone {
				t.Fatalf("a repeated delete: %v, %v", again, err)
			}
		default:
			if err != nil && ErrorCode(err) != CodePreconditionFailed || len(again) != 0 {
				t.Fatalf("a repeated %v: %v, %v", e.Type, again, err)
			}
		}
	})
}

// checkRejection checks that the code is the one of the first rule that
// applies.
func checkRejection(t *testing.T, s State, cmd Command, code Code) {
	t.Helper()
	var pic, id, user, text string
	var expect uint64
	switch c := cmd.(type) {
	case Create:
		pic, id, user, text = c.PictureID, c.ID, c.User, c.Text
	case UpdateText:
		pic, id, user, text, expect = c.PictureID, c.ID, c.User, c.Text, c.ExpectedVersion
	case *Delete:
		pic, id, user, text, expect = c.PictureID, c.ID, c.User, "ok", c.ExpectedVersion
	default:
		if code != CodeInvalidArgument {
			t.Fatalf("nil command: %s", code)
		}
		return
	}
	_, textErr := NormalizeText(text)
	var want Code
	switch {
	case validateIDs(pic, id, user) != nil || textErr != nil:
		want = CodeInvalidArgument
	case isCreate(cmd):
		want = CodeConflict
	case !s.Exists || s.PictureID != pic:
		want = CodeNotFound
	case s.Author != user:
		want = CodeForbidden
	case s.Deleted:
		want = CodeGone
	case expect != 0 && expect != s.Version:
		want = CodePreconditionFailed
	}
	if code != want {
		t.Fatalf("rejected with %s, want %s (state %+v, command %+v)", code, want, s, cmd)
	}
}

func isCreate(cmd Command) bool { _, ok := cmd.(Create); return ok }
