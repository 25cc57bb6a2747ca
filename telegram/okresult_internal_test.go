package telegram

import (
	"bytes"
	"encoding/json"
	"testing"
)

// checkOKResult holds okResult to the full envelope decoding: whatever it
// accepts, encoding/json reads as the same successful answer.
func checkOKResult(t *testing.T, raw []byte) (json.RawMessage, bool) {
	t.Helper()
	res, ok := okResult(raw)
	if !ok {
		return nil, false
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("okResult accepted %q, encoding/json: %v", raw, err)
	}
	if !env.OK || env.ErrorCode != 0 || env.Description != "" || env.Parameters != nil || !bytes.Equal(env.Result, res) {
		t.Fatalf("okResult(%q) = %q, encoding/json reads %+v", raw, res, env)
	}
	return res, true
}

func TestOKResult(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // "" means declined: the envelope is decoded in full
	}{
		{`{"ok":true,"result":{"message_id":1}}`, `{"message_id":1}`},
		{` {"result" : [1,2] , "ok" : true } `, `[1,2]`},
		{`{"ok":true,"result":true}`, `true`},
		{`{"ok":true,"result":null}`, ``},
		{`{"ok":true}`, ``},
		{`{"ok":false,"error_code":400,"description":"Bad Request"}`, ``},
		{`{"ok":true,"result":1,"description":"x"}`, ``},
		{`{"ok":true,"result":1,"OK":false}`, ``},
		{`{"ok":true,"Result":2,"result":1}`, ``},
		{`{"ok":true,"result":1,"error_code":"x"}`, ``},
		{`{"ok":true,"result":1,"extra":{"a":[]}}`, `1`},
		{`{"ok":true,"res\u0075lt":1}`, ``},
		{`{"ok":true,"result":1`, ``},
		{`<html>502</html>`, ``},
		{``, ``},
	} {
		res, ok := checkOKResult(t, []byte(tc.raw))
		if string(res) != tc.want || ok != (tc.want != "") {
			t.Errorf("okResult(%q) = %q, %v; want %q", tc.raw, res, ok, tc.want)
		}
	}
}

func FuzzOKResult(f *testing.F) {
	for _, s := range []string{`{"ok":true,"result":{"message_id":1}}`, `{"ok":false,"error_code":429,"parameters":{"retry_after":3}}`, `{"ok":true,"result":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkOKResult(t, raw) })
}
