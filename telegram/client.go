// Package telegram is asgigram's Bot API client: JSON calls over
// go-retryablehttp with Telegram's error envelope turned into *Error, 429
// waits taken from the body's retry_after, and retries that never repeat a
// call which may already have sent a message. The bot token never appears in
// an error it returns.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asgigram/asgigram/internal/httpbody"
	"github.com/asgigram/asgigram/internal/jsonscan"
	"github.com/hashicorp/go-retryablehttp"
)

// Options tune a Client. Zero values take the defaults named below.
type Options struct {
	// Timeout bounds one attempt of an ordinary call (default 30s).
	Timeout time.Duration
	// PollTimeout is the long-poll timeout of getUpdates; one attempt of
	// getUpdates may take PollTimeout plus 15s (default poll timeout 30s).
	PollTimeout time.Duration
	// RetryMax is the number of retries after the first attempt (default 5).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff between retries that
	// are not 429s (defaults 200ms and 10s). A 429 waits its retry_after.
	RetryWaitMin, RetryWaitMax time.Duration
	// UserAgent is sent with every call.
	UserAgent string
	// Transport is the HTTP transport (default: a pooled transport that
	// closes connections idle for 4s).
	Transport http.RoundTripper
	// Logger receives debug lines about retries (never a URL). Default: discard.
	Logger *slog.Logger
	// Observe, when set, is called once per call when it ends (metrics).
	Observe func(CallStats)
}

// Outcomes of a call, for CallStats.
const (
	OutcomeOK      = "ok"      // Telegram answered ok
	OutcomeRefused = "refused" // Telegram answered with an error
	OutcomeUnknown = "unknown" // the call may or may not have happened
	OutcomeFailed  = "failed"  // Telegram was not reached, or the caller gave up
)

// CallStats describes one finished call.
type CallStats struct {
	Method  string
	Outcome string
	// RateLimited counts the 429 answers waited out during the call.
	RateLimited int
	Duration    time.Duration
}

// idleConnTimeout is how long the default transport keeps an unused
// connection for reuse. A server closes a connection left idle past its
// keep-alive timeout (or, one that never carried a request, past its
// request-header timeout), and a request written onto the connection just as
// it does so reads EOF: for a sendMessage that is an unknown outcome, never
// retried, and the reply ends as a dead letter. The transport notices a close
// only when its reading goroutine sees it, which on a busy machine can take
// tens of milliseconds. Closing idle connections before the server does
// leaves no such race with a server whose timeout is longer: 4s is below the
// shortest common ones (5s for Apache httpd and Node.js;
// http.DefaultTransport keeps connections 90s, past even nginx's 75s).
const idleConnTimeout = 4 * time.Second

// Client calls the Bot API of one bot.
type Client struct {
	observe   func(CallStats)
	base      string // <api_url>/bot<token>/
	fileBase  string // <api_url>/file/bot<token>/
	red       redactor
	call      *retryablehttp.Client
	poll      *retryablehttp.Client
	dl        *retryablehttp.Client // file downloads: no overall timeout
	timeout   time.Duration         // one attempt of a call; a download's wait for headers
	userAgent string
	log       *slog.Logger
}

// New returns a Client for the bot with token, talking to the Bot API at
// apiURL (https://api.telegram.org, or a local Bot API server or a fake).
func New(apiURL, token string, opt Options) *Client {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.PollTimeout <= 0 {
		opt.PollTimeout = 30 * time.Second
	}
	if opt.RetryMax == 0 {
		opt.RetryMax = 5
	}
	if opt.RetryWaitMin <= 0 {
		opt.RetryWaitMin = 200 * time.Millisecond
	}
	if opt.RetryWaitMax <= 0 {
		opt.RetryWaitMax = 10 * time.Second
	}
	if opt.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 100
		t.IdleConnTimeout = idleConnTimeout
		opt.Transport = t
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		base:      strings.TrimRight(apiURL, "/") + "/bot" + token + "/",
		fileBase:  strings.TrimRight(apiURL, "/") + "/file/bot" + token + "/",
		timeout:   opt.Timeout,
		red:       newRedactor(token),
		userAgent: opt.UserAgent,
		log:       opt.Logger,
		observe:   opt.Observe,
	}
	c.call = c.newRetrying(opt, opt.Timeout)
	c.poll = c.newRetrying(opt, opt.PollTimeout+15*time.Second)
	// A download streams for as long as the file takes: its context bounds
	// it, and Download bounds the wait for the response headers.
	c.dl = c.newRetrying(opt, 0)
	c.dl.RetryMax = min(opt.RetryMax, 1)
	return c
}

func (c *Client) newRetrying(opt Options, timeout time.Duration) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: opt.Transport,
			Timeout:   timeout,
			// The Bot API does not redirect; never follow one with the token.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:         nil, // its messages carry URLs, and URLs carry the token
		RetryWaitMin:   opt.RetryWaitMin,
		RetryWaitMax:   opt.RetryWaitMax,
		RetryMax:       opt.RetryMax,
		CheckRetry:     checkRetry,
		Backoff:        backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: c.beforeAttempt,
	}
}

// attempt is the state of one call shared with the retry hooks through the
// request's context.
type attempt struct {
	method      string
	safe        bool
	wrote       atomic.Bool  // the current attempt's request was written in full
	rateLimited atomic.Int32 // 429 answers seen
}

type attemptKey struct{}

type rateLimitKey struct{}

// WithRateLimitHook returns a context whose calls report every 429 they
// wait out to fn, with its retry_after (the outbound pacer pauses the chat).
func WithRateLimitHook(ctx context.Context, fn func(retryAfter time.Duration)) context.Context {
	return context.WithValue(ctx, rateLimitKey{}, fn)
}

func (c *Client) beforeAttempt(_ retryablehttp.Logger, req *http.Request, n int) {
	st, ok := req.Context().Value(attemptKey{}).(*attempt)
	if !ok {
		return
	}
	st.wrote.Store(false)
	if n > 0 {
		c.log.Debug("retrying bot api call", "method", st.method, "attempt", n+1)
	}
}

// checkRetry decides per attempt, following PROTOCOL §6.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st, _ := ctx.Value(attemptKey{}).(*attempt)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests && st != nil {
		// A 429 is a refusal: nothing was carried out, so a context that
		// ends during the retry_after wait leaves no outcome unknown.
		st.wrote.Store(false)
		st.rateLimited.Add(1)
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	safe := st == nil || st.safe
	if err != nil {
		// Before the request was written nothing can have happened.
		return safe || st == nil || !st.wrote.Load(), nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		// retry_after is in the JSON body; Backoff only sees a drained body,
		// so copy it into the Retry-After header here and put the body back.
		secs := peekRetryAfter(resp)
		if secs > 0 {
			resp.Header.Set("Retry-After", strconv.Itoa(secs))
		}
		if hook, ok := ctx.Value(rateLimitKey{}).(func(time.Duration)); ok {
			hook(time.Duration(secs) * time.Second)
		}
		return true, nil
	case resp.StatusCode >= 500:
		return safe, nil
	}
	return false, nil
}

// peekRetryAfter reads parameters.retry_after from a response body and puts
// the body back for the caller.
func peekRetryAfter(resp *http.Response) int {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return 0
	}
	var env envelope
	if json.Unmarshal(body, &env) != nil || env.Parameters == nil {
		return 0
	}
	return env.Parameters.RetryAfter
}

// backoff waits Retry-After for a 429 and otherwise a jittered, capped
// exponential delay.
func backoff(min, max time.Duration, n int, resp *http.Response) time.Duration {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
	}
	d := min << uint(n)
	if d <= 0 || d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// okResult reads the result of a successful answer, {"ok":true,"result":...},
// in one pass without copying it. It declines (ok false) anything that
// encoding/json might read differently: keys that are not plain, keys
// matching the envelope's fields only without regard to case, or an error
// field (whose type encoding/json would check); the caller then decodes the
// envelope in full.
func okResult(raw []byte) (json.RawMessage, bool) {
	var buf [4]jsonscan.Member
	ms, ok := jsonscan.AppendMembers(buf[:0], raw)
	if !ok || !jsonscan.AllPlain(ms) {
		return nil, false
	}
	var res []byte
	okTrue := false
	for _, m := range ms {
		switch k := string(m.Key); k {
		case "ok":
			okTrue = string(m.Value) == "true"
		case "result":
			res = m.Value
		default:
			for _, f := range [...]string{"ok", "result", "error_code", "description", "parameters"} {
				if strings.EqualFold(k, f) {
					return nil, false
				}
			}
		}
	}
	if !okTrue || res == nil || string(res) == "null" {
		return nil, false
	}
	return res, true
}

// Call calls a Bot API method with params (marshalled to JSON; a
// json.RawMessage or []byte is sent as it is, nil sends no body) and returns
// the result. A refusal is an *Error; a failure after which the call may have
// happened wraps ErrOutcomeUnknown.
func (c *Client) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	return c.do(ctx, c.call, method, params)
}

func (c *Client) do(ctx context.Context, hc *retryablehttp.Client, method string, params any) (res json.RawMessage, err error) {
	st := &attempt{method: method, safe: Safe(method)}
	if c.observe != nil {
		start := time.Now()
		defer func() {
			outcome := OutcomeOK
			var te *Error
			switch {
			case err == nil:
			case errors.Is(err, ErrOutcomeUnknown):
				outcome = OutcomeUnknown
			case errors.As(err, &te):
				outcome = OutcomeRefused
			default:
				outcome = OutcomeFailed
			}
			c.observe(CallStats{Method: method, Outcome: outcome, RateLimited: int(st.rateLimited.Load()), Duration: time.Since(start)})
		}()
	}
	var body []byte
	contentType := "application/json"
	switch p := params.(type) {
	case nil:
	case json.RawMessage:
		body = p
	case []byte:
		body = p
	case encodedBody:
		body, contentType = p.data, p.contentType
	default:
		var err error
		if body, err = json.Marshal(p); err != nil {
			return nil, fmt.Errorf("telegram: %s: encoding parameters: %w", method, err)
		}
	}
	ctx = context.WithValue(ctx, attemptKey{}, st)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				st.wrote.Store(true)
			}
		},
	})
	var rb any
	if body != nil {
		rb = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.base+method, rb)
	if err != nil {
		return nil, fmt.Errorf("telegram: %s: %w", method, c.red.error(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		err = c.red.error(err)
		if st.wrote.Load() {
			return nil, fmt.Errorf("telegram: %s: %w: %w", method, ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("telegram: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := httpbody.Read(resp.Body, resp.ContentLength, 0)
	if err != nil {
		err = c.red.error(err)
		if !st.safe {
			return nil, fmt.Errorf("telegram: %s: reading response: %w: %w", method, ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("telegram: %s: reading response: %w", method, err)
	}
	if res, ok := okResult(raw); ok && resp.StatusCode < 300 {
		return res, nil
	}
	var env envelope
	if jerr := json.Unmarshal(raw, &env); jerr != nil || (!env.OK && env.ErrorCode == 0) {
		// Not the Bot API's envelope: a proxy's error page, say.
		env = envelope{ErrorCode: resp.StatusCode, Description: "unexpected response: HTTP " + resp.Status}
		if resp.StatusCode < 300 {
			env.ErrorCode = http.StatusBadGateway
		}
	}
	if env.OK && resp.StatusCode < 300 {
		return env.Result, nil
	}
	te := &Error{Method: method, Code: env.ErrorCode, Description: c.red.string(env.Description)}
	if env.Parameters != nil {
		te.RetryAfter = env.Parameters.RetryAfter
		te.MigrateToChatID = env.Parameters.MigrateToChatID
	}
	if te.Code >= 500 && !st.safe {
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, te)
	}
	return nil, te
}

// User is the part of the Bot API's User object the adapter reads.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

// GetMe returns the bot's own User, and its raw JSON.
func (c *Client) GetMe(ctx context.Context) (User, json.RawMessage, error) {
	raw, err := c.Call(ctx, "getMe", nil)
	if err != nil {
		return User{}, nil, err
	}
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, nil, fmt.Errorf("telegram: getMe: decoding result: %w", err)
	}
	return u, raw, nil
}

// GetUpdates long-polls for updates with id >= offset (which confirms every
// update below it). allowed nil leaves Telegram's stored list as it is; an
// empty slice asks for Telegram's default kinds.
func (c *Client) GetUpdates(ctx context.Context, offset int64, limit int, timeout time.Duration, allowed []string) ([]json.RawMessage, error) {
	p := map[string]any{"limit": limit, "timeout": int(timeout / time.Second)}
	if offset != 0 {
		p["offset"] = offset
	}
	if allowed != nil {
		p["allowed_updates"] = allowed
	}
	raw, err := c.do(ctx, c.poll, "getUpdates", p)
	if err != nil {
		return nil, err
	}
	ups, ok := jsonscan.AppendElements(make([]json.RawMessage, 0, limit), raw)
	if !ok && string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	if !ok {
		var v []json.RawMessage
		err := json.Unmarshal(raw, &v)
		if err == nil {
			err = errors.New("not an array")
		}
		return nil, fmt.Errorf("telegram: getUpdates: decoding result: %w", err)
	}
	return ups, nil
}
