package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/asgigram/asgigram/pacing"
)

// decodeKey decodes the value viper holds for s into its field of c. It
// decodes into a fresh value, so that a list replaces the default list
// instead of overwriting its first entries.
func decodeKey(v *viper.Viper, s setting, c *Config) error {
	dst := reflect.ValueOf(s.field(c)).Elem()
	tmp := reflect.New(dst.Type())
	err := v.UnmarshalKey(s.key, tmp.Interface(), func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.DecodeHookFuncType(decodeHook)
		dc.WeaklyTypedInput = false
		dc.ErrorUnused = true
	})
	if err != nil {
		return &FieldError{Field: s.key, Err: cleanDecodeError(err)}
	}
	dst.Set(tmp.Elem())
	return nil
}

// cleanDecodeError strips mapstructure's wrapping (which names the field
// with an empty name at the top level) and keeps the index of a bad list entry.
func cleanDecodeError(err error) error {
	prefix := ""
	for {
		var de *mapstructure.DecodeError
		if !errors.As(err, &de) {
			break
		}
		if name := de.Name(); name != "" {
			prefix = "entry " + strings.Trim(name, "[]") + ": "
		}
		err = de.Unwrap()
	}
	if prefix == "" {
		return err
	}
	return fmt.Errorf("%s%w", prefix, err)
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	rateType     = reflect.TypeFor[pacing.Rate]()
	byteSizeType = reflect.TypeFor[byteSize]()
	stringsType  = reflect.TypeFor[[]string]()
)

// decodeHook converts what the file, the environment or a flag gave into
// the type of a Config field, and rejects what does not fit. Its errors
// never repeat a string value that could be a secret.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch {
	case to == durationType:
		return parseDuration(data)
	case to == byteSizeType:
		n, err := parseSize(data)
		return byteSize(n), err
	case to == rateType:
		if r, ok := data.(pacing.Rate); ok {
			return r, nil
		}
		s, ok := data.(string)
		if !ok {
			return nil, fmt.Errorf("expected a rate such as 1/s or 20/m, got a %s", kindName(from))
		}
		return pacing.ParseRate(s)
	case to.Kind() == reflect.Bool:
		return parseBool(from, data)
	case to == stringsType:
		switch from.Kind() {
		case reflect.String:
			return splitList(data.(string)), nil
		case reflect.Slice, reflect.Array:
			return data, nil
		}
		return nil, fmt.Errorf("expected a list of strings, got a %s", kindName(from))
	case to.Kind() == reflect.String:
		if from.Kind() != reflect.String {
			return nil, fmt.Errorf("expected a string, got a %s", kindName(from))
		}
		return data, nil
	case to.Kind() == reflect.Int:
		return parseInt(from, data)
	}
	return data, nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map:
		return "map"
	case reflect.String:
		return "string"
	}
	return t.String()
}

// splitList splits a comma-separated list, dropping blanks. The result is
// never nil: "" is an explicit empty list.
func splitList(s string) []string {
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// number returns a numeric value as a float64, and whether it is one.
func number(data any) (float64, bool) {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}

func parseInt(from reflect.Type, data any) (int, error) {
	if s, ok := data.(string); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", s)
		}
		return n, nil
	}
	f, ok := number(data)
	if !ok {
		return 0, fmt.Errorf("expected an integer, got a %s", kindName(from))
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("expected an integer, got %v", data)
	}
	return int(f), nil
}

// parseBool accepts a boolean, or true, false, 1 or 0 (any case) as a
// string or number.
func parseBool(from reflect.Type, data any) (bool, error) {
	switch v := data.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return false, fmt.Errorf("expected true or false (or 1 or 0), got %q", v)
	}
	if f, ok := number(data); ok {
		if f == 0 || f == 1 {
			return f == 1, nil
		}
		return false, fmt.Errorf("expected true or false (or 1 or 0), got %v", f)
	}
	return false, fmt.Errorf("expected true or false, got a %s", kindName(from))
}

func errNeedsUnit(n string) error {
	return fmt.Errorf("duration needs a unit, e.g. %ss", n)
}

// parseDuration accepts Go durations ("15s", "1m30s"). A bare number is an
// error (15 would otherwise mean 15ns), except 0.
func parseDuration(data any) (time.Duration, error) {
	if d, ok := data.(time.Duration); ok {
		return d, nil
	}
	if s, ok := data.(string); ok {
		s = strings.TrimSpace(s)
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			if f == 0 {
				return 0, nil
			}
			return 0, errNeedsUnit(s)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use a number with a unit, e.g. 500ms, 15s, 2m or 1h30m", s)
		}
		return d, nil
	}
	if f, ok := number(data); ok {
		if f == 0 {
			return 0, nil
		}
		return 0, errNeedsUnit(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return 0, fmt.Errorf("expected a duration such as 15s, got a %s", kindName(reflect.TypeOf(data)))
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// formatSize writes n with the largest 1024-based unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseSize accepts a number of bytes, or a size string: "512KiB", "1MiB"
// (1024-based), "2MB" (1000-based), "100B". Units are case-insensitive.
func parseSize(data any) (int64, error) {
	s, ok := data.(string)
	if !ok {
		f, ok := number(data)
		if !ok {
			return 0, fmt.Errorf("expected a size such as 1MiB, got a %s", kindName(reflect.TypeOf(data)))
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return 0, fmt.Errorf("expected a whole number of bytes, got %v", data)
		}
		return int64(f), nil
	}
	bad := fmt.Errorf("invalid size %q: use a number of bytes or a size such as 512KiB, 1MiB or 2MB", s)
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || i == 0 && (t[i] == '-' || t[i] == '+')) {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, bad
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, bad
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
