// Package httpapp is asgigram's HTTP side toward the application: Client
// POSTs events to the application URL (signed, retried), and NewRouter serves
// the local /send endpoint with chi.
package httpapp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/internal/backoff"
	"github.com/asgigram/asgigram/internal/httpbody"
	"github.com/asgigram/asgigram/internal/redact"
)

var _ adapter.App = (*Client)(nil)

// ClientOptions configure a Client.
type ClientOptions struct {
	// URL is the application URL events are POSTed to.
	URL string
	// SecretKey is the decoded Standard Webhooks key; nil disables signing.
	SecretKey []byte
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one delivery (default 5).
	MaxAttempts int
	// MaxElapsed bounds the time spent on one delivery, waits included
	// (default 2m).
	MaxElapsed time.Duration
	// MaxBody bounds a reply body (default 1 MiB); a larger one is a final
	// failure of the delivery.
	MaxBody int64
	// UserAgent is sent with every request ("asgigram/<version>").
	UserAgent string
	// Transport is the HTTP transport (default: a pooled transport).
	Transport http.RoundTripper
	// RetryWaitMin and RetryWaitMax bound the backoff (defaults 100ms, 5s).
	RetryWaitMin, RetryWaitMax time.Duration
}

// Client delivers events to the application.
type Client struct {
	opt ClientOptions
	hc  *http.Client
}

// NewClient returns a Client.
func NewClient(opt ClientOptions) *Client {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.MaxAttempts < 1 {
		opt.MaxAttempts = 5
	}
	if opt.MaxElapsed <= 0 {
		opt.MaxElapsed = 2 * time.Minute
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 1 << 20
	}
	if opt.RetryWaitMin <= 0 {
		opt.RetryWaitMin = 100 * time.Millisecond
	}
	if opt.RetryWaitMax <= 0 {
		opt.RetryWaitMax = 5 * time.Second
	}
	if opt.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		opt.Transport = t
	}
	return &Client{
		opt: opt,
		hc: &http.Client{
			Transport: opt.Transport,
			// A redirect would turn the POST into a GET: never follow one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Deliver POSTs one event, retrying connection errors, timeouts, 408, 429
// (after Retry-After) and 5xx with capped exponential backoff and jitter
// within MaxAttempts and MaxElapsed. 3xx and other 4xx are final. A final
// failure is an *adapter.DeliveryError.
func (c *Client) Deliver(ctx context.Context, req adapter.AppRequest) (adapter.AppResponse, error) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		resp, retryAfter, err := c.attempt(ctx, req)
		if err == nil {
			return resp, nil
		}
		var fe *finalError
		if errors.As(err, &fe) || ctx.Err() != nil {
			return adapter.AppResponse{}, &adapter.DeliveryError{Attempts: attempt, Status: resp.Status, Err: err}
		}
		d := backoff.Delay(c.opt.RetryWaitMin, c.opt.RetryWaitMax, attempt-1)
		if retryAfter > 0 {
			d = retryAfter
		}
		if attempt >= c.opt.MaxAttempts || time.Since(start)+d > c.opt.MaxElapsed {
			return adapter.AppResponse{}, &adapter.DeliveryError{Attempts: attempt, Status: resp.Status, Err: err}
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return adapter.AppResponse{}, &adapter.DeliveryError{Attempts: attempt, Status: resp.Status, Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// finalError marks a failure that is not retried.
type finalError struct{ msg string }

func (e *finalError) Error() string { return e.msg }

// attempt makes one request. A non-2xx status is returned in resp.Status
// together with an error; retryAfter is the 429/503 Retry-After.
func (c *Client) attempt(ctx context.Context, req adapter.AppRequest) (resp adapter.AppResponse, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opt.URL, bytes.NewReader(req.Body))
	if err != nil {
		return resp, 0, &finalError{msg: err.Error()}
	}
	h := hr.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-Asgigram-Event", headerSafe(req.EventType))
	if c.opt.UserAgent != "" {
		h.Set("User-Agent", c.opt.UserAgent)
	}
	if c.opt.SecretKey != nil {
		// Signed anew on every attempt: verifiers reject old timestamps.
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h.Set("webhook-id", req.WebhookID)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", Sign(c.opt.SecretKey, req.WebhookID, ts, req.Body))
	}
	r, err := c.hc.Do(hr)
	if err != nil {
		// The error names the URL: keys in its userinfo or query must not
		// reach a log line or a dead letter.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redact.URL(ue.URL)
		}
		return resp, 0, err
	}
	defer r.Body.Close()
	resp.Status = r.StatusCode
	resp.ContentType = r.Header.Get("Content-Type")
	switch {
	case r.StatusCode >= 200 && r.StatusCode < 300:
		body, err := httpbody.Read(r.Body, r.ContentLength, c.opt.MaxBody)
		if err != nil {
			return resp, 0, fmt.Errorf("reading reply body: %w", err)
		}
		if int64(len(body)) > c.opt.MaxBody {
			return resp, 0, &finalError{msg: fmt.Sprintf("reply body larger than %d bytes", c.opt.MaxBody)}
		}
		resp.Body = body
		return resp, 0, nil
	case r.StatusCode >= 300 && r.StatusCode < 400:
		return resp, 0, &finalError{msg: fmt.Sprintf("redirect to %q not followed: point app_url at the final URL", redact.URL(r.Header.Get("Location")))}
	case r.StatusCode == http.StatusRequestTimeout, r.StatusCode == http.StatusTooManyRequests, r.StatusCode >= 500:
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)) // reuse the connection
		return resp, parseRetryAfter(r.Header.Get("Retry-After")), fmt.Errorf("HTTP %s", r.Status)
	default:
		snippet, _ := io.ReadAll(io.LimitReader(r.Body, 200))
		return resp, 0, &finalError{msg: fmt.Sprintf("HTTP %s (not retried): %q", r.Status, snippet)}
	}
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// Sign returns the Standard Webhooks signature header value
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
func Sign(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// headerSafe replaces the bytes an HTTP header value may not hold (an
// unknown update kind could be named with them) so the delivery still goes
// out; the body keeps the exact type.
func headerSafe(v string) string {
	b := []byte(v)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}
