package comment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

var codecEvents = []struct {
	name string
	e    Event
}{
	{"created", Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: "nice"}},
	{"updated", Event{Type: TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "nicer\n\twith é and 😀"}},
	{"deleted", Event{Type: TypeDeleted, PictureID: "p1", CommentID: "c1"}},
	{"only a type", Event{Type: TypeDeleted}},
	{"unknown type", Event{Type: 200, PictureID: "p"}},
	{"long text", Event{Type: TypeCreated, PictureID: strings.Repeat("p", 128), CommentID: strings.Repeat("c", 128),
		Author: strings.Repeat("a", 128), Text: strings.Repeat("😀", 2000)}},
	{"arbitrary bytes", Event{Type: TypeCreated, Text: "\x00\xff"}},
}

func TestEventRoundTrip(t *testing.T) {
	for _, tt := range codecEvents {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			enc := AppendEvent(prefix, tt.e)
			if !bytes.HasPrefix(enc, []byte("prefix")) {
				t.Fatalf("AppendEvent lost dst: %q", enc)
			}
			got, err := DecodeEvent(enc[len(prefix):])
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if got != tt.e {
				t.Errorf("got %+v, want %+v", got, tt.e)
			}
		})
	}
}

func TestEventEncodingIsTheDocumentedOne(t *testing.T) {
	e := Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "al", Text: "hi"}
	want := []byte{1, 1, 1, 1, 2, 2, 'p', '1', 3, 2, 'c', '1', 4, 2, 'a', 'l', 5, 2, 'h', 'i'}
	if got := AppendEvent(nil, e); !bytes.Equal(got, want) {
		t.Errorf("AppendEvent = % x, want % x", got, want)
	}
	// Version, Position and At are not part of the payload.
	e.Version, e.Position, e.At = 3, 9, time.Now()
	if got := AppendEvent(nil, e); !bytes.Equal(got, want) {
		t.Errorf("with Version/Position/At: % x, want % x", got, want)
	}
}

// TestEventForwardCompatible decodes encodings carrying fields a newer
// writer might add: they are skipped.
func TestEventForwardCompatible(t *testing.T) {
	e := Event{Type: TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "t"}
	enc := AppendEvent(nil, e)
	unknown := func(tag uint64, val string) []byte {
		b := binary.AppendUvarint(nil, tag)
		b = binary.AppendUvarint(b, uint64(len(val)))
		return append(b, val...)
	}
	cases := map[string][]byte{
		"unknown tag at the end":     append(append([]byte{}, enc...), unknown(6, "future")...),
		"unknown tag first":          append(append([]byte{1}, unknown(99, "x")...), enc[1:]...),
		"big tag, empty value":       append(append([]byte{}, enc...), unknown(1<<40, "")...),
		"long unknown value":         append(append([]byte{}, enc...), unknown(7, strings.Repeat("z", 300))...),
		"fields out of order":        append([]byte{1, 5, 1, 't', 3, 2, 'c', '1', 2, 2, 'p', '1'}, 1, 1, 2),
		"non-minimal varint length":  {1, 1, 0x81, 0x00, 2, 2, 2, 'p', '1', 3, 2, 'c', '1', 5, 1, 't'},
		"empty strings given":        {1, 1, 1, 2, 2, 2, 'p', '1', 3, 2, 'c', '1', 4, 0, 5, 1, 't'},
		"unknown tags between known": {1, 8, 0, 1, 1, 2, 9, 1, 0, 2, 2, 'p', '1', 3, 2, 'c', '1', 5, 1, 't'},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeEvent(data)
			if err != nil {
				t.Fatalf("DecodeEvent(% x): %v", data, err)
			}
			if got != e {
				t.Errorf("got %+v, want %+v", got, e)
			}
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	valid := AppendEvent(nil, Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "a", Text: "hello"})
	cases := map[string]struct {
		data []byte
		want error
	}{
		"nil":                      {nil, ErrCorrupt},
		"only the version":         {[]byte{1}, ErrCorrupt},
		"format 0":                 {[]byte{0, 1, 1, 1}, ErrFormatVersion},
		"format 2":                 {append([]byte{2}, valid[1:]...), ErrFormatVersion},
		"a state":                  {[]byte{1, 1, 1, 1}, nil}, // same bytes are a valid event: flags tag = type tag
		"type 0":                   {[]byte{1, 1, 1, 0}, ErrCorrupt},
		"type of two bytes":        {[]byte{1, 1, 2, 1, 1}, ErrCorrupt},
		"type of zero bytes":       {[]byte{1, 1, 0}, ErrCorrupt},
		"type twice":               {[]byte{1, 1, 1, 1, 1, 1, 2}, ErrCorrupt},
		"text twice":               {append(append([]byte{}, valid...), 5, 1, 'x'), ErrCorrupt},
		"no type":                  {[]byte{1, 2, 2, 'p', '1'}, ErrCorrupt},
		"tag 0":                    {[]byte{1, 1, 1, 1, 0, 0}, ErrCorrupt},
		"length past the end":      {[]byte{1, 1, 1, 1, 5, 10, 'a'}, ErrCorrupt},
		"huge length":              {[]byte{1, 1, 1, 1, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrCorrupt},
		"length overflows":         {[]byte{1, 1, 1, 1, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrCorrupt},
		"eleven-byte varint":       {[]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrCorrupt},
		"truncated tag varint":     {[]byte{1, 1, 1, 1, 0x80}, ErrCorrupt},
		"tag without length":       {[]byte{1, 1, 1, 1, 5}, ErrCorrupt},
		"truncated length varint":  {[]byte{1, 1, 1, 1, 5, 0x80}, ErrCorrupt},
		"garbage":                  {[]byte("\x01garbage that is not an event"), ErrCorrupt},
		"all 0xff":                 {bytes.Repeat([]byte{0xff}, 32), ErrFormatVersion},
		"unknown field truncated":  {append(append([]byte{}, valid...), 40, 3, 'x'), ErrCorrupt},
		"unknown tag too big":      {append(append([]byte{}, valid...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0), ErrCorrupt},
		"JSON instead of binary":   {[]byte(`{"type":"CommentCreated"}`), ErrFormatVersion},
		"valid then a stray byte":  {append(append([]byte{}, valid...), 7), ErrCorrupt},
		"valid then a stray zero":  {append(append([]byte{}, valid...), 0), ErrCorrupt},
		"valid then truncated tag": {append(append([]byte{}, valid...), 0x80), ErrCorrupt},
	}
	for name, tt := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := DecodeEvent(tt.data)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("DecodeEvent(% x) = %v", tt.data, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeEvent(% x) = %+v, %v; want %v", tt.data, e, err, tt.want)
			}
			if e != (Event{}) {
				t.Errorf("rejected data returned %+v", e)
			}
			if ErrorCode(err) != CodeInternal {
				t.Errorf("ErrorCode = %q, want %q", ErrorCode(err), CodeInternal)
			}
		})
	}
}

// TestDecodeEventTruncated cuts a valid encoding at every length: every
// strict prefix that ends inside a field is rejected.
func TestDecodeEventTruncated(t *testing.T) {
	e := Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: strings.Repeat("x", 200)}
	enc := AppendEvent(nil, e)
	boundaries := map[int]bool{} // prefixes that end between fields decode (with fewer fields)
	for i, n := 1, 0; i < len(enc); i += n {
		r := reader{s: string(enc), i: i}
		if _, _, err := r.field(); err != nil {
			t.Fatal(err)
		}
		n = r.i - i
		boundaries[r.i] = true
	}
	for n := 0; n < len(enc); n++ {
		got, err := DecodeEvent(enc[:n])
		switch {
		case n >= 4 && boundaries[n]:
			if err != nil {
				t.Errorf("prefix %d (a field boundary): %v", n, err)
			}
		case err == nil:
			t.Errorf("prefix %d of %d decoded to %+v", n, len(enc), got)
		}
	}
}

func TestDecodeEventCopiesData(t *testing.T) {
	enc := AppendEvent(nil, Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "a", Text: "hello"})
	e, err := DecodeEvent(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 'X'
	}
	if e.Text != "hello" || e.PictureID != "p1" {
		t.Errorf("decoded event changed with its input: %+v", e)
	}
}

func TestEventCodecAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	e := Event{Type: TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: "a comment"}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], e) }); n != 0 {
		t.Errorf("AppendEvent into a big enough buffer allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = AppendEvent(nil, e) }); n != 1 {
		t.Errorf("AppendEvent(nil) allocates %v times, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeEvent(buf) }); n != 1 {
		t.Errorf("DecodeEvent allocates %v times, want 1", n)
	}
}

var codecStates = []struct {
	name string
	s    State
}{
	{"zero", State{}},
	{"created", State{Exists: true, PictureID: "p1", ID: "c1", Author: "alice", Text: "nice", CreatedText: "nice",
		CreatedPosition: 7, CreatedAt: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		UpdatedAt: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), Version: 1, LastPosition: 7}},
	{"deleted", State{Exists: true, Deleted: true, PictureID: "p1", ID: "c1", Author: "alice", Text: "nicer", CreatedText: "nice",
		CreatedPosition: 1 << 40, CreatedAt: time.Unix(0, 1).UTC(), UpdatedAt: time.Unix(1<<40, 999999999).UTC(),
		Version: ^uint64(0), LastPosition: ^uint64(0) - 1}},
	{"before 1970", State{Exists: true, CreatedAt: time.Date(1900, 1, 1, 0, 0, 0, 5, time.UTC), UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
}

func TestStateRoundTrip(t *testing.T) {
	for _, tt := range codecStates {
		t.Run(tt.name, func(t *testing.T) {
			enc := AppendState([]byte("prefix"), tt.s)
			got, err := DecodeState(enc[len("prefix"):])
			if err != nil {
				t.Fatalf("DecodeState: %v", err)
			}
			if got != tt.s {
				t.Errorf("got %+v\nwant %+v", got, tt.s)
			}
		})
	}
}

func TestStateRoundTripTimes(t *testing.T) {
	at := time.Date(2026, 11, 26, 11, 30, 0, 42, time.FixedZone("X", 90*60))
	s := State{Exists: true, CreatedAt: at, UpdatedAt: time.Now()}
	got, err := DecodeState(AppendState(nil, s))
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(s.CreatedAt) || !got.UpdatedAt.Equal(s.UpdatedAt) {
		t.Errorf("times changed: got %v %v, want %v %v", got.CreatedAt, got.UpdatedAt, s.CreatedAt, s.UpdatedAt)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("decoded time in %v, want UTC", got.CreatedAt.Location())
	}
}

func TestDecodeStateRejects(t *testing.T) {
	valid := AppendState(nil, codecStates[1].s)
	cases := map[string]struct {
		data []byte
		want error
	}{
		"nil":                  {nil, ErrCorrupt},
		"format 2":             {[]byte{2}, ErrFormatVersion},
		"deleted, not exists":  {[]byte{1, 1, 1, 2}, ErrCorrupt},
		"unknown flag":         {[]byte{1, 1, 1, 5}, ErrCorrupt},
		"flags twice":          {[]byte{1, 1, 1, 1, 1, 1, 1}, ErrCorrupt},
		"uint too long":        {[]byte{1, 10, 2, 1, 0}, ErrCorrupt},
		"uint truncated":       {[]byte{1, 10, 1, 0x80}, ErrCorrupt},
		"uint empty":           {[]byte{1, 10, 0}, ErrCorrupt},
		"time nanos too big":   {[]byte{1, 8, 6, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, ErrCorrupt},
		"time without nanos":   {[]byte{1, 8, 1, 2}, ErrCorrupt},
		"time with extra byte": {[]byte{1, 8, 3, 2, 0, 0}, ErrCorrupt},
		"truncated":            {valid[:len(valid)-1], ErrCorrupt},
		"tag 0":                {[]byte{1, 0, 0}, ErrCorrupt},
	}
	for name, tt := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := DecodeState(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeState(% x) = %+v, %v; want %v", tt.data, s, err, tt.want)
			}
		})
	}
	// Unknown tags are skipped.
	s, err := DecodeState(append(append([]byte{}, valid...), 12, 1, 'x', 0xc8, 0x01, 0))
	if err != nil || s != codecStates[1].s {
		t.Errorf("with unknown tags: %+v, %v", s, err)
	}
}
