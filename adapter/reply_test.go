package adapter_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
)

func TestParseReply(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name        string
		contentType string
		body        string
		want        []string
		wantErr     error // nil: no error; errAny: some error
	}{
		{name: "empty body", contentType: js, body: ""},
		{name: "whitespace body", contentType: "", body: " \n"},
		{name: "null", contentType: js, body: "null"},
		{name: "empty object", contentType: js, body: " { } "},
		{name: "empty array", contentType: js, body: "[]"},
		{name: "one event", contentType: js, body: `{"type":"telegram.send_message","text":"hi"}`, want: []string{`{"type":"telegram.send_message","text":"hi"}`}},
		{name: "charset ignored", contentType: "application/json; charset=utf-8", body: `{"type":"telegram.send_message"}`, want: []string{`{"type":"telegram.send_message"}`}},
		{name: "array", contentType: js, body: `[{"type":"a"},{"type":"b"}]`, want: []string{`{"type":"a"}`, `{"type":"b"}`}},
		{name: "plain OK", contentType: "text/plain", body: "OK", wantErr: adapter.ErrNotJSON},
		{name: "json without content type", contentType: "", body: `{"type":"telegram.send_message"}`, wantErr: adapter.ErrNotJSON},
		{name: "declared json that does not parse", contentType: js, body: `{"type":`, wantErr: errAny},
		{name: "json string", contentType: js, body: `"hello"`, wantErr: errAny},
		{name: "json number", contentType: js, body: `42`, wantErr: errAny},
		{name: "problem+json is json", contentType: "application/problem+json", body: `{"type":"x"}`, want: []string{`{"type":"x"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := adapter.ParseReply(tt.contentType, []byte(tt.body))
			switch {
			case tt.wantErr == errAny:
				require.Error(t, err)
				assert.NotErrorIs(t, err, adapter.ErrNotJSON)
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			default:
				require.NoError(t, err)
			}
			var gotS []string
			for _, g := range got {
				gotS = append(gotS, string(g))
			}
			assert.Equal(t, tt.want, gotS)
		})
	}
}

var errAny = errors.New("any error")

func TestSplitEvents(t *testing.T) {
	tests := []struct {
		body    string
		n       int
		wantErr bool
	}{
		{`{"type":"telegram.send_message"}`, 1, false},
		{`[{"type":"a"},{"type":"b"}]`, 2, false},
		{`[]`, 0, true},
		{`{`, 0, true},
		{``, 0, true},
		{`"x"`, 0, true},
		{`null`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			got, err := adapter.SplitEvents([]byte(tt.body))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, tt.n)
			for _, e := range got {
				assert.True(t, json.Valid(e))
			}
		})
	}
}
