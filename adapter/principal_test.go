package adapter_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
)

// TestPrincipalActsOnlyForItsAdapter: a Principal resolved by one
// Adapter (one bot) is refused by another, for /send, uploads and /file,
// before anything reaches Telegram; Adapter says whose it is.
func TestPrincipalActsOnlyForItsAdapter(t *testing.T) {
	a := adapter.New(adapter.Options{SendToken: "send-token-of-bot-a"})
	b := adapter.New(adapter.Options{SendToken: "send-token-of-bot-b"})
	p, err := a.Authorize("send-token-of-bot-a")
	require.NoError(t, err)
	assert.Same(t, a, p.Adapter())
	_, err = b.Authorize("send-token-of-bot-a")
	assert.ErrorIs(t, err, adapter.ErrUnknownToken, "bot b does not know bot a's send_token")

	ctx := context.Background()
	_, err = b.Send(ctx, p, nil, []json.RawMessage{json.RawMessage(`{"type":"telegram.send_message","chat_id":1,"text":"x"}`)})
	assert.ErrorIs(t, err, adapter.ErrUnknownToken)
	_, err = b.SendFiles(ctx, p, nil, json.RawMessage(`{"type":"telegram.send_document","chat_id":1}`), nil)
	assert.ErrorIs(t, err, adapter.ErrUnknownToken)
	_, _, err = b.OpenFile(ctx, p, "file")
	assert.ErrorIs(t, err, adapter.ErrUnknownToken)
}
