package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
)

// TestBotsResolveATokenToItsBot: the bots of one local server resolve a
// scope token or a send_token to the bot that knows it; a token that one
// bot knew and dropped is expired, not unknown; health and admin are
// found by name.
func TestBotsResolveATokenToItsBot(t *testing.T) {
	shop := &bot{name: "shop", ad: adapter.New(adapter.Options{SendToken: "send-token-of-shop-0123", MaxScopes: 1})}
	news := &bot{name: "news", ad: adapter.New(adapter.Options{SendToken: "send-token-of-news-0123"})}
	bs := newBots([]*bot{shop, news})

	old := shop.ad.Registry().Acquire(adapter.ScopeRef{Key: "chat:1", Kind: adapter.ScopeChat, ID: 1})
	shop.ad.Registry().Release(old)
	live := shop.ad.Registry().Acquire(adapter.ScopeRef{Key: "chat:2", Kind: adapter.ScopeChat, ID: 2}) // evicts chat:1
	newsScope := news.ad.Registry().Acquire(adapter.ScopeRef{Key: "chat:2", Kind: adapter.ScopeChat, ID: 2})

	for _, tt := range []struct {
		token string
		want  *bot
	}{
		{"send-token-of-shop-0123", shop},
		{"send-token-of-news-0123", news},
		{live.Token(), shop},
		{newsScope.Token(), news},
	} {
		p, err := bs.Authorize(tt.token)
		require.NoError(t, err)
		assert.Same(t, tt.want.ad, p.Adapter(), "the token resolves to %s", tt.want.name)
	}
	_, err := bs.Authorize(old.Token())
	assert.ErrorIs(t, err, adapter.ErrExpiredToken)
	_, err = bs.Authorize("no-such-token-0123456789")
	assert.ErrorIs(t, err, adapter.ErrUnknownToken)
	_, err = bs.Send(t.Context(), adapter.Principal{}, nil, nil)
	assert.ErrorIs(t, err, adapter.ErrUnknownToken, "a principal of no bot acts as none")

	_, ok := bs.BotHealth("news")
	assert.True(t, ok)
	_, ok = bs.BotHealth("blog")
	assert.False(t, ok)
	a, ok := bs.Admin("shop")
	assert.True(t, ok)
	assert.Same(t, shop.ad, a)
	shop.revoked.Store(true)
	h := bs.Health()
	assert.False(t, h.Ready)
	assert.Contains(t, h.Reasons[0], "shop: the bot token was rejected")
	assert.Len(t, h.Bots, 2)
}
