package redact_test

import (
	"strings"
	"testing"

	"github.com/asgigram/asgigram/internal/redact"
)

func TestURLMasksUserinfoQueryAndFragment(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pw@host.example/path?code=abc", "https://***@host.example/path?code=***"},
		{"https://fn.example/api/hook?code=k3y&clientId=default", "https://fn.example/api/hook?code=***&clientId=***"},
		{"http://127.0.0.1:8000/telegram", "http://127.0.0.1:8000/telegram"},
		{"https://tok@host/", "https://***@host/"},
		{"https://host/p#frag", "https://host/p#***"},
		{"/relative?sig=s3cr3t", "/relative?sig=***"},
		{"https://host/p?flag", "https://host/p?flag=***"},
		{"http://[::1]:80/x?a=1", "http://[::1]:80/x?a=***"},
		{"https://us er@ho st/%zz?x=1", "https://***"},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestURLsInMasksEveryURLOfAText(t *testing.T) {
	in := `Post "https://u:p4ss@fn.example/hook?code=k3y": dial tcp: connection refused; see http://plain.example/x`
	got := redact.URLsIn(in)
	want := `Post "https://***@fn.example/hook?code=***": dial tcp: connection refused; see http://plain.example/x`
	if got != want {
		t.Errorf("URLsIn:\n got %s\nwant %s", got, want)
	}
}

func TestSecretsNeverUseShortPatterns(t *testing.T) {
	s := redact.New("1", "telegram", "0123456789abcde") // all shorter than 16
	in := "version=0.1.0-dev msg=\"connected to telegram\" 0123456789abcde"
	if got := s.Text(in); got != in {
		t.Errorf("short secrets changed the text: %q", got)
	}
}

func TestSecretsRemoveTheTokenAndItsPartAfterTheColon(t *testing.T) {
	const token = "123456789:AAE-abcdefghijklmnopqrstuvwxyz012345"
	_, after, _ := strings.Cut(token, ":")
	s := redact.New(token, "an-admin-token-of-32-characters!")
	for _, in := range []string{
		"GET /bot" + token + "/getMe failed",
		"the app said " + after + " back",
		"admin an-admin-token-of-32-characters! leaked",
	} {
		got := s.Text(in)
		if strings.Contains(got, after) || strings.Contains(got, "an-admin-token-of-32-characters!") {
			t.Errorf("Text(%q) = %q: a secret shows", in, got)
		}
		if !strings.Contains(got, redact.Mask) {
			t.Errorf("Text(%q) = %q: no mask", in, got)
		}
	}
	if got := s.Text("/bot" + token + "/x"); got != "/bot"+redact.Mask+"/x" {
		t.Errorf("the token is not replaced whole: %q", got)
	}
	var zero redact.Secrets
	if got := zero.String(token); got != token {
		t.Errorf("the zero Secrets changed %q to %q", token, got)
	}
}
