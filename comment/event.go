package comment

import "time"

// EventType identifies the kind of an event. Its numeric values are part of
// the stored format and never change.
type EventType uint8

// The event types.
const (
	TypeCreated     EventType = 1 // CommentCreated
	TypeTextUpdated EventType = 2 // CommentTextUpdated
	TypeDeleted     EventType = 3 // CommentDeleted
)

// String returns the event type's name as the API shows it.
func (t EventType) String() string {
	switch t {
	case TypeCreated:
		return "CommentCreated"
	case TypeTextUpdated:
		return "CommentTextUpdated"
	case TypeDeleted:
		return "CommentDeleted"
	}
	return "Unknown"
}

// Event is one fact about one comment. PictureID and CommentID are carried
// by every event so that a reader of the global log (the projection, the
// feed) needs no other lookup. Author is set on TypeCreated; Text on
// TypeCreated and TypeTextUpdated.
//
// Version, Position and At are assigned when the event is committed: the
// store gives each appended record its stream version, global position and
// commit time. Decide fills At with the command's time as a provisional
// value; after the append the committed time replaces it.
type Event struct {
	Type      EventType
	PictureID string
	CommentID string
	Author    string
	Text      string

	Version  uint64
	Position uint64
	At       time.Time
}
