package fakeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// botTokens returns n tokens whose numeric prefixes are 1001, 1002, ...
func botTokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d:bot-%d-secret", 1001+i, i)
	}
	return out
}

// newBotsEnv serves one bot per token, the first as Config.Token.
func newBotsEnv(t *testing.T, tokens []string) *env {
	t.Helper()
	return newEnv(t, fakeapi.Config{Token: tokens[0], Tokens: tokens[1:]})
}

// callAs calls method with tok as the bot token.
func (e *env) callAs(ctx context.Context, tok, method string, params any) (response, error) {
	body, err := json.Marshal(params)
	require.NoError(e.t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/bot"+tok+"/"+method, bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	return e.do(req)
}

func (e *env) as(tok, method string, params any) response {
	e.t.Helper()
	r, err := e.callAs(context.Background(), tok, method, params)
	require.NoError(e.t, err)
	return r
}

func (e *env) updatesAs(tok string, params map[string]any) []update {
	e.t.Helper()
	r := e.as(tok, "getUpdates", params)
	require.True(e.t, r.OK, "getUpdates: %d %s", r.ErrorCode, r.Description)
	var ups []update
	require.NoError(e.t, json.Unmarshal(r.Result, &ups))
	return ups
}

// texts returns the message texts of ups.
func texts(t *testing.T, ups []update) []string {
	t.Helper()
	out := []string{}
	for _, u := range ups {
		var m message
		require.NoError(t, json.Unmarshal(u.Message, &m))
		out = append(out, m.Text)
	}
	return out
}

func TestBotsInterleavedEachSeesItsOwn(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d bots", n), func(t *testing.T) {
			tokens := botTokens(n)
			e := newBotsEnv(t, tokens)
			require.Len(t, e.fake.Bots(), n)
			assert.Same(t, e.fake.Bots()[0], e.fake.BotFor(tokens[0]), "Config.Token is the first bot")

			// The same chat id and message ids in every bot, interleaved.
			want := make([][]string, n)
			wantIDs := make([][]int64, n)
			for round := range 4 {
				for i, tok := range tokens {
					text := fmt.Sprintf("bot %d update %d", i, round)
					id := e.fake.BotFor(tok).AddUpdate("message", userMessage(7, int64(round+1), text))
					want[i] = append(want[i], text)
					wantIDs[i] = append(wantIDs[i], id)
				}
			}
			for i, tok := range tokens {
				b := e.fake.BotFor(tok)
				assert.Equal(t, []int64{1, 2, 3, 4}, wantIDs[i], "bot %d: ids are the bot's own, from 1", i)
				assert.Equal(t, 4, b.Pending())

				var me fakeapi.User
				r := e.as(tok, "getMe", nil)
				require.True(t, r.OK)
				require.NoError(t, json.Unmarshal(r.Result, &me))
				assert.Equal(t, int64(1001+i), me.ID, "getMe answers the token's own id")
				assert.Equal(t, me, b.User())
			}
			assert.Equal(t, int64(1001), e.fake.Bot().ID)

			// Confirming two updates of bot 0 leaves the others untouched.
			assert.Equal(t, want[0][:2], texts(t, e.updatesAs(tokens[0], map[string]any{"limit": 2})))
			assert.Equal(t, want[0][2:], texts(t, e.updatesAs(tokens[0], map[string]any{"offset": 3})))
			assert.Equal(t, int64(3), e.fake.Offset(), "the Server's Offset is the first bot's")
			for i, tok := range tokens[1:] {
				b := e.fake.BotFor(tok)
				assert.Equal(t, int64(0), b.Offset(), "bot %d", i+1)
				assert.Equal(t, 4, b.Pending(), "bot %d", i+1)
				assert.Equal(t, want[i+1], texts(t, e.updatesAs(tok, nil)), "bot %d sees only its updates, in order", i+1)
			}

			// What a bot sends lands in its own chat 7 only.
			for i, tok := range tokens {
				r := e.as(tok, "sendMessage", map[string]any{"chat_id": 7, "text": fmt.Sprintf("reply of bot %d", i)})
				require.True(t, r.OK, "%d %s", r.ErrorCode, r.Description)
				var m message
				require.NoError(t, json.Unmarshal(r.Result, &m))
				assert.Equal(t, int64(5), m.MessageID, "message ids are per bot and chat")
				assert.Equal(t, int64(1001+i), m.From.ID)
			}
			for i, tok := range tokens {
				msgs := decodeMessages(t, e.fake.BotFor(tok).Messages(7))
				require.NotEmpty(t, msgs)
				for _, m := range msgs[:len(msgs)-1] {
					assert.Contains(t, m.Text, fmt.Sprintf("bot %d update", i))
				}
				assert.Equal(t, fmt.Sprintf("reply of bot %d", i), msgs[len(msgs)-1].Text)
			}

			// Calls are recorded per bot, and all together on the Server.
			total := 0
			for i, tok := range tokens {
				calls := e.fake.BotFor(tok).Calls()
				total += len(calls)
				assert.Len(t, e.fake.BotFor(tok).CallsTo("sendmessage"), 1, "bot %d", i)
			}
			assert.Len(t, e.fake.Calls(), total)
		})
	}
}

func TestBotsRevokingOneLeavesTheOthers(t *testing.T) {
	tokens := botTokens(3)
	e := newBotsEnv(t, tokens)
	revoked := e.fake.BotFor(tokens[1])
	revoked.AddFile("f1", []byte("secret"), "documents/f1.txt")

	// The revoked bot's held long poll ends with 401.
	done := make(chan response, 1)
	go func() {
		r, _ := e.callAs(context.Background(), tokens[1], "getUpdates", map[string]any{"timeout": 30})
		done <- r
	}()
	eventually(t, revoked.Polling, "bot 1's long poll")
	revoked.RevokeToken()
	assert.Equal(t, 401, (<-done).ErrorCode)

	for _, m := range []string{"getMe", "getUpdates", "sendMessage", "getFile"} {
		r := e.as(tokens[1], m, map[string]any{"chat_id": 1, "text": "x", "file_id": "f1"})
		assert.Equal(t, 401, r.ErrorCode, m)
	}
	resp, err := e.srv.Client().Get(e.srv.URL + "/file/bot" + tokens[1] + "/documents/f1.txt")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)

	for _, i := range []int{0, 2} {
		tok := tokens[i]
		e.fake.BotFor(tok).AddUpdate("message", userMessage(7, 1, "still here"))
		assert.True(t, e.as(tok, "getMe", nil).OK, "bot %d", i)
		assert.Equal(t, []string{"still here"}, texts(t, e.updatesAs(tok, nil)), "bot %d", i)
		assert.True(t, e.as(tok, "sendMessage", map[string]any{"chat_id": 7, "text": "x"}).OK, "bot %d", i)
	}
}

// A new token from @BotFather: the old one answers 401 (its held long poll
// too), and the same bot, with its update ids and offset, answers to the
// new one.
func TestBotsNewTokenKeepsTheBot(t *testing.T) {
	tokens := botTokens(2)
	e := newBotsEnv(t, tokens)
	b := e.fake.BotFor(tokens[1])
	b.AddUpdate("message", userMessage(7, 1, "one"))
	ups := e.updatesAs(tokens[1], nil)
	require.Len(t, ups, 1)
	first := ups[0].UpdateID

	done := make(chan response, 1)
	go func() {
		r, _ := e.callAs(context.Background(), tokens[1], "getUpdates", map[string]any{"offset": first + 1, "timeout": 30})
		done <- r
	}()
	eventually(t, b.Polling, "the long poll")
	renewed := "1002:bot-1-renewed-secret"
	b.NewToken(renewed)
	assert.Equal(t, 401, (<-done).ErrorCode)
	assert.Equal(t, 401, e.as(tokens[1], "getMe", nil).ErrorCode, "the old token")
	assert.Nil(t, e.fake.BotFor(tokens[1]))
	assert.Same(t, b, e.fake.BotFor(renewed))
	assert.Equal(t, renewed, b.Token())

	b.AddUpdate("message", userMessage(7, 2, "two"))
	ups = e.updatesAs(renewed, map[string]any{"offset": first + 1})
	require.Len(t, ups, 1)
	assert.Equal(t, first+1, ups[0].UpdateID, "update ids go on")
	assert.Equal(t, []string{"two"}, texts(t, ups))
	assert.True(t, e.as(renewed, "getMe", nil).OK)
	assert.True(t, e.as(tokens[0], "getMe", nil).OK, "the other bot")
}

func TestBotsLongPollNotWokenByAnotherBot(t *testing.T) {
	tokens := botTokens(2)
	e := newBotsEnv(t, tokens)
	a, b := e.fake.BotFor(tokens[0]), e.fake.BotFor(tokens[1])

	done := make(chan []update, 1)
	go func() {
		r, err := e.callAs(context.Background(), tokens[0], "getUpdates", map[string]any{"timeout": 30})
		var ups []update
		if err == nil {
			_ = json.Unmarshal(r.Result, &ups)
		}
		done <- ups
	}()
	eventually(t, a.Polling, "bot A's long poll")

	b.AddUpdate("message", userMessage(7, 1, "for B"))
	// B's update is in B's queue, and B's own poll answers it.
	assert.Equal(t, []string{"for B"}, texts(t, e.updatesAs(tokens[1], map[string]any{"timeout": 30})))
	select {
	case ups := <-done:
		t.Fatalf("bot A's long poll answered after bot B's update: %v", ids(ups))
	default:
	}
	assert.True(t, a.Polling(), "bot A still waits")
	assert.False(t, b.Polling())

	a.AddUpdate("message", userMessage(7, 1, "for A"))
	assert.Equal(t, []string{"for A"}, texts(t, <-done), "A's poll answers only A's update")
}

func TestBotsFilesArePerBot(t *testing.T) {
	tokens := botTokens(2)
	e := newBotsEnv(t, tokens)
	e.fake.BotFor(tokens[0]).AddFile("fa", []byte("of A"), "documents/a.txt")

	get := func(tok, path string) (int, string) {
		resp, err := e.srv.Client().Get(e.srv.URL + "/file/bot" + tok + "/" + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	status, body := get(tokens[0], "documents/a.txt")
	assert.Equal(t, 200, status)
	assert.Equal(t, "of A", body)
	status, _ = get(tokens[1], "documents/a.txt")
	assert.Equal(t, 404, status, "bot B cannot download bot A's file")
	status, _ = get("999:unknown", "documents/a.txt")
	assert.Equal(t, 401, status)

	assert.True(t, e.as(tokens[0], "getFile", map[string]any{"file_id": "fa"}).OK)
	r := e.as(tokens[1], "getFile", map[string]any{"file_id": "fa"})
	assert.Equal(t, 400, r.ErrorCode, "bot B does not know bot A's file_id")
	_, _, ok := e.fake.BotFor(tokens[1]).File("fa")
	assert.False(t, ok)
}

func TestBotsUnknownTokenAndFaults(t *testing.T) {
	tokens := botTokens(2)
	e := newBotsEnv(t, tokens)
	r := e.as("1003:not-served", "getMe", nil)
	assert.Equal(t, 401, r.ErrorCode)
	assert.Equal(t, "Unauthorized", r.Description)
	assert.Nil(t, e.fake.BotFor("1003:not-served"))

	// A bot's fault applies to its own calls only.
	e.fake.BotFor(tokens[1]).Fail("getMe", fakeapi.Fault{Code: 500})
	assert.True(t, e.as(tokens[0], "getMe", nil).OK)
	assert.Equal(t, 500, e.as(tokens[1], "getMe", nil).ErrorCode)
	assert.True(t, e.as(tokens[1], "getMe", nil).OK, "the fault was used up")

	// AddBot serves a new token; a token is served once.
	added := e.fake.AddBot("1003:added", fakeapi.User{})
	assert.Equal(t, int64(1003), added.User().ID)
	assert.True(t, e.as("1003:added", "getMe", nil).OK)
	assert.Panics(t, func() { e.fake.AddBot(tokens[1], fakeapi.User{}) })
	assert.Panics(t, func() { fakeapi.New(fakeapi.Config{Token: "1:a", Tokens: []string{"1:a"}}) })
}

func TestThousandBotsAnswerGetMe(t *testing.T) {
	tokens := botTokens(1000)
	e := newBotsEnv(t, tokens)
	require.Len(t, e.fake.Bots(), 1000)
	for i, tok := range tokens {
		r := e.as(tok, "getMe", nil)
		require.True(t, r.OK, "bot %d: %d %s", i, r.ErrorCode, r.Description)
		var me fakeapi.User
		require.NoError(t, json.Unmarshal(r.Result, &me))
		require.Equal(t, int64(1001+i), me.ID, "bot %d", i)
	}
	for i, tok := range tokens {
		require.Len(t, e.fake.BotFor(tok).Calls(), 1, "bot %d", i)
	}
}
