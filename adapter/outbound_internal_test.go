package adapter

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
)

var snakeTypeRE = regexp.MustCompile(`^telegram\.[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// FuzzOutboundDecoding holds the outbound event decoding to what
// encoding/json and the documented type pattern say.
func FuzzOutboundDecoding(f *testing.F) {
	for _, s := range []string{
		`{"type":"telegram.send_message","text":"hi","chat_id":1}`,
		`{"type":"telegram.send__message"}`, `{"type":"telegram.send_"}`, `{"type":"telegram._x"}`,
		`{"type":"telegram.1x"}`, `{"type":"telegram.x1_2"}`, `{"type":"telegram."}`, `{"type":"Telegram.x"}`,
		`{"type":"telegram.send_message","type":"telegram.x"}`, `{"t\u0079pe":"telegram.x"}`, `{"type":"\u0074elegram.x"}`,
		`{"type":"telegram.x\xff"}`, `{"type":7}`, `{"type":null}`, `{}`, `[]`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want map[string]json.RawMessage
		werr := json.Unmarshal(raw, &want)
		got, err := decodeParams(raw)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeParams(%q) error %v, encoding/json %v", raw, err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("decodeParams(%q) = %d keys, encoding/json %d", raw, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("decodeParams(%q)[%q] = %q, encoding/json %q", raw, k, got[k], v)
			}
		}
		var typ string
		terr := json.Unmarshal(want["type"], &typ)
		s, ok := stringValue(got["type"])
		if ok != (terr == nil && want["type"] != nil && want["type"][0] == '"') || (ok && s != typ) {
			t.Fatalf("stringValue(%q) = %q, %v; encoding/json %q, %v", got["type"], s, ok, typ, terr)
		}
		if ok && isSnakeType(s) != snakeTypeRE.MatchString(s) {
			t.Fatalf("isSnakeType(%q) = %v, the pattern says %v", s, isSnakeType(s), !isSnakeType(s))
		}
	})
}
