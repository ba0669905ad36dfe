// Package comment is the pure domain of the comment service: the commands a
// user can give, the events they produce, the state of one comment, and the
// rules that connect them.
//
// It imports only the standard library and does no I/O. Time, the acting
// user and generated identifiers are inputs, so deciding and replaying are
// deterministic:
//
//	events, err := comment.Decide(state, cmd)   // validate and decide
//	state = comment.Evolve(state, event)        // fold one committed event
//
// Invariants:
//
//   - A comment is one stream of events: exactly one CommentCreated (version
//     1), then any number of CommentTextUpdated, then at most one
//     CommentDeleted, after which nothing follows. Decide never produces
//     anything else when it is given the state folded from the stream.
//   - Every text in an event is normalised (NormalizeText) and every
//     identifier is valid (ValidateID), because Decide checks them before
//     deciding.
//   - State.Version is the version of the last folded event; Deleted implies
//     Exists; CreatedText never changes after the creation.
//   - Every rejection is an *Error carrying a Code from the vocabulary in
//     error.go; anything else is an internal failure.
//
// The binary encodings of events and snapshots, with their format versions,
// are documented in codec.go.
package comment
