package readmodel

import (
	"testing"
)

func FuzzCursor(f *testing.F) {
	f.Add("", uint64(0))
	f.Add("garbage", uint64(1))
	f.Add(string(appendCursor(nil, 42)), uint64(1<<63))
	f.Fuzz(func(t *testing.T, cursor string, pos uint64) {
		if got, err := parseCursor(string(appendCursor(nil, pos))); err != nil || got != pos {
			t.Fatalf("cursor of %d parses as %d, %v", pos, got, err)
		}
		if got, err := parseCursor(cursor); err == nil && cursor != "" {
			if again := string(appendCursor(nil, got)); again != cursor {
				t.Fatalf("accepted %q as %d, which encodes as %q", cursor, got, again)
			}
		}
	})
}

func TestCodecRoundTrip(t *testing.T) {
	r := record{PictureID: "p", Pos: 77, ID: "c-1", Author: "alice", Text: "héllo\n",
		CreatedAt: -5, UpdatedAt: 1 << 60, Version: 300}
	var got record
	if err := decodeListingValue(appendListingValue(nil, &r), &got); err != nil {
		t.Fatal(err)
	}
	got.PictureID, got.Pos = r.PictureID, r.Pos
	if got != r {
		t.Fatalf("listing value round trip: %+v, want %+v", got, r)
	}
	var byID record
	if err := decodeByIDValue(appendByIDValue(nil, &r), &byID); err != nil {
		t.Fatal(err)
	}
	if byID.Pos != r.Pos || byID.Version != r.Version || byID.CreatedAt != r.CreatedAt ||
		byID.Author != r.Author || byID.PictureID != r.PictureID {
		t.Fatalf("by-id value round trip: %+v, want %+v", byID, r)
	}
	v := appendListingValue(nil, &r)
	for i := range v {
		if err := decodeListingValue(v[:i], &got); err == nil {
			t.Fatalf("truncated listing value of %d bytes decoded", i)
		}
	}
	b := appendByIDValue(nil, &r)
	for i := range b {
		if err := decodeByIDValue(b[:i], &byID); err == nil {
			t.Fatalf("truncated by-id value of %d bytes decoded", i)
		}
	}
}
