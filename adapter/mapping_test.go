package adapter_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

const botUser = `{"id":100000001,"is_bot":true,"first_name":"Fake Bot","username":"fake_bot"}`

func testMapper() *adapter.Mapper {
	return &adapter.Mapper{BotUser: json.RawMessage(botUser), BotID: 100000001}
}

type manifestEntry struct {
	File                 string `json:"file"`
	Field                string `json:"field"`
	Scope                string `json:"scope"`
	ScopeID              int64  `json:"scope_id"`
	BusinessConnectionID string `json:"business_connection_id"`
}

// TestMapEveryUpdateKind maps a realistic payload of every Update kind of
// Bot API 10.1 (and kinds the adapter does not know) and checks scope and
// event against testdata/updates/manifest.json.
func TestMapEveryUpdateKind(t *testing.T) {
	raw, err := os.ReadFile("testdata/updates/manifest.json")
	require.NoError(t, err)
	var manifest []manifestEntry
	require.NoError(t, json.Unmarshal(raw, &manifest))

	seen := map[string]bool{}
	for _, m := range manifest {
		t.Run(m.File, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/updates", m.File))
			require.NoError(t, err)
			ups, bad := adapter.ParseUpdates([]json.RawMessage{data})
			require.Empty(t, bad)
			require.Len(t, ups, 1)
			ev, err := testMapper().Map(ups[0])
			require.NoError(t, err)
			seen[m.Field] = true

			assert.Equal(t, m.Field, ev.Field)
			assert.Equal(t, "telegram."+m.Field, ev.Type)

			// Scope.
			var scope map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(ev.Scope.JSON, &scope))
			assert.JSONEq(t, `"telegram"`, string(scope["type"]))
			id := strconv.FormatInt(m.ScopeID, 10)
			switch m.Scope {
			case "chat":
				assert.Equal(t, adapter.ScopeChat, ev.Scope.Kind)
				assert.NotContains(t, scope, "user")
				assert.Equal(t, m.ScopeID, idOf(t, scope["chat"]))
				if m.BusinessConnectionID != "" {
					assert.Equal(t, "business:"+m.BusinessConnectionID+":"+id, ev.Scope.Key)
					assert.JSONEq(t, strconv.Quote(m.BusinessConnectionID), string(scope["business_connection_id"]))
				} else if m.Field == "guest_message" {
					assert.Equal(t, "guest:"+id, ev.Scope.Key)
				} else {
					assert.Equal(t, "chat:"+id, ev.Scope.Key)
					assert.NotContains(t, scope, "business_connection_id")
				}
			case "user":
				assert.Equal(t, adapter.ScopeUser, ev.Scope.Kind)
				assert.Equal(t, "user:"+id, ev.Scope.Key)
				assert.NotContains(t, scope, "chat")
				assert.Equal(t, m.ScopeID, idOf(t, scope["user"]))
			case "none":
				assert.Equal(t, adapter.ScopeBot, ev.Scope.Kind)
				assert.Equal(t, "bot", ev.Scope.Key)
				assert.JSONEq(t, botUser, string(scope["user"]), "no chat and no user: the bot's own user scope")
			default:
				t.Fatalf("manifest scope %q", m.Scope)
			}
			if m.Scope != "none" {
				assert.Equal(t, m.ScopeID, ev.Scope.ID)
			}

			// Event: exactly the keys of the Telegram object, plus "type";
			// the object's own "type" moves to "<field>_type".
			var update map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(data, &update))
			var object, event map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(update[m.Field], &object))
			require.NoError(t, json.Unmarshal(ev.JSON, &event))
			assert.JSONEq(t, strconv.Quote("telegram."+m.Field), string(event["type"]))
			want := len(object) + 1
			for k, v := range object {
				if k == "type" {
					assert.JSONEq(t, string(v), string(event[m.Field+"_type"]))
					continue
				}
				assert.JSONEq(t, string(v), string(event[k]), "key %s", k)
			}
			assert.Len(t, event, want)
		})
	}
	// Every kind of the catalogue (the 25 of Bot API 10.1; see
	// telegram.TestUpdateKindsOfBotAPI101) has an example.
	for _, kind := range telegram.UpdateKindNames() {
		assert.True(t, seen[kind], "no testdata for %s", kind)
	}
}

func idOf(t *testing.T, raw json.RawMessage) int64 {
	t.Helper()
	var v struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal(raw, &v), "entity %s", raw)
	return v.ID
}

func TestMapOddUpdates(t *testing.T) {
	tests := []struct {
		name      string
		update    string
		wantType  string
		wantScope string
		wantEvent string
	}{
		{"no field at all", `{"update_id":5}`, "telegram.unknown", "bot", `{"type":"telegram.unknown"}`},
		{"non-object payload", `{"update_id":5,"future_flag":true}`, "telegram.future_flag", "bot", `{"type":"telegram.future_flag","value":true}`},
		{"unknown kind with a user", `{"update_id":5,"gift_sent":{"from":{"id":6123456789,"is_bot":false,"first_name":"A"},"gift":"x"}}`,
			"telegram.gift_sent", "user:6123456789", `{"type":"telegram.gift_sent","from":{"id":6123456789,"is_bot":false,"first_name":"A"},"gift":"x"}`},
		{"unknown kind with a message", `{"update_id":5,"message_pinned":{"message":{"message_id":1,"chat":{"id":-5,"type":"group"}}}}`,
			"telegram.message_pinned", "chat:-5", `{"type":"telegram.message_pinned","message":{"message_id":1,"chat":{"id":-5,"type":"group"}}}`},
		{"chat without id is no chat", `{"update_id":5,"message":{"chat":{"type":"private"},"from":{"id":7}}}`,
			"telegram.message", "bot", `{"type":"telegram.message","chat":{"type":"private"},"from":{"id":7}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups, bad := adapter.ParseUpdates([]json.RawMessage{json.RawMessage(tt.update)})
			require.Empty(t, bad)
			ev, err := testMapper().Map(ups[0])
			require.NoError(t, err)
			assert.Equal(t, tt.wantType, ev.Type)
			assert.Equal(t, tt.wantScope, ev.Scope.Key)
			assert.JSONEq(t, tt.wantEvent, string(ev.JSON))
		})
	}
}

func TestParseUpdatesRejectsNonUpdates(t *testing.T) {
	ups, bad := adapter.ParseUpdates([]json.RawMessage{
		json.RawMessage(`{"update_id":1,"message":{}}`),
		json.RawMessage(`{"message":{}}`),
		json.RawMessage(`[1]`),
		json.RawMessage(`{"update_id":"x"}`),
	})
	require.Len(t, ups, 1)
	assert.Equal(t, int64(1), ups[0].ID)
	assert.Len(t, bad, 3)
}

// BenchmarkMap maps a private-chat text message, the commonest update.
func BenchmarkMap(b *testing.B) {
	m := &adapter.Mapper{BotUser: json.RawMessage(`{"id":7,"is_bot":true,"first_name":"B"}`), BotID: 7}
	raw := json.RawMessage(`{"update_id":812345678,"message":{"message_id":4321,"from":{"id":123456789,"is_bot":false,"first_name":"Ada","last_name":"Lovelace","username":"ada","language_code":"en"},"chat":{"id":123456789,"first_name":"Ada","last_name":"Lovelace","username":"ada","type":"private"},"date":1764000000,"text":"hello there, bot"}}`)
	u := adapter.Update{ID: 812345678, Raw: raw}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(u); err != nil {
			b.Fatal(err)
		}
	}
}
