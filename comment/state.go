package comment

import "time"

// State is everything the rules need to know about one comment, folded from
// its events by Evolve. The zero State is a comment that does not exist.
//
// Invariants, when folded from a valid stream: Deleted implies Exists;
// Version is the version of the last event (1 after the creation) and
// LastPosition its global position; CreatedText, CreatedPosition and
// CreatedAt never change after the creation; UpdatedAt is the time of the
// last event. AppendState and DecodeState encode it for snapshots.
type State struct {
	Exists  bool
	Deleted bool

	PictureID string
	ID        string
	Author    string
	Text      string // current text

	CreatedText     string // the text as created: a create retry must match it
	CreatedPosition uint64 // global position of the creation event
	CreatedAt       time.Time
	UpdatedAt       time.Time

	Version      uint64 // version of the last event, 0 if none
	LastPosition uint64 // global position of the last event
}
