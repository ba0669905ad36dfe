package comment

import "time"

// Command is one of Create, UpdateText or Delete. Commands are values; the
// acting user and the time travel with them so that Decide stays pure.
type Command interface {
	// CommentID is the identifier of the aggregate the command addresses.
	// It is empty only for a Create whose identifier the server has yet
	// to pick.
	CommentID() string
	isCommand()
}

// Create creates a comment under a picture. ID is the client-chosen
// identifier, or the identifier the server picked when the client gave none;
// Decide requires it to be set.
type Create struct {
	PictureID string
	ID        string
	Text      string
	User      string // the authenticated author
	At        time.Time
}

// UpdateText replaces a comment's text. ExpectedVersion 0 means "any".
type UpdateText struct {
	PictureID       string
	ID              string
	Text            string
	ExpectedVersion uint64
	User            string
	At              time.Time
}

// Delete deletes a comment. ExpectedVersion 0 means "any".
type Delete struct {
	PictureID       string
	ID              string
	ExpectedVersion uint64
	User            string
	At              time.Time
}

// CommentID implements Command.
func (c Create) CommentID() string { return c.ID }

// CommentID implements Command.
func (c UpdateText) CommentID() string { return c.ID }

// CommentID implements Command.
func (c Delete) CommentID() string { return c.ID }

func (Create) isCommand()     {}
func (UpdateText) isCommand() {}
func (Delete) isCommand()     {}

// Result is what a successful command answers: the comment's picture and
// identifier, the version and global position of the event that answers it,
// and whether the command created the comment now (false for a safe retry).
type Result struct {
	PictureID string
	ID        string
	Version   uint64
	Position  uint64
	Created   bool
}
