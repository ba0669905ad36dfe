package comment

// Decide validates cmd against the state s of the comment it addresses and
// returns the events that carry it out, or the reason it is rejected.
//
// s must be the state of the comment cmd.CommentID() (the zero State when it
// has none). The rules, checked in the order of API.md so that the first
// that applies answers:
//
//  1. invalid_argument: a bad picture id, comment id or user (ValidateID), or
//     a bad text (NormalizeText);
//  2. not_found: an update or delete of a comment that does not exist or is
//     under another picture;
//  3. forbidden: an update or delete by someone other than the author;
//  4. gone: an update or delete of a deleted comment;
//  5. precondition_failed: an ExpectedVersion other than 0 that differs from
//     s.Version;
//  6. conflict: a create whose id exists with another author, picture or
//     text at creation.
//
// A create whose id exists with the same author, picture and creation text
// (after normalisation), whatever happened to the comment since, is a safe
// retry: Decide returns no events and no error, and Unchanged gives the
// original creation's answer. So does an update to the text the comment
// already has. Otherwise Decide returns exactly one event, which carries the
// PictureID and CommentID, At = the command's At and Version = s.Version+1
// as provisional values (the store assigns the committed version, position
// and time); Position is 0. A created event carries the author and the
// normalised text, an updated event the normalised text.
//
// Every error is an *Error. Decide is pure and allocates only the returned
// slice (plus the normalised text when it contained "\r\n", and the error).
// Pointer commands (*Create, ...) are accepted like their values.
func Decide(s State, cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case Create:
		return decideCreate(&s, &c)
	case UpdateText:
		return decideUpdate(&s, &c)
	case Delete:
		return decideDelete(&s, &c)
	case *Create:
		if c != nil {
			return decideCreate(&s, c)
		}
	case *UpdateText:
		if c != nil {
			return decideUpdate(&s, c)
		}
	case *Delete:
		if c != nil {
			return decideDelete(&s, c)
		}
	}
	return nil, Errorf(CodeInvalidArgument, "no command")
}

func decideCreate(s *State, c *Create) ([]Event, error) {
	if err := validateIDs(c.PictureID, c.ID, c.User); err != nil {
		return nil, err
	}
	text, err := NormalizeText(c.Text)
	if err != nil {
		return nil, err
	}
	if s.Exists {
		if err := checkSameComment(s, c.ID); err != nil {
			return nil, err
		}
		if s.Author == c.User && s.PictureID == c.PictureID && s.CreatedText == text {
			return nil, nil // a retry of the creation
		}
		return nil, Errorf(CodeConflict,
			"comment %s already exists with a different author, picture or text", c.ID)
	}
	return []Event{{
		Type:      TypeCreated,
		PictureID: c.PictureID,
		CommentID: c.ID,
		Author:    c.User,
		Text:      text,
		Version:   s.Version + 1,
		At:        c.At,
	}}, nil
}

func decideUpdate(s *State, c *UpdateText) ([]Event, error) {
	if err := validateIDs(c.PictureID, c.ID, c.User); err != nil {
		return nil, err
	}
	text, err := NormalizeText(c.Text)
	if err != nil {
		return nil, err
	}
	if err := checkChange(s, c.PictureID, c.ID, c.User, c.ExpectedVersion, "update"); err != nil {
		return nil, err
	}
	if text == s.Text {
		return nil, nil // nothing changes
	}
	return []Event{{
		Type:      TypeTextUpdated,
		PictureID: c.PictureID,
		CommentID: c.ID,
		Text:      text,
		Version:   s.Version + 1,
		At:        c.At,
	}}, nil
}

func decideDelete(s *State, c *Delete) ([]Event, error) {
	if err := validateIDs(c.PictureID, c.ID, c.User); err != nil {
		return nil, err
	}
	if err := checkChange(s, c.PictureID, c.ID, c.User, c.ExpectedVersion, "delete"); err != nil {
		return nil, err
	}
	return []Event{{
		Type:      TypeDeleted,
		PictureID: c.PictureID,
		CommentID: c.ID,
		Version:   s.Version + 1,
		At:        c.At,
	}}, nil
}

func validateIDs(pictureID, commentID, user string) error {
	if err := validateID("pictureId", pictureID); err != nil {
		return err
	}
	if err := validateID("commentId", commentID); err != nil {
		return err
	}
	return validateID("user", user)
}

// checkChange applies the rules shared by update and delete, in order:
// not_found, forbidden, gone, precondition_failed.
func checkChange(s *State, pictureID, id, user string, expected uint64, verb string) error {
	if !s.Exists || s.PictureID != pictureID {
		return Errorf(CodeNotFound, "comment %s not found under picture %s", id, pictureID)
	}
	if err := checkSameComment(s, id); err != nil {
		return err
	}
	if s.Author != user {
		return Errorf(CodeForbidden, "only the author may %s comment %s", verb, id)
	}
	if s.Deleted {
		return Errorf(CodeGone, "comment %s is deleted", id)
	}
	if expected != 0 && expected != s.Version {
		return Errorf(CodePreconditionFailed,
			"comment %s is at version %d, not %d", id, s.Version, expected)
	}
	return nil
}

// checkSameComment guards the caller's side of the contract: the state
// handed to Decide is the state of the command's comment.
func checkSameComment(s *State, id string) error {
	if s.ID != id {
		return Errorf(CodeInternal, "state of another comment")
	}
	return nil
}

// Evolve returns s with the committed event e applied. e must carry its
// committed Version, Position and At. Evolve trusts the log: it does not
// re-check the rules, so that replay never fails.
//
//   - CommentCreated: the comment exists (not deleted) with e's picture,
//     id, author and text; CreatedText, CreatedPosition and CreatedAt
//     remember the creation.
//   - CommentTextUpdated: the current text becomes e.Text.
//   - CommentDeleted: the comment is deleted.
//
// Every event, including one of a type this version does not know, sets
// Version, LastPosition and UpdatedAt from e.
func Evolve(s State, e Event) State {
	switch e.Type {
	case TypeCreated:
		s = State{
			Exists:          true,
			PictureID:       e.PictureID,
			ID:              e.CommentID,
			Author:          e.Author,
			Text:            e.Text,
			CreatedText:     e.Text,
			CreatedPosition: e.Position,
			CreatedAt:       e.At,
		}
	case TypeTextUpdated:
		s.Text = e.Text
	case TypeDeleted:
		s.Deleted = true
	}
	s.Version = e.Version
	s.LastPosition = e.Position
	s.UpdatedAt = e.At
	return s
}

// Unchanged is the answer to a command that Decide accepted without events:
// for a create retry, the original creation (version 1 and the creation's
// position, Created false); for an update to the same text, the current
// version and the position of the comment's last event.
func Unchanged(s State, cmd Command) Result {
	r := Result{PictureID: s.PictureID, ID: s.ID, Version: s.Version, Position: s.LastPosition}
	switch cmd.(type) {
	case Create, *Create:
		r.Version, r.Position = 1, s.CreatedPosition
	}
	return r
}
