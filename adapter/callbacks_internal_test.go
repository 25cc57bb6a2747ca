package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// answerLog records the answers asgigram makes.
type answerLog struct {
	mu  sync.Mutex
	ids []string
	err error // what the next answers return
}

func (l *answerLog) answer(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, id)
	return l.err
}

func (l *answerLog) answered() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func callbackUpdate(id int64, queryID string) Update {
	raw, _ := json.Marshal(map[string]any{"update_id": id, "callback_query": map[string]any{"id": queryID, "data": "x"}})
	return Update{ID: id, Raw: raw}
}

func TestCallbacksAnswerWhatTheAppLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l answerLog
		c := newCallbacks(10*time.Second, l.answer, slog.New(slog.DiscardHandler))
		msg, _ := json.Marshal(map[string]any{"update_id": 1, "message": map[string]any{"text": "hi"}})
		c.fetched([]Update{{ID: 1, Raw: msg}, callbackUpdate(2, "left"), callbackUpdate(3, "app"), callbackUpdate(4, "late"), callbackUpdate(5, "failed")})
		c.fetched([]Update{callbackUpdate(4, "late")}) // fetched again: one timer

		time.Sleep(9 * time.Second)
		assert.True(t, c.byApp("app"), "the app answers in time")
		assert.True(t, c.byApp("failed"))
		c.appFailed("failed") // its answer did not count
		synctest.Wait()
		assert.Empty(t, l.answered(), "nothing before callback_answer_after")

		time.Sleep(time.Second)
		synctest.Wait()
		assert.ElementsMatch(t, []string{"left", "late", "failed"}, l.answered())
		assert.False(t, c.byApp("late"), "answered by asgigram: the app's answer is skipped")
		assert.False(t, c.byApp("left"))
		assert.True(t, c.byApp("app"), "the app may answer its own query again (Telegram judges)")
	})
}

func TestCallbacksForgetAnsweredQueries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l answerLog
		l.err = errors.New("query is too old")
		c := newCallbacks(time.Second, l.answer, slog.New(slog.DiscardHandler))
		for i := range 100 {
			c.fetched([]Update{callbackUpdate(int64(i), "q"+string(rune('A'+i%26))+string(rune('a'+i/26)))})
		}
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, l.answered(), 100, "a failed answer is logged, nothing more")
		c.mu.Lock()
		assert.Len(t, c.claimed, 100)
		assert.Empty(t, c.timers)
		c.mu.Unlock()

		time.Sleep(c.keep + time.Second)
		c.byApp("new") // an answer now and then drops the expired ones
		c.mu.Lock()
		assert.Len(t, c.claimed, 1, "answered queries are remembered for a few minutes only")
		c.mu.Unlock()
		assert.True(t, c.byApp("qAa"), "an expired query is not skipped any more")
	})
}

func TestCallbacksStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l answerLog
		c := newCallbacks(time.Second, l.answer, slog.New(slog.DiscardHandler))
		c.fetched([]Update{callbackUpdate(1, "q")})
		c.stop()
		c.fetched([]Update{callbackUpdate(2, "r")})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Empty(t, l.answered(), "nothing is answered after the adapter stopped")
	})
}
