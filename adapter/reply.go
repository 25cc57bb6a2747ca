package adapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// ErrNotJSON is returned by ParseReply for a 2xx body that is not declared
// as JSON: it means "nothing to send" (a framework's default "OK").
var ErrNotJSON = errors.New("reply body is not JSON")

// ParseReply reads the outbound events of an application's 2xx response
// (docs/protocol.md "Replying in the response body"): an empty body, null, {} or [] is nothing to send; a body
// declared as JSON is one event object or an array of them. A body not
// declared as JSON returns ErrNotJSON (nothing to send). Anything else is an
// error to be logged, never retried.
func ParseReply(contentType string, body []byte) ([]json.RawMessage, error) {
	body = trimJSONSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	if !isJSON(contentType) {
		return nil, ErrNotJSON
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return nil, fmt.Errorf("reply body declared as JSON does not parse: %v", err)
	}
	switch body[0] {
	case 'n':
		return nil, nil
	case '{':
		if isEmptyObject(body) {
			return nil, nil
		}
		return []json.RawMessage{body}, nil
	case '[':
		var events []json.RawMessage
		if err := json.Unmarshal(body, &events); err != nil {
			return nil, fmt.Errorf("reply body: %v", err)
		}
		return events, nil
	}
	return nil, fmt.Errorf("reply body must be an event object or an array of events, not %.20s", body)
}

func isEmptyObject(b []byte) bool {
	inner := trimJSONSpace(b[1 : len(b)-1])
	return len(inner) == 0
}

// isJSON reports whether a Content-Type declares JSON (application/json or
// application/<x>+json; parameters such as charset are ignored).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// IsJSONContentType is isJSON for the HTTP side (the /send handler).
func IsJSONContentType(contentType string) bool { return isJSON(contentType) }

// SplitEvents reads a /send body: one event object or an array of them.
func SplitEvents(body []byte) ([]json.RawMessage, error) {
	body = trimJSONSpace(body)
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	switch body[0] {
	case '{':
		return []json.RawMessage{body}, nil
	case '[':
		var events []json.RawMessage
		if err := json.Unmarshal(body, &events); err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		if len(events) == 0 {
			return nil, errors.New("empty array: nothing to send")
		}
		return events, nil
	}
	return nil, errors.New("the body must be an event object or an array of events")
}

// trimJSONSpace trims JSON's whitespace (space, tab, CR, LF) only: a body
// wrapped in other Unicode spaces is not JSON.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }
