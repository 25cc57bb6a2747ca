package telegram

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/asgigram/asgigram/internal/redact"
)

// Error is a refusal answered by the Bot API: {"ok":false,"error_code":...}.
// Callers match it with errors.As.
type Error struct {
	// Method is the Bot API method that was called.
	Method string
	// Code is Telegram's error_code (equal to the HTTP status).
	Code int
	// Description is Telegram's description, e.g. "Bad Request: chat not found".
	Description string
	// RetryAfter is parameters.retry_after in seconds (429 only).
	RetryAfter int
	// MigrateToChatID is parameters.migrate_to_chat_id (group upgraded to a supergroup).
	MigrateToChatID int64
}

// Error returns "telegram: <method>: <code> <description>".
func (e *Error) Error() string {
	return fmt.Sprintf("telegram: %s: %d %s", e.Method, e.Code, e.Description)
}

// ErrOutcomeUnknown marks a call that may or may not have been carried out:
// the request was sent, then a timeout, a reset or a 5xx followed. Calls that
// are not safe to repeat (send*, copy*, forward*) are not retried after it.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// ErrUnauthorized is wrapped by every error of a call that Telegram answered
// with 401: the bot token is wrong or was revoked.
var ErrUnauthorized = errors.New("the bot token was rejected by Telegram")

// Is lets errors.Is(err, ErrUnauthorized) match a 401 refusal.
func (e *Error) Is(target error) bool {
	return target == ErrUnauthorized && e.Code == 401
}

// redactor removes the bot token, and its part after ':' alone, from the
// texts Telegram answers and from error texts. Bot API URLs contain it
// (/bot<token>/method), and net/http puts URLs into its errors.
type redactor struct{ secrets redact.Secrets }

func newRedactor(token string) redactor {
	return redactor{secrets: redact.Replacing("<token>", token)}
}

func (r redactor) string(s string) string { return r.secrets.String(s) }

// redactedError carries a cause whose text had the token removed. It keeps
// the cause for errors.Is (context.DeadlineExceeded, ...) but never prints it.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// error returns err with the token removed from its text. A *url.Error is
// unwrapped first, so that the URL is not reachable through errors.As either.
func (r redactor) error(err error) error {
	if err == nil {
		return nil
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	return &redactedError{msg: r.string(cause.Error()), cause: cause}
}
