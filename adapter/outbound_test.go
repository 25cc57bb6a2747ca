package adapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

// recordingCaller is a fake Bot API caller with one func field per method
// of the interface.
type recordingCaller struct {
	mu    sync.Mutex
	calls []recordedCall
	CallF func(method string, params map[string]json.RawMessage) (json.RawMessage, error)
}

type recordedCall struct {
	Method string
	Params map[string]json.RawMessage
}

func (c *recordingCaller) Call(_ context.Context, method string, params any) (json.RawMessage, error) {
	b, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.calls = append(c.calls, recordedCall{method, p})
	c.mu.Unlock()
	if c.CallF != nil {
		return c.CallF(method, p)
	}
	return json.RawMessage(`true`), nil
}

// CallMultipart fails: calls with files go to an uploadingCaller.
func (c *recordingCaller) CallMultipart(_ context.Context, method string, _ map[string]json.RawMessage, _ []telegram.FilePart) (json.RawMessage, error) {
	return nil, fmt.Errorf("%s: this fake takes no files", method)
}

// noFiles completes a fake adapter.Telegram whose updates have no files.
type noFiles struct{}

func (noFiles) GetFile(context.Context, string) (telegram.File, error) {
	return telegram.File{}, errors.New("getFile: this fake has no files")
}

func (noFiles) Download(context.Context, string) (*telegram.Download, error) {
	return nil, errors.New("download: this fake has no files")
}

func scopeOf(t *testing.T, ref adapter.ScopeRef) *adapter.Scope {
	t.Helper()
	return adapter.NewRegistry(10, time.Minute).Acquire(ref)
}

func TestExecuteDefaultsAndRefusals(t *testing.T) {
	chat := adapter.ScopeRef{Key: "chat:-1001234567890", Kind: adapter.ScopeChat, ID: -1001234567890}
	user := adapter.ScopeRef{Key: "user:6123456789", Kind: adapter.ScopeUser, ID: 6123456789}
	biz := adapter.ScopeRef{Key: "business:bc1:6123456789", Kind: adapter.ScopeChat, ID: 6123456789, BusinessConnectionID: "bc1"}
	tests := []struct {
		name       string
		scope      *adapter.ScopeRef // nil: the send_token
		event      string
		wantMethod string
		wantParams map[string]string // params that must be present, as raw JSON
		absent     []string          // params that must be absent
		wantReason string            // non-empty: an InvalidEventError containing this
	}{
		{name: "chat_id defaults to the chat scope", scope: &chat,
			event:      `{"type":"telegram.send_message","text":"hi","parse_mode":"HTML","reply_to_message_id":5}`,
			wantMethod: "sendMessage", wantParams: map[string]string{"chat_id": "-1001234567890", "text": `"hi"`, "parse_mode": `"HTML"`, "reply_to_message_id": "5"}},
		{name: "explicit chat_id is kept", scope: &chat,
			event:      `{"type":"telegram.send_message","chat_id":"@channel","text":"hi"}`,
			wantMethod: "sendMessage", wantParams: map[string]string{"chat_id": `"@channel"`}},
		{name: "ids beyond 2^53 stay exact", scope: &chat,
			event:      `{"type":"telegram.send_message","chat_id":9007199254740993,"text":"x"}`,
			wantMethod: "sendMessage", wantParams: map[string]string{"chat_id": "9007199254740993"}},
		{name: "user scope needs chat_id", scope: &user,
			event: `{"type":"telegram.send_message","text":"hi"}`, wantReason: `needs "chat_id" in a user scope`},
		{name: "user scope with chat_id", scope: &user,
			event:      `{"type":"telegram.send_message","chat_id":6123456789,"text":"hi"}`,
			wantMethod: "sendMessage", wantParams: map[string]string{"chat_id": "6123456789"}},
		{name: "method without chat_id in a user scope", scope: &user,
			event:      `{"type":"telegram.answer_callback_query","callback_query_id":"42","text":"ok"}`,
			wantMethod: "answerCallbackQuery", absent: []string{"chat_id"}},
		{name: "inline_message_id replaces chat_id", scope: &user,
			event:      `{"type":"telegram.edit_message_text","inline_message_id":"AAA","text":"new"}`,
			wantMethod: "editMessageText", absent: []string{"chat_id"}},
		{name: "edit defaults chat_id in a chat scope", scope: &chat,
			event:      `{"type":"telegram.edit_message_text","message_id":7,"text":"new"}`,
			wantMethod: "editMessageText", wantParams: map[string]string{"chat_id": "-1001234567890", "message_id": "7"}},
		{name: "send_token needs chat_id", scope: nil,
			event: `{"type":"telegram.send_message","text":"hi"}`, wantReason: "send_token"},
		{name: "send_token with chat_id", scope: nil,
			event:      `{"type":"telegram.send_message","chat_id":1,"text":"hi"}`,
			wantMethod: "sendMessage", wantParams: map[string]string{"chat_id": "1"}},
		{name: "business scope fills business_connection_id", scope: &biz,
			event:      `{"type":"telegram.send_message","text":"hi"}`,
			wantMethod: "sendMessage", wantParams: map[string]string{"chat_id": "6123456789", "business_connection_id": `"bc1"`}},
		{name: "business scope to another chat does not", scope: &biz,
			event:      `{"type":"telegram.send_message","chat_id":42,"text":"hi"}`,
			wantMethod: "sendMessage", absent: []string{"business_connection_id"}},
		{name: "unknown method passes through without defaults", scope: &chat,
			event:      `{"type":"telegram.frobnicate_widget","x":1}`,
			wantMethod: "frobnicateWidget", absent: []string{"chat_id"}},
		{name: "camelCase type", scope: &chat, event: `{"type":"telegram.sendMessage"}`, wantReason: "snake_case"},
		{name: "no prefix", scope: &chat, event: `{"type":"send_message"}`, wantReason: "unknown event type"},
		{name: "missing type", scope: &chat, event: `{"text":"hi"}`, wantReason: `missing "type"`},
		{name: "type not a string", scope: &chat, event: `{"type":5}`, wantReason: `missing "type"`},
		{name: "not an object", scope: &chat, event: `[1]`, wantReason: "JSON object"},
		{name: "get_updates refused", scope: &chat, event: `{"type":"telegram.get_updates"}`, wantReason: "refused"},
		{name: "set_webhook refused", scope: &chat, event: `{"type":"telegram.set_webhook","url":"x"}`, wantReason: "refused"},
		{name: "delete_webhook refused", scope: &chat, event: `{"type":"telegram.delete_webhook"}`, wantReason: "refused"},
		{name: "log_out refused", scope: &chat, event: `{"type":"telegram.log_out"}`, wantReason: "refused"},
		{name: "close refused", scope: &chat, event: `{"type":"telegram.close"}`, wantReason: "refused"},
		{name: "refused whatever the spelling (method names are case-insensitive)", scope: &chat, event: `{"type":"telegram.setwebhook","url":"x"}`, wantReason: "refused"},
		{name: "refused spelled in other words", scope: &chat, event: `{"type":"telegram.log_out"}`, wantReason: "refused"},
		{name: "refused getupdates", scope: &chat, event: `{"type":"telegram.getupdates"}`, wantReason: "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &recordingCaller{}
			var s *adapter.Scope
			if tt.scope != nil {
				s = scopeOf(t, *tt.scope)
			}
			res, err := adapter.NewExecutor(tg).Execute(context.Background(), s, []json.RawMessage{json.RawMessage(tt.event)})
			if tt.wantReason != "" {
				var inv *adapter.InvalidEventError
				require.ErrorAs(t, err, &inv)
				assert.Contains(t, inv.Reason, tt.wantReason)
				assert.Empty(t, tg.calls, "nothing may be called")
				return
			}
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Len(t, tg.calls, 1)
			got := tg.calls[0]
			assert.Equal(t, tt.wantMethod, got.Method)
			assert.NotContains(t, got.Params, "type")
			for k, v := range tt.wantParams {
				assert.JSONEq(t, v, string(got.Params[k]), "param %s", k)
			}
			for _, k := range tt.absent {
				assert.NotContains(t, got.Params, k)
			}
		})
	}
}

func TestExecuteValidatesAllBeforeCalling(t *testing.T) {
	tg := &recordingCaller{}
	s := scopeOf(t, adapter.ScopeRef{Key: "chat:1", Kind: adapter.ScopeChat, ID: 1})
	_, err := adapter.NewExecutor(tg).Execute(context.Background(), s, []json.RawMessage{
		json.RawMessage(`{"type":"telegram.send_message","text":"a"}`),
		json.RawMessage(`{"type":"nope"}`),
	})
	var inv *adapter.InvalidEventError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, 1, inv.Index)
	assert.Empty(t, tg.calls)
}

func TestExecuteStopsAtFirstFailure(t *testing.T) {
	refusal := &telegram.Error{Method: "sendMessage", Code: 400, Description: "Bad Request: message text is empty"}
	tg := &recordingCaller{CallF: func(_ string, p map[string]json.RawMessage) (json.RawMessage, error) {
		if string(p["text"]) == `""` {
			return nil, refusal
		}
		return json.RawMessage(`{"message_id":1}`), nil
	}}
	s := scopeOf(t, adapter.ScopeRef{Key: "chat:1", Kind: adapter.ScopeChat, ID: 1})
	res, err := adapter.NewExecutor(tg).Execute(context.Background(), s, []json.RawMessage{
		json.RawMessage(`{"type":"telegram.send_message","text":"a"}`),
		json.RawMessage(`{"type":"telegram.send_message","text":""}`),
		json.RawMessage(`{"type":"telegram.send_message","text":"c"}`),
	})
	var ce *adapter.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Index)
	assert.Equal(t, "sendMessage", ce.Method)
	var te *telegram.Error
	require.True(t, errors.As(err, &te))
	assert.Equal(t, 400, te.Code)
	assert.Len(t, res, 1)
	assert.Len(t, tg.calls, 2, "the third call must not be made")
}
