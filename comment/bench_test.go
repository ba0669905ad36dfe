package comment

import (
	"strings"
	"testing"
	"time"
)

var benchEvent = Event{Type: TypeCreated, PictureID: "picture-0001", CommentID: "01JDX4ZC8W6Q7R2M9N3P5T8V0Y",
	Author: "alice_42", Text: "A typical comment of a hundred bytes or so, with an é and a newline\nand a second line."}

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendEvent(nil, benchEvent))))
	for b.Loop() {
		buf = AppendEvent(buf[:0], benchEvent)
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	data := AppendEvent(nil, benchEvent)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := Evolve(State{}, Event{Type: TypeCreated, PictureID: benchEvent.PictureID, CommentID: benchEvent.CommentID,
		Author: benchEvent.Author, Text: benchEvent.Text, Version: 1, Position: 1, At: at})
	cases := []struct {
		name string
		s    State
		cmd  Command
	}{
		{"create", State{}, Create{PictureID: benchEvent.PictureID, ID: benchEvent.CommentID, Text: benchEvent.Text, User: "alice_42", At: at}},
		{"update", s, UpdateText{PictureID: benchEvent.PictureID, ID: benchEvent.CommentID, Text: "an edited text", User: "alice_42", ExpectedVersion: 1, At: at}},
		{"update-same-text", s, UpdateText{PictureID: benchEvent.PictureID, ID: benchEvent.CommentID, Text: benchEvent.Text, User: "alice_42", At: at}},
		{"delete", s, Delete{PictureID: benchEvent.PictureID, ID: benchEvent.CommentID, User: "alice_42", At: at}},
		{"create-2000", State{}, Create{PictureID: benchEvent.PictureID, ID: benchEvent.CommentID, Text: strings.Repeat("é", 2000), User: "alice_42", At: at}},
		{"rejected-forbidden", s, Delete{PictureID: benchEvent.PictureID, ID: benchEvent.CommentID, User: "bob", At: at}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Decide(c.s, c.cmd)
			}
		})
	}
}

func BenchmarkAppendTime(b *testing.B) {
	buf := make([]byte, 0, 64)
	t := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTime(buf[:0], t)
	}
}

func BenchmarkStateCodec(b *testing.B) {
	s := codecStates[1].s
	buf := make([]byte, 0, 256)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendState(buf[:0], s)
		}
	})
	data := AppendState(nil, s)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeState(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
