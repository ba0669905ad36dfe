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
	if in, ok := decodeCommandBodyFast(body, allowID); ok {
		return in, nil
	}
	return decodeCommandBodyJSON(body, allowID)
}

// decodeCommandBodyJSON is decodeCommandBody's general decoder, for a body
// that is valid UTF-8 and escapes no lone surrogate.
func decodeCommandBodyJSON(body []byte, allowID bool) (commandBody, error) {
	var out commandBody
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

// decodeCommandBodyFast decodes the ordinary command body (an object of
// string members "text" and, when allowID, "id", each given once, their
// strings without \u escapes) in one pass without allocating beyond the
// strings. For anything else (null members, \u escapes, unknown members,
// any error) it reports false and decodeCommandBody's general decoder
// decides, and phrases the error. When it reports true, its result is the
// general decoder's. body is valid UTF-8.
func decodeCommandBodyFast(body []byte, allowID bool) (commandBody, bool) {
	var out commandBody
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return out, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			var name, value string
			var ok bool
			if name, i, ok = fastString(body, i); !ok {
				return out, false
			}
			if i = skipSpace(body, i); i == len(body) || body[i] != ':' {
				return out, false
			}
			if value, i, ok = fastString(body, skipSpace(body, i+1)); !ok {
				return out, false
			}
			switch {
			case name == "text" && out.Text == nil:
				out.Text = &value
			case name == "id" && allowID && out.ID == nil:
				out.ID = &value
			default:
				return out, false
			}
			if i = skipSpace(body, i); i == len(body) {
				return out, false
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return out, false
			}
			i = skipSpace(body, i+1)
		}
	}
	if skipSpace(body, i) != len(body) || out.Text == nil {
		return out, false
	}
	return out, true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// fastString decodes the JSON string at b[i:] and returns it (a fresh
// copy) and the index after it. It reports false for anything but a string
// whose escapes are all single-character ones (\uXXXX is left to the
// general decoder) and that holds no raw control character.
func fastString(b []byte, i int) (string, int, bool) {
	if i == len(b) || b[i] != '"' {
		return "", i, false
	}
	i++
	start, escaped := i, false
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			if !escaped {
				return string(b[start:i]), i + 1, true
			}
			return unescapeSimple(b[start:i]), i + 1, true
		case c == '\\':
			if i+1 == len(b) || !isSimpleEscape(b[i+1]) {
				return "", i, false
			}
			escaped = true
			i++
		case c < 0x20:
			return "", i, false
		}
	}
	return "", i, false
}

func isSimpleEscape(c byte) bool {
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	}
	return false
}

// unescapeSimple decodes a string body whose escapes fastString checked.
func unescapeSimple(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch b[i] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default: // '"', '\\', '/'
			c = b[i]
		}
		out = append(out, c)
	}
	return string(out)
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

// queryIDs is parseIDs for the queries: an identifier without escapes is
// returned as a string aliasing the request instead of a copy, so it must
// not outlive the request. Queries does not retain its arguments.
func queryIDs(rawPicture, rawComment []byte) (picture, commentID string, err error) {
	picture, ok := queryParam(rawPicture)
	if !ok || comment.ValidateID(picture) != nil {
		return "", "", comment.Errorf(comment.CodeInvalidArgument, "bad pictureId: 1-128 characters of [A-Za-z0-9_-]")
	}
	if rawComment == nil {
		return picture, "", nil
	}
	commentID, ok = queryParam(rawComment)
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
	t, err := s.commandTarget(ctx, rawPicture, rawComment, true, buf)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	in, err := decodeCommandBody(t.body, false)
	if err == nil {
		_, err = comment.NormalizeText(*in.Text)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.send(ctx, comment.UpdateText{PictureID: t.picture, ID: t.id, Text: *in.Text,
		ExpectedVersion: t.version, User: t.user, At: time.Now()}, t.picture, buf)
}

func (s *Server) deleteComment(ctx *fasthttp.RequestCtx, rawPicture, rawComment []byte) {
	buf := getBuf()
	defer putBuf(buf)
	t, err := s.commandTarget(ctx, rawPicture, rawComment, false, buf)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.send(ctx, comment.Delete{PictureID: t.picture, ID: t.id, ExpectedVersion: t.version,
		User: t.user, At: time.Now()}, t.picture, buf)
}

// target is what a command on an existing comment addresses.
type target struct {
	user        string
	body        []byte
	picture, id string
	version     uint64 // If-Match; 0 when absent
}

// commandTarget runs the checks an update and a delete share, in the
// contract's order: the prelude (authentication, size, media type), the
// identifiers, then If-Match.
func (s *Server) commandTarget(ctx *fasthttp.RequestCtx, rawPicture, rawComment []byte, withBody bool, buf *buffer) (target, error) {
	var t target
	var err error
	if t.user, t.body, err = s.commandPrelude(ctx, withBody, buf); err != nil {
		return t, err
	}
	if t.picture, t.id, err = parseIDs(rawPicture, rawComment); err != nil {
		return t, err
	}
	t.version, err = ifMatch(ctx)
	return t, err
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
