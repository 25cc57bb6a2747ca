package pacing

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	good := map[string]Rate{
		"1/s":        {N: 1, Per: time.Second},
		"20/m":       {N: 20, Per: time.Minute},
		"30/s":       {N: 30, Per: time.Second},
		"100/h":      {N: 100, Per: time.Hour},
		"20/1m":      {N: 20, Per: time.Minute},
		"1/500ms":    {N: 1, Per: 500 * time.Millisecond},
		"0.5/s":      {N: 0.5, Per: time.Second},
		" 2 / h ":    {N: 2, Per: time.Hour},
		"3/1h30m":    {N: 3, Per: 90 * time.Minute},
		"1000/1s":    {N: 1000, Per: time.Second},
		"1e3/s":      {N: 1000, Per: time.Second},
		"5/2s":       {N: 5, Per: 2 * time.Second},
		"25/1m0s":    {N: 25, Per: time.Minute},
		"7/10m":      {N: 7, Per: 10 * time.Minute},
		"1.25/250ms": {N: 1.25, Per: 250 * time.Millisecond},
	}
	for in, want := range good {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		// String gives back something ParseRate reads as the same rate.
		if again, err := ParseRate(got.String()); err != nil || again != got {
			t.Errorf("ParseRate(%q.String() = %q) = %v, %v", in, got.String(), again, err)
		}
	}
	for r, want := range map[Rate]string{
		{N: 1, Per: time.Second}: "1/s", {N: 20, Per: time.Minute}: "20/m", {N: 2, Per: time.Hour}: "2/h",
		{N: 20, Per: 2 * time.Minute}: "20/2m", {N: 0.5, Per: 1500 * time.Millisecond}: "0.5/1.5s",
	} {
		if r.String() != want {
			t.Errorf("%#v.String() = %q, want %q", r, r.String(), want)
		}
	}

	bad := map[string]string{
		"1":       "use N/s, N/m, N/h or N/<duration>",
		"1/x":     "use N/s",
		"1/":      "use N/s",
		"/s":      "use N/s",
		"a/s":     "use N/s",
		"1/60":    "the period needs a unit, e.g. 1/60s",
		"0/s":     "more than 0",
		"-1/s":    "more than 0",
		"1/0s":    "more than 0s",
		"1/-1s":   "more than 0s",
		"inf/s":   "use N/s",
		"NaN/s":   "use N/s",
		"1/s/s":   "use N/s",
		"1 per s": "use N/s",
	}
	for in, want := range bad {
		if _, err := ParseRate(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRate(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
