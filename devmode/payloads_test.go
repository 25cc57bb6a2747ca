package devmode

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommandEntities(t *testing.T) {
	cases := []struct {
		text string
		want []Entity
	}{
		{"hello", nil},
		{"/start", []Entity{{"bot_command", 0, 6}}},
		{"/start@asgigram_dev_bot payload", []Entity{{"bot_command", 0, 23}}},
		{"/", nil},
		{"a/b and /help me", []Entity{{"bot_command", 8, 5}}},
		// 😀 is two UTF-16 units, é one: offsets count UTF-16 units.
		{"😀 é /go now", []Entity{{"bot_command", 5, 3}}},
		{"/a /b\n/c", []Entity{{"bot_command", 0, 2}, {"bot_command", 3, 2}, {"bot_command", 6, 2}}},
		{"/start@ x", []Entity{{"bot_command", 0, 6}}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, CommandEntities(c.text), "%q", c.text)
	}
}

func TestUserObject(t *testing.T) {
	u, id, err := userObject(42, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(42), id)
	assert.Equal(t, map[string]any{"id": int64(42), "is_bot": false, "first_name": "User 42", "language_code": "en"}, u)

	// An id beyond 2^53 survives: no float64 on the way.
	u, id, err = userObject(42, json.RawMessage(`{"id": 9007199254740993, "username": "ann"}`))
	require.NoError(t, err)
	assert.Equal(t, int64(9007199254740993), id)
	b, err := json.Marshal(u)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":9007199254740993,"is_bot":false,"first_name":"User 9007199254740993","language_code":"en","username":"ann"}`, string(b))
	assert.Contains(t, string(b), "9007199254740993")

	for _, bad := range []string{`"ann"`, `{"id": "x"}`, `{"id": -1}`, `{"id": 1.5}`, `[]`} {
		_, _, err := userObject(1, json.RawMessage(bad))
		assert.Error(t, err, bad)
	}
}

func TestChatObject(t *testing.T) {
	from := map[string]any{"first_name": "Ann", "username": "ann"}
	assert.Equal(t, map[string]any{"id": int64(7), "type": "private", "first_name": "Ann", "username": "ann"}, chatObject(7, from))
	assert.Equal(t, "group", chatObject(-5, from)["type"])
	assert.Equal(t, "supergroup", chatObject(-1001234567890, from)["type"])
	assert.Equal(t, chatInstance(7), chatInstance(7))
	assert.NotEqual(t, chatInstance(7), chatInstance(8))
}
