package httpapp_test

import (
	"strings"
	"testing"

	"github.com/asgigram/asgigram/httpapp"
)

// TestExposureWarning: a listen address reachable from the network is
// warned about, naming what is reachable; a loopback one is not.
func TestExposureWarning(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:80"} {
		if w := httpapp.ExposureWarning(addr, true); w != "" {
			t.Errorf("%s: warned %q", addr, w)
		}
	}
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.0.2.10:8080", "asgigram.example:8080"} {
		w := httpapp.ExposureWarning(addr, false)
		for _, want := range []string{addr, "/send", "/file", "/metrics", "127.0.0.1"} {
			if !strings.Contains(w, want) {
				t.Errorf("%s: warning %q does not name %q", addr, w, want)
			}
		}
		if strings.Contains(w, "/admin") {
			t.Errorf("%s: /admin named without an admin_token: %q", addr, w)
		}
		if w := httpapp.ExposureWarning(addr, true); !strings.Contains(w, "/admin") {
			t.Errorf("%s: /admin not named with an admin_token: %q", addr, w)
		}
	}
}
