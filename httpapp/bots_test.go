package httpapp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
)

// namedAdmin is an Admin whose one dead letter is named after its bot.
type namedAdmin string

func (a namedAdmin) DeadLetters() ([]adapter.DeadLetter, error) {
	return []adapter.DeadLetter{{ID: 1, Scope: string(a)}}, nil
}
func (a namedAdmin) DeadLetter(id uint64) (adapter.DeadLetter, error) {
	if id != 1 {
		return adapter.DeadLetter{}, adapter.ErrNoDeadLetter
	}
	return adapter.DeadLetter{ID: 1, Scope: string(a)}, nil
}
func (namedAdmin) DropDeadLetter(uint64) error   { return nil }
func (namedAdmin) ReplayDeadLetter(uint64) error { return nil }

// TestEndpointsOfSeveralBots: /readyz?bot=NAME answers for one bot,
// /admin/bots/{name}/deadletters... address one bot's dead letters, an
// unknown name is 404, and without a process-wide Admin the single-bot
// admin paths answer 404 naming the per-bot ones.
func TestEndpointsOfSeveralBots(t *testing.T) {
	const admin = "admin-token-0123456789"
	bots := map[string]adapter.Health{"shop": {Ready: true}, "news": {Ready: false, Reasons: []string{"stopped"}}}
	h := httpapp.NewRouter(httpapp.RouterOptions{
		Sender: stubSender{},
		Health: func() adapter.Health {
			return adapter.Health{Ready: false, Reasons: []string{"news: stopped"}, Bots: bots}
		},
		BotHealth: func(name string) (adapter.Health, bool) {
			b, ok := bots[name]
			return b, ok
		},
		AdminBot: func(name string) (httpapp.Admin, bool) {
			_, ok := bots[name]
			return namedAdmin(name), ok
		},
		AdminToken: admin,
	})
	do := func(method, path string) (int, map[string]json.RawMessage) {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]json.RawMessage
		assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), "%s %s: %s", method, path, rec.Body.String())
		return rec.Code, out
	}
	code, out := do("GET", "/readyz")
	assert.Equal(t, 503, code)
	assert.JSONEq(t, `{"shop":{"ready":true},"news":{"ready":false,"reasons":["stopped"]}}`, string(out["bots"]))
	code, _ = do("GET", "/readyz?bot=shop")
	assert.Equal(t, 200, code)
	code, out = do("GET", "/readyz?bot=news")
	assert.Equal(t, 503, code)
	assert.JSONEq(t, `["stopped"]`, string(out["reasons"]))
	code, _ = do("GET", "/readyz?bot=blog")
	assert.Equal(t, 404, code)

	code, out = do("GET", "/admin/bots/news/deadletters")
	assert.Equal(t, 200, code)
	assert.Contains(t, string(out["dead_letters"]), `"scope":"news"`)
	code, out = do("GET", "/admin/bots/shop/deadletters/1")
	assert.Equal(t, 200, code)
	assert.Contains(t, string(out["dead_letter"]), `"scope":"shop"`)
	code, _ = do("GET", "/admin/bots/shop/deadletters/2")
	assert.Equal(t, 404, code)
	code, _ = do("POST", "/admin/bots/shop/deadletters/1/replay")
	assert.Equal(t, 200, code)
	code, _ = do("DELETE", "/admin/bots/news/deadletters/1")
	assert.Equal(t, 200, code)
	code, out = do("GET", "/admin/bots/blog/deadletters")
	assert.Equal(t, 404, code)
	assert.Contains(t, string(out["description"]), `no bot named \"blog\"`)
	code, out = do("GET", "/admin/deadletters")
	assert.Equal(t, 404, code)
	assert.Contains(t, string(out["description"]), "/admin/bots/{name}/deadletters")
	code, _ = do("GET", "/admin/deadletters/1")
	assert.Equal(t, 404, code)

	req := httptest.NewRequest("GET", "/admin/bots/shop/deadletters", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "the per-bot paths need the admin token")
}
