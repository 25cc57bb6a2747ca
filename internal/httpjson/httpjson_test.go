package httpjson

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		name       string
		indent     bool
		v          any
		status     int
		wantStatus int
		wantBody   string
	}{
		{"compact, HTML kept", false, map[string]any{"ok": false, "description": "<b>bad</b> & worse"}, 400, 400,
			`{"description":"<b>bad</b> & worse","ok":false}` + "\n"},
		{"indented", true, map[string]int{"a": 1}, 200, 200, "{\n  \"a\": 1\n}\n"},
		{"cannot encode", false, map[string]any{"f": func() {}}, 200, 500, `{"ok":false}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			write := Write
			if c.indent {
				write = WriteIndent
			}
			got := write(rec, c.status, c.v, `{"ok":false}`)
			assert.Equal(t, c.wantStatus, got)
			assert.Equal(t, c.wantStatus, rec.Code)
			assert.Equal(t, c.wantBody, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Equal(t, len(c.wantBody), int(rec.Result().ContentLength))
		})
	}
}
