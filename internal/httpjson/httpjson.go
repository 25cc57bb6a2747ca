// Package httpjson writes JSON answers: the local server's, the dev mode's
// and the fake Bot API's, the same way everywhere.
package httpjson

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Marshal encodes v as one line of JSON, ending in a newline, without
// escaping <, > and & (as Telegram does: a description with "<b>" reads
// as written).
func Marshal(v any) ([]byte, error) { return encode(v, "") }

// MarshalIndent is Marshal indented by two spaces, for a terminal.
func MarshalIndent(v any) ([]byte, error) { return encode(v, "  ") }

func encode(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write answers status with v as JSON (see Marshal), with its
// Content-Type and Content-Length. A v that cannot be encoded answers 500
// with fallback instead, and Write returns the status it wrote.
func Write(w http.ResponseWriter, status int, v any, fallback string) int {
	return write(w, status, v, fallback, Marshal)
}

// WriteIndent is Write with an indented body (see MarshalIndent).
func WriteIndent(w http.ResponseWriter, status int, v any, fallback string) int {
	return write(w, status, v, fallback, MarshalIndent)
}

func write(w http.ResponseWriter, status int, v any, fallback string, marshal func(any) ([]byte, error)) int {
	b, err := marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(fallback + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}
