// Package jsonscan reads the members of JSON objects and the elements of
// JSON arrays without decoding them: one validating pass that returns
// subslices of the input, no maps, no copies. The adapter uses it on the hot
// path (each update, each Bot API answer); what it accepts is exactly what
// encoding/json's Valid accepts, which the package's fuzz test checks.
package jsonscan

// maxDepth is encoding/json's nesting limit: deeper input is not valid.
const maxDepth = 10000

// Member is one member of a JSON object.
type Member struct {
	// Key is the key's bytes between its quotes, escapes not decoded.
	Key []byte
	// Plain means Key needs no decoding and no escaping: printable ASCII
	// without '"', '\\', '<', '>' or '&'. encoding/json writes such a key
	// back as '"' + Key + '"'.
	Plain bool
	// Value is the member's value, without surrounding whitespace.
	Value []byte
}

// Valid reports whether data is one JSON value, as json.Valid does.
func Valid(data []byte) bool {
	i := skipSpace(data, 0)
	j, ok := skipValue(data, i, 0)
	return ok && skipSpace(data, j) == len(data)
}

// AppendMembers appends the members of the JSON object data (surrounding
// whitespace allowed) to dst, in order, duplicates included. ok is false
// when data is not valid JSON or not an object.
func AppendMembers(dst []Member, data []byte) (members []Member, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return dst, false
	}
	i, done := open(data, i, '}')
	for !done {
		var m Member
		var start int
		if m.Key, m.Plain, start, ok = memberKey(data, i); !ok {
			return dst, false
		}
		if i, ok = skipValue(data, start, 1); !ok {
			return dst, false
		}
		m.Value = data[start:i]
		dst = append(dst, m)
		if i, done, ok = next(data, i, '}'); !ok {
			return dst, false
		}
	}
	return dst, skipSpace(data, i) == len(data)
}

// AppendElements appends the elements of the JSON array data (surrounding
// whitespace allowed) to dst. ok is false when data is not valid JSON or
// not an array.
func AppendElements[T ~[]byte](dst []T, data []byte) (elements []T, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return dst, false
	}
	i, done := open(data, i, ']')
	for !done {
		start := i
		if i, ok = skipValue(data, i, 1); !ok {
			return dst, false
		}
		dst = append(dst, data[start:i])
		if i, done, ok = next(data, i, ']'); !ok {
			return dst, false
		}
	}
	return dst, skipSpace(data, i) == len(data)
}

// open moves past the opening byte at d[i]: it returns the index of the
// first member or element, or done (just past closing) when there is none.
func open(d []byte, i int, closing byte) (int, bool) {
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == closing {
		return i + 1, true
	}
	return i, false
}

// next moves past what follows a member or element: a comma (it returns the
// index of the next one) or the closing byte (done, the index just past it).
func next(d []byte, i int, closing byte) (int, bool, bool) {
	i = skipSpace(d, i)
	if i >= len(d) {
		return i, false, false
	}
	switch d[i] {
	case ',':
		return skipSpace(d, i+1), false, true
	case closing:
		return i + 1, true, true
	}
	return i, false, false
}

// memberKey reads `"key" :` at d[i] and returns the key's bytes, whether it
// is plain, and the index of the value.
func memberKey(d []byte, i int) (key []byte, plain bool, value int, ok bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, false, i, false
	}
	end, plain, ok := skipString(d, i)
	if !ok {
		return nil, false, end, false
	}
	j := skipSpace(d, end)
	if j >= len(d) || d[j] != ':' {
		return nil, false, j, false
	}
	return d[i+1 : end-1], plain, skipSpace(d, j+1), true
}

// Last returns the value of the last member whose key is exactly key, or
// nil: when every key is Plain (AllPlain), the value encoding/json's map
// decoding keeps. An escaped key may spell the same name differently.
func Last(members []Member, key string) []byte {
	for i := len(members) - 1; i >= 0; i-- {
		if string(members[i].Key) == key {
			return members[i].Value
		}
	}
	return nil
}

// AllPlain reports whether every key is Plain.
func AllPlain(members []Member) bool {
	for _, m := range members {
		if !m.Plain {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(d []byte, i int) int {
	for i < len(d) && isSpace(d[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at d[i].
func skipValue(d []byte, i, depth int) (int, bool) {
	if i >= len(d) {
		return i, false
	}
	switch c := d[i]; {
	case c == '"':
		end, _, ok := skipString(d, i)
		return end, ok
	case c == '{':
		return skipObject(d, i, depth+1)
	case c == '[':
		return skipArray(d, i, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(d, i)
	case c == 't':
		return skipLiteral(d, i, "true")
	case c == 'f':
		return skipLiteral(d, i, "false")
	case c == 'n':
		return skipLiteral(d, i, "null")
	}
	return i, false
}

func skipLiteral(d []byte, i int, lit string) (int, bool) {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipString returns the index just past the string starting at d[i] (a
// '"'), and whether its contents are plain (see Member.Plain).
func skipString(d []byte, i int) (end int, plain, ok bool) {
	plain = true
	for j := i + 1; j < len(d); j++ {
		c := d[j]
		switch {
		case c == '"':
			return j + 1, plain, true
		case c == '\\':
			plain = false
			j++
			if j >= len(d) {
				return j, false, false
			}
			switch d[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d)-j <= 4 {
					return j, false, false
				}
				for _, h := range d[j+1 : j+5] {
					if !isHex(h) {
						return j, false, false
					}
				}
				j += 4
			default:
				return j, false, false
			}
		case c < 0x20:
			return j, false, false
		case c >= 0x7f || c == '<' || c == '>' || c == '&':
			plain = false
		}
	}
	return len(d), false, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber follows JSON's number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(d []byte, i int) (int, bool) {
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	default:
		return i, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return i, false
		}
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return i, false
		}
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	return i, true
}

func skipObject(d []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i, done := open(d, i, '}')
	for !done {
		_, _, start, ok := memberKey(d, i)
		if !ok {
			return start, false
		}
		if i, ok = skipValue(d, start, depth); !ok {
			return i, false
		}
		if i, done, ok = next(d, i, '}'); !ok {
			return i, false
		}
	}
	return i, true
}

func skipArray(d []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i, done := open(d, i, ']')
	for !done {
		var ok bool
		if i, ok = skipValue(d, i, depth); !ok {
			return i, false
		}
		if i, done, ok = next(d, i, ']'); !ok {
			return i, false
		}
	}
	return i, true
}
