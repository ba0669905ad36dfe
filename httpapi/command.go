package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/commentd/commentd/comment"
)

// commandBody is a decoded command body. Text is nil when absent.
type commandBody struct {
	Text *string
	ID   *string
}

// decodeCommandBody decodes a JSON object whose only members may be "text"
// and, when allowID, "id", both strings. It rejects invalid UTF-8, escaped
// lone surrogates (which no UTF-8 text can hold; encoding/json would turn
// them into U+FFFD silently), other members (names match exactly, unlike
// encoding/json's case-folding), a member given twice, other types, and
// anything after the object. A null member counts as absent. The strings are
// fresh copies.
func decodeCommandBody(body []byte, allowID bool) (commandBody, error) {
	var out commandBody
	if !utf8.Valid(body) {
		return out, comment.Errorf(comment.CodeInvalidArgument, "request body is not valid UTF-8")
	}
	if hasLoneSurrogate(body) {
		return out, comment.Errorf(comment.CodeInvalidArgument, "request body escapes a lone UTF-16 surrogate, which is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	bad := func(msg string) (commandBody, error) {
		return commandBody{}, comment.Errorf(comment.CodeInvalidArgument, "%s", msg)
	}
	tok, err := dec.Token()
	if err != nil {
		return bad("request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return bad("request body must be a JSON object")
	}
	var seenText, seenID bool
	for dec.More() {
		tok, err = dec.Token()
		if err != nil {
			return bad("request body is not valid JSON")
		}
		name, _ := tok.(string)
		var dst **string
		var seen *bool
		switch {
		case name == "text":
			dst, seen = &out.Text, &seenText
		case name == "id" && allowID:
			dst, seen = &out.ID, &seenID
		default:
			return bad("unknown field " + strconv.Quote(truncate(name, 64)))
		}
		if *seen {
			return bad("field " + strconv.Quote(name) + " given more than once")
		}
		*seen = true
		tok, err = dec.Token()
		if err != nil {
			return bad("request body is not valid JSON")
		}
		switch v := tok.(type) {
		case string:
			*dst = &v
		case nil:
			*dst = nil
		default:
			return bad("field " + strconv.Quote(name) + " must be a string")
		}
	}
	if tok, err = dec.Token(); err != nil || tok != json.Delim('}') {
		return bad("request body is not valid JSON")
	}
	if _, err = dec.Token(); err != io.EOF {
		return bad("unexpected data after the JSON object")
	}
	if out.Text == nil {
		return bad(`missing field "text"`)
	}
	return out, nil
}

// hasLoneSurrogate reports whether a JSON text escapes a UTF-16 surrogate
// (\uD800-\uDFFF) that is not part of a high-low pair. Escapes occur only
// inside strings, and "\\" is consumed as a pair, so a plain scan suffices.
func hasLoneSurrogate(b []byte) bool {
	pendingHigh := false // the previous escape was a high surrogate
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			if pendingHigh {
				return true
			}
			continue
		}
		if i+1 >= len(b) {
			return pendingHigh
		}
		if b[i+1] != 'u' {
			if pendingHigh {
				return true
			}
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			return pendingHigh // malformed escape: the JSON decoder rejects it
		}
		i += 5
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if pendingHigh {
				return true
			}
			pendingHigh = true
		case r >= 0xDC00 && r <= 0xDFFF:
			if !pendingHigh {
				return true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return pendingHigh
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// parseIfMatch parses If-Match: a version as "3" or 3. Absent (or empty) is
// 0, "any version". Weak tags, "*", lists, zero, leading zeros and anything
// else are invalid.
func parseIfMatch(h []byte) (uint64, error) {
	if len(h) == 0 {
		return 0, nil
	}
	v := h
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	bad := comment.Errorf(comment.CodeInvalidArgument, `If-Match must be a version, as "3" or 3`)
	if len(v) == 0 || len(v) > 20 || v[0] == '0' {
		return 0, bad
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, bad
	}
	return n, nil
}

// ifMatch parses the request's If-Match (see parseIfMatch). The header
// given on several lines is a list, which is invalid like a list on one line.
func ifMatch(ctx *fasthttp.RequestCtx) (uint64, error) {
	vals := ctx.Request.Header.PeekAll(fasthttp.HeaderIfMatch)
	switch len(vals) {
	case 0:
		return 0, nil
	case 1:
		return parseIfMatch(vals[0])
	}
	return 0, comment.Errorf(comment.CodeInvalidArgument, `If-Match must be one version, as "3" or 3`)
}

// parseIDs copies and validates the path's identifiers. rawComment nil means
// the route has no comment identifier.
func parseIDs(rawPicture, rawComment []byte) (picture, commentID string, err error) {
	picture, ok := pathParam(rawPicture)
	if !ok || comment.ValidateID(picture) != nil {
		return "", "", comment.Errorf(comment.CodeInvalidArgument, "bad pictureId: 1-128 characters of [A-Za-z0-9_-]")
	}
	if rawComment == nil {
		return picture, "", nil
	}
	commentID, ok = pathParam(rawComment)
	if !ok || comment.ValidateID(commentID) != nil {
		return "", "", comment.Errorf(comment.CodeInvalidArgument, "bad commentId: 1-128 characters of [A-Za-z0-9_-]")
	}
	return picture, commentID, nil
}

// commandPrelude applies the checks every command shares, in the contract's
// order: not_ready, 401, 413, 415 (when the command has a body). It returns
// the user and, when withBody, the raw body (valid until buf is reused).
func (s *Server) commandPrelude(ctx *fasthttp.RequestCtx, withBody bool, buf *buffer) (user string, body []byte, err error) {
	if s.writeFailed() {
		return "", nil, errNotReady
	}
	if user, err = s.authenticate(ctx); err != nil {
		return "", nil, err
	}
	if !withBody {
		return user, nil, checkDeclaredSize(ctx)
	}
	if body, err = readBody(ctx, buf); err != nil {
		return "", nil, err
	}
	if err = checkMediaType(ctx); err != nil {
		return "", nil, err
	}
	return user, body, nil
}

func (s *Server) createComment(ctx *fasthttp.RequestCtx, rawPicture []byte) {
	buf := getBuf()
	defer putBuf(buf)
	user, body, err := s.commandPrelude(ctx, true, buf)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	picture, _, err := parseIDs(rawPicture, nil)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	in, err := decodeCommandBody(body, true)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	cmd := comment.Create{PictureID: picture, Text: *in.Text, User: user, At: time.Now()}
	if in.ID != nil {
		if err := comment.ValidateID(*in.ID); err != nil {
			s.writeError(ctx, comment.Errorf(comment.CodeInvalidArgument, "bad id: 1-128 characters of [A-Za-z0-9_-]"))
			return
		}
		cmd.ID = *in.ID
	}
	if _, err := comment.NormalizeText(cmd.Text); err != nil {
		s.writeError(ctx, err)
		return
	}
	s.send(ctx, cmd, picture, buf)
}

func (s *Server) updateComment(ctx *fasthttp.RequestCtx, rawPicture, rawComment []byte) {
	buf := getBuf()
	defer putBuf(buf)
	user, body, err := s.commandPrelude(ctx, true, buf)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	picture, id, err := parseIDs(rawPicture, rawComment)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	version, err := ifMatch(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	in, err := decodeCommandBody(body, false)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if _, err := comment.NormalizeText(*in.Text); err != nil {
		s.writeError(ctx, err)
		return
	}
	s.send(ctx, comment.UpdateText{PictureID: picture, ID: id, Text: *in.Text,
		ExpectedVersion: version, User: user, At: time.Now()}, picture, buf)
}

func (s *Server) deleteComment(ctx *fasthttp.RequestCtx, rawPicture, rawComment []byte) {
	buf := getBuf()
	defer putBuf(buf)
	user, _, err := s.commandPrelude(ctx, false, buf)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	picture, id, err := parseIDs(rawPicture, rawComment)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	version, err := ifMatch(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.send(ctx, comment.Delete{PictureID: picture, ID: id, ExpectedVersion: version,
		User: user, At: time.Now()}, picture, buf)
}

// send hands a validated command to the bus and writes its answer. Every
// string in cmd is already a copy: nothing aliases the request.
func (s *Server) send(ctx *fasthttp.RequestCtx, cmd comment.Command, picture string, buf *buffer) {
	// Commands do not derive from waitCtx: Shutdown lets them finish.
	cctx := context.Background()
	if s.cfg.CommandTimeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(cctx, s.cfg.CommandTimeout)
		defer cancel()
	}
	res, err := s.cfg.Bus.Send(cctx, cmd)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if res.ID == "" {
		res.ID = cmd.CommentID()
	}
	status := fasthttp.StatusOK
	if res.PictureID == "" {
		res.PictureID = picture
	}
	if _, ok := cmd.(comment.Create); ok {
		loc := append(buf.b[:0], "/v1/pictures/"...)
		loc = append(loc, res.PictureID...)
		loc = append(loc, "/comments/"...)
		loc = append(loc, res.ID...)
		ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, loc)
		buf.b = loc
		if res.Created {
			status = fasthttp.StatusCreated
		}
	}
	etag := append(buf.b[:0], '"')
	etag = strconv.AppendUint(etag, res.Version, 10)
	etag = append(etag, '"')
	ctx.Response.Header.SetBytesV(fasthttp.HeaderETag, etag)
	buf.b = appendResult(etag[:0], res)
	writeJSON(ctx, status, buf.b)
}
