package fakeapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBodySize bounds request bodies (the real server accepts uploads of up
// to 50 MB).
const maxBodySize = 50 << 20

// params are a request's parameters, each a JSON value.
type params map[string]json.RawMessage

// parseParams collects the parameters of r from its query string and its
// body, and the files of a multipart body by field name. As on the real
// server, a parameter in the query string wins over one of the same name in
// the body. Bodies of other content types are ignored.
func parseParams(r *http.Request) (params, map[string]Upload, *apiError) {
	p := params{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			p[k] = formValue(vs[0])
		}
	}
	if r.Body == nil {
		return p, nil, nil
	}
	mediaType, mp, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(nil, r.Body, maxBodySize)
	switch mediaType {
	case "application/json":
		b, err := io.ReadAll(body)
		if err != nil {
			return p, nil, badRequest("can't read request body")
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return p, nil, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return p, nil, badRequest("can't parse JSON object")
		}
		for k, v := range m {
			if _, ok := p[k]; !ok {
				p[k] = v
			}
		}
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return p, nil, badRequest("can't read request body")
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return p, nil, badRequest("can't parse request body")
		}
		addForm(p, vals)
	case "multipart/form-data":
		if mp["boundary"] == "" {
			return p, nil, badRequest("can't parse request body")
		}
		form, err := multipart.NewReader(body, mp["boundary"]).ReadForm(32 << 20)
		if err != nil {
			return p, nil, badRequest("can't parse request body")
		}
		defer func() { _ = form.RemoveAll() }()
		addForm(p, form.Value)
		var files map[string]Upload
		for k, fhs := range form.File {
			if len(fhs) == 0 {
				continue
			}
			up, err := readUpload(fhs[0])
			if err != nil {
				return p, nil, badRequest("can't read request body")
			}
			if files == nil {
				files = make(map[string]Upload)
			}
			files[k] = up
			if _, ok := p[k]; !ok {
				p[k] = mustMarshal(uploadedFile{FileName: fhs[0].Filename, Size: fhs[0].Size})
			}
		}
		return p, files, nil
	}
	return p, nil, nil
}

// uploadedFile records a file part of a multipart request.
type uploadedFile struct {
	FileName string `json:"file_name"`
	Size     int64  `json:"size"`
}

func addForm(p params, vals url.Values) {
	for k, vs := range vals {
		if _, ok := p[k]; !ok && len(vs) > 0 {
			p[k] = formValue(vs[0])
		}
	}
}

// formValue turns a form or query value into JSON: a canonical integer
// becomes a number, a valid JSON object or array stays raw, anything else
// becomes a string.
func formValue(v string) json.RawMessage {
	if i, err := strconv.ParseInt(v, 10, 64); err == nil && strconv.FormatInt(i, 10) == v {
		return json.RawMessage(v)
	}
	t := strings.TrimSpace(v)
	if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	return mustMarshal(v)
}

// has reports whether the parameter is present and not null.
func (p params) has(name string) bool {
	v, ok := p[name]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

// str returns a parameter as the real server sees it: a JSON string's
// content, or the JSON text of any other value. Absent and null give "".
func (p params) str(name string) string {
	if !p.has(name) {
		return ""
	}
	v := bytes.TrimSpace(p[name])
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}

// int returns an integer parameter the way the real server reads it: the
// leading integer of its text, 0 when there is none.
func (p params) int(name string) int64 {
	return leadingInt(p.str(name))
}

// leadingInt parses an optional sign and the digits that follow it.
func leadingInt(s string) int64 {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

// bool returns a boolean parameter: true, "true", "yes" or "1".
func (p params) bool(name string) bool {
	switch strings.ToLower(p.str(name)) {
	case "true", "yes", "1":
		return true
	}
	return false
}

// json returns a structured parameter (object or array), also when it was
// sent as a JSON string. It returns nil when the parameter is absent or an
// empty string, and ok false when it is present but not JSON.
func (p params) json(name string) (json.RawMessage, bool) {
	if !p.has(name) {
		return nil, true
	}
	v := bytes.TrimSpace(p[name])
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		v = bytes.TrimSpace([]byte(s))
		if len(v) == 0 {
			return nil, true
		}
		if !json.Valid(v) {
			return nil, false
		}
	}
	return json.RawMessage(v), true
}
