package pacing

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is N events per Per: Rate{1, time.Second}, Rate{20, time.Minute}.
// It is written "N/s", "N/m", "N/h" or "N/<duration>" ("20/m" is
// Rate{20, time.Minute}, as is "20/1m"): the form of the pacing_*_rate
// settings.
type Rate struct {
	N   float64
	Per time.Duration
}

// PerSecond returns the rate in events per second.
func (r Rate) PerSecond() float64 { return r.N / r.Per.Seconds() }

// String writes r as ParseRate reads it: "1/s", "20/m", "5/1m30s".
func (r Rate) String() string {
	n := strconv.FormatFloat(r.N, 'f', -1, 64)
	switch r.Per {
	case time.Second:
		return n + "/s"
	case time.Minute:
		return n + "/m"
	case time.Hour:
		return n + "/h"
	}
	// Without zero trailing units: "2m", not "2m0s"; "1h", not "1h0m0s".
	per := r.Per.String()
	if strings.HasSuffix(per, "m0s") {
		per = per[:len(per)-2]
	}
	if strings.HasSuffix(per, "h0m") {
		per = per[:len(per)-2]
	}
	return n + "/" + per
}

// ParseRate reads "N/s", "N/m", "N/h" or "N/<duration>" ("20/1m",
// "1/500ms"), N a positive number. Spaces around either part are ignored.
func ParseRate(s string) (Rate, error) {
	bad := fmt.Errorf("invalid rate %q: use N/s, N/m, N/h or N/<duration>, e.g. 1/s, 20/m or 20/1m", s)
	num, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, bad
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return Rate{}, bad
	}
	var d time.Duration
	switch per = strings.TrimSpace(per); per {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	default:
		if _, err := strconv.ParseFloat(per, 64); err == nil {
			return Rate{}, fmt.Errorf("invalid rate %q: the period needs a unit, e.g. %s/%ss", s, strings.TrimSpace(num), per)
		}
		if d, err = time.ParseDuration(per); err != nil {
			return Rate{}, bad
		}
	}
	r := Rate{N: n, Per: d}
	if err := r.Check(); err != nil {
		return Rate{}, fmt.Errorf("invalid rate %q: %w", s, err)
	}
	return r, nil
}

// Check reports a rate that is not usable: N or Per not more than 0, or N
// infinite.
func (r Rate) Check() error {
	if !(r.N > 0) || math.IsInf(r.N, 0) {
		return fmt.Errorf("the number of calls must be more than 0, got %v", r.N)
	}
	if r.Per <= 0 {
		return fmt.Errorf("the period must be more than 0s, got %s", r.Per)
	}
	return nil
}

// valid reports whether r is a usable rate.
func (r Rate) valid() bool { return r.Check() == nil }
