package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is N events per Per. It is written "N/s", "N/m", "N/h" or
// "N/<duration>" ("20/m" is Rate{20, time.Minute}, as is "20/1m").
type Rate struct {
	N   float64
	Per time.Duration
}

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
	return n + "/" + formatDuration(r.Per)
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
	if err := r.check(); err != nil {
		return Rate{}, fmt.Errorf("invalid rate %q: %w", s, err)
	}
	return r, nil
}

// check reports a rate that is not positive.
func (r Rate) check() error {
	if !(r.N > 0) || math.IsInf(r.N, 0) {
		return fmt.Errorf("the number of calls must be more than 0, got %v", r.N)
	}
	if r.Per <= 0 {
		return fmt.Errorf("the period must be more than 0s, got %s", r.Per)
	}
	return nil
}
