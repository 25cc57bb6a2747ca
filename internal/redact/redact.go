// Package redact removes secrets from the texts asgigram writes: log lines,
// error messages, dead letters and answers of the local server. It is the
// one home of two rules:
//
//   - A URL is shown with its userinfo, query values and fragment masked:
//     https://user:pw@host/p?code=abc becomes https://***@host/p?code=***.
//     The path is kept (a Bot API path holds the token, which the second
//     rule removes).
//   - A secret is removed wherever it occurs as a substring, but only a
//     secret of at least MinSecret characters is ever a pattern: a short
//     one would garble ordinary text ("1", "telegram") and reveal itself by
//     what it garbles. A bot token <id>:<secret> is also removed by its part
//     after ':' alone.
//
// Neither rule is applied to the users' data (updates and the replies that
// answer them): those are stored and shown as they are.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// MinSecret is the shortest text used as a redaction pattern, and the
// shortest send_token or admin_token config accepts.
const MinSecret = 16

// Mask replaces a secret.
const Mask = "[redacted]"

// masked replaces userinfo, query values and fragments of URLs.
const masked = "***"

// URL returns raw with its userinfo, query values and fragment masked
// (https://***@host/path?code=***). A text that is not a URL with a host
// is returned masked whole after its scheme, so that nothing of it leaks.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.Opaque == "" && u.User == nil {
		if err == nil && u.Scheme == "" {
			// A relative reference (a Location header): path only.
			return maskQuery(raw)
		}
		scheme, _, ok := strings.Cut(raw, "://")
		if !ok {
			return masked
		}
		return scheme + "://" + masked
	}
	var b strings.Builder
	if u.Scheme != "" {
		b.WriteString(u.Scheme)
		b.WriteString(":")
	}
	if u.Opaque != "" {
		b.WriteString(masked)
		return b.String()
	}
	b.WriteString("//")
	if u.User != nil {
		b.WriteString(masked)
		b.WriteString("@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?")
		b.WriteString(maskPairs(u.RawQuery))
	}
	if u.Fragment != "" {
		b.WriteString("#")
		b.WriteString(masked)
	}
	return b.String()
}

// maskQuery masks the query and fragment of a reference without a host.
func maskQuery(ref string) string {
	path, _, hasFrag := strings.Cut(ref, "#")
	path, query, hasQuery := strings.Cut(path, "?")
	if hasQuery {
		path += "?" + maskPairs(query)
	}
	if hasFrag {
		path += "#" + masked
	}
	return path
}

// maskPairs keeps the keys of a raw query, in their order, and masks every
// value.
func maskPairs(query string) string {
	if query == "" {
		return ""
	}
	pairs := strings.Split(query, "&")
	for i, p := range pairs {
		k, _, _ := strings.Cut(p, "=")
		pairs[i] = k + "=" + masked
	}
	return strings.Join(pairs, "&")
}

// urlInText finds absolute URLs in free text: a scheme, "://", and what
// follows up to a space, a quote or an angle bracket.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>\x60]+`)

// URLsIn masks every absolute URL found in text (see URL). A URL without
// userinfo, query or fragment is left as it is.
func URLsIn(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlInText.ReplaceAllStringFunc(text, func(m string) string {
		if !strings.ContainsAny(m, "@?#") {
			return m
		}
		return URL(m)
	})
}

// Secrets removes secrets from texts. The zero value removes none.
type Secrets struct {
	r *strings.Replacer
}

// New returns the Secrets that remove each of secrets of at least MinSecret
// characters (shorter ones are ignored) and, for a bot token
// "<id>:<secret>", also its part after ':' when that is long enough.
// Longer patterns win over shorter ones they contain. Each is replaced by
// Mask.
func New(secrets ...string) Secrets { return Replacing(Mask, secrets...) }

// Replacing is New with mask for Mask.
func Replacing(mask string, secrets ...string) Secrets {
	var pats []string
	add := func(s string) {
		if len(s) >= MinSecret && !slices.Contains(pats, s) {
			pats = append(pats, s)
		}
	}
	for _, s := range secrets {
		add(s)
		if _, after, ok := strings.Cut(s, ":"); ok {
			add(after)
		}
	}
	if len(pats) == 0 {
		return Secrets{}
	}
	// strings.Replacer tries patterns in argument order at each position:
	// the longest first, so that a token is replaced whole, not its tail.
	slices.SortFunc(pats, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(pats))
	for _, p := range pats {
		pairs = append(pairs, p, mask)
	}
	return Secrets{r: strings.NewReplacer(pairs...)}
}

// String removes the secrets from s.
func (s Secrets) String(text string) string {
	if s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// Text removes the secrets from text and masks the URLs in it: what every
// text asgigram produces goes through before it is logged or stored.
func (s Secrets) Text(text string) string {
	return URLsIn(s.String(text))
}
