package httpapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/httpapp"
	"github.com/asgigram/asgigram/telegram"
)

// fileSender is a Sender that uploads files, and a FileOpener.
type fileSender struct {
	stubSender
	SendFilesF func(event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error)
	OpenFileF  func(fileID string) (telegram.File, *telegram.Download, error)
}

func (s fileSender) SendFiles(_ context.Context, _ adapter.Principal, _ *adapter.Arrival, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	return s.SendFilesF(event, files)
}

func (s fileSender) OpenFile(_ context.Context, _ adapter.Principal, fileID string) (telegram.File, *telegram.Download, error) {
	return s.OpenFileF(fileID)
}

type part struct {
	name, fileName, contentType, body string
}

// multipartBody encodes parts.
func multipartBody(t *testing.T, parts ...part) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.fileName != "" {
			cd += fmt.Sprintf(`; filename=%q`, p.fileName)
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		require.NoError(t, err)
		_, _ = w.Write([]byte(p.body))
	}
	require.NoError(t, mw.Close())
	return mw.FormDataContentType(), b.Bytes()
}

func serve(h http.Handler, req *http.Request) (*httptest.ResponseRecorder, map[string]json.RawMessage) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]json.RawMessage
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestMultipartSend(t *testing.T) {
	var gotEvent json.RawMessage
	var gotFiles []telegram.FilePart
	sender := fileSender{SendFilesF: func(event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
		gotEvent, gotFiles = event, files
		return json.RawMessage(`{"message_id":9}`), nil
	}}
	h := httpapp.NewRouter(httpapp.RouterOptions{Sender: sender, BodyLimit: 100, UploadLimit: 2000})
	post := func(ct string, body []byte, token string) (*httptest.ResponseRecorder, map[string]json.RawMessage) {
		req := httptest.NewRequest(http.MethodPost, "/send", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", ct)
		return serve(h, req)
	}

	ct, body := multipartBody(t,
		part{name: "event", contentType: "application/json", body: `{"type":"telegram.send_document","document":"attach://doc"}`},
		part{name: "doc", fileName: "report.pdf", contentType: "application/pdf", body: "%PDF"},
		part{name: "thumb", fileName: "t.jpg", contentType: "application/octet-stream", body: "jpg"},
		part{name: "plain", body: "a field without a filename is a file too"},
	)
	rec, _ := post(ct, body, "t")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"ok":true,"results":[{"message_id":9}]}`, rec.Body.String())
	assert.JSONEq(t, `{"type":"telegram.send_document","document":"attach://doc"}`, string(gotEvent))
	assert.Equal(t, []telegram.FilePart{
		{Field: "doc", FileName: "report.pdf", ContentType: "application/pdf", Data: []byte("%PDF")},
		{Field: "thumb", FileName: "t.jpg", Data: []byte("jpg")},
		{Field: "plain", Data: []byte("a field without a filename is a file too")},
	}, gotFiles)

	tests := []struct {
		name   string
		parts  []part
		ct     string // with body: a raw body
		body   string
		status int
		desc   string
	}{
		{name: "no token", parts: []part{{name: "event", body: `{}`}}, status: 401, desc: "missing token"},
		{name: "no event part", parts: []part{{name: "doc", fileName: "a", body: "x"}}, status: 400, desc: `no part named "event"`},
		{name: "an array", parts: []part{{name: "event", body: `[{"type":"telegram.send_message","text":"x"}]`}}, status: 400, desc: "one event object"},
		{name: "malformed event", parts: []part{{name: "event", body: `{"type":`}}, status: 400, desc: "malformed JSON"},
		{name: "two events", parts: []part{{name: "event", body: `{}`}, {name: "event", body: `{}`}}, status: 400, desc: `two parts named "event"`},
		{name: "a part without a name", parts: []part{{name: "", body: `x`}}, status: 400, desc: "no name"},
		{name: "event over send_body_limit", parts: []part{{name: "event", body: `{"text":"` + strings.Repeat("x", 200) + `"}`}}, status: 413, desc: "send_body_limit"},
		{name: "body over upload_limit", parts: []part{{name: "event", body: `{}`}, {name: "doc", fileName: "a", body: strings.Repeat("x", 3000)}}, status: 413, desc: "upload_limit"},
		{name: "no boundary", ct: "multipart/form-data", body: "--x--", status: 400, desc: "multipart"},
		{name: "truncated", ct: "multipart/form-data; boundary=x", body: "--x\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n{}", status: 400, desc: "multipart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, body := tt.ct, []byte(tt.body)
			if tt.parts != nil {
				c, body = multipartBody(t, tt.parts...)
			}
			tok := "t"
			if tt.name == "no token" {
				tok = ""
			}
			rec, out := post(c, body, tok)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.JSONEq(t, "false", string(out["ok"]))
			var desc string
			require.NoError(t, json.Unmarshal(out["description"], &desc))
			assert.Contains(t, desc, tt.desc)
		})
	}

	t.Run("over upload_limit without Content-Length", func(t *testing.T) {
		ct, body := multipartBody(t, part{name: "event", body: `{}`}, part{name: "doc", fileName: "a", body: strings.Repeat("x", 3000)})
		req := httptest.NewRequest(http.MethodPost, "/send", io.MultiReader(bytes.NewReader(body)))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", ct)
		rec, _ := serve(h, req)
		assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	})
	t.Run("errors map like /send", func(t *testing.T) {
		sender.SendFilesF = func(json.RawMessage, []telegram.FilePart) (json.RawMessage, error) {
			return nil, &adapter.CallError{Index: 0, Method: "sendDocument", Err: &telegram.Error{Method: "sendDocument", Code: 400, Description: "Bad Request: file must be non-empty"}}
		}
		h := httpapp.NewRouter(httpapp.RouterOptions{Sender: sender})
		ct, body := multipartBody(t, part{name: "event", body: `{"type":"telegram.send_document"}`}, part{name: "document", fileName: "a", body: ""})
		req := httptest.NewRequest(http.MethodPost, "/send", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", ct)
		rec, out := serve(h, req)
		assert.Equal(t, http.StatusBadGateway, rec.Code)
		assert.JSONEq(t, `"Bad Request: file must be non-empty"`, string(out["description"]))
		assert.JSONEq(t, "400", string(out["error_code"]))
	})
}

func TestFileEndpoint(t *testing.T) {
	open := func(fileID string) (telegram.File, *telegram.Download, error) {
		switch fileID {
		case "photo":
			return telegram.File{FilePath: "photos/file_1.jpg"}, &telegram.Download{Body: io.NopCloser(strings.NewReader("JPEG")), Size: 4, ContentType: "application/octet-stream"}, nil
		case "html":
			return telegram.File{FilePath: "documents/page.html"}, &telegram.Download{Body: io.NopCloser(strings.NewReader("<script>")), Size: 8, ContentType: "application/octet-stream"}, nil
		case "typed":
			return telegram.File{FilePath: "documents/file_2"}, &telegram.Download{Body: io.NopCloser(strings.NewReader("%PDF")), Size: -1, ContentType: "application/pdf"}, nil
		case "unknown":
			return telegram.File{}, nil, &telegram.Error{Method: "getFile", Code: 400, Description: "Bad Request: invalid file_id"}
		case "big":
			return telegram.File{}, nil, &telegram.Error{Method: "getFile", Code: 400, Description: "Bad Request: file is too big"}
		case "nopath":
			return telegram.File{}, nil, adapter.ErrNoFilePath
		case "gone":
			return telegram.File{}, nil, &telegram.Error{Method: "download", Code: 404, Description: "Not Found"}
		case "slow":
			return telegram.File{}, nil, fmt.Errorf("telegram: getFile: %w", context.DeadlineExceeded)
		case "down":
			return telegram.File{}, nil, fmt.Errorf("telegram: download: dial tcp: connection refused")
		case "stopped":
			return telegram.File{}, nil, adapter.ErrTokenRejected
		}
		return telegram.File{}, nil, adapter.ErrShuttingDown
	}
	sender := fileSender{OpenFileF: open, stubSender: stubSender{AuthorizeF: func(token string) (adapter.Principal, error) {
		switch token {
		case "good":
			return adapter.Principal{}, nil
		case "old":
			return adapter.Principal{}, adapter.ErrExpiredToken
		}
		return adapter.Principal{}, adapter.ErrUnknownToken
	}}}
	h := httpapp.NewRouter(httpapp.RouterOptions{Sender: sender, Files: sender})
	get := func(path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := get("/file/photo", "good")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, "JPEG", rec.Body.String())
	assert.Equal(t, "image/jpeg", rec.Header().Get("Content-Type"), "octet-stream is refined by the extension")
	assert.Equal(t, "4", rec.Header().Get("Content-Length"))
	assert.Equal(t, `attachment; filename=file_1.jpg`, rec.Header().Get("Content-Disposition"))

	// A file a user sent is never rendered as a page of the local server.
	rec = get("/file/html", "good")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"), "the Content-Type is kept")
	assert.Equal(t, `attachment; filename=page.html`, rec.Header().Get("Content-Disposition"))
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))

	rec = get("/file/typed", "good")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "application/pdf", rec.Header().Get("Content-Type"))
	assert.Empty(t, rec.Header().Get("Content-Length"))

	for _, tt := range []struct {
		path, token string
		status      int
		desc        string
	}{
		{"/file/photo", "", 401, "missing token"},
		{"/file/photo", "bad", 401, "unknown token"},
		{"/file/photo", "old", 410, "expired"},
		{"/file/unknown", "good", 404, "invalid file_id"},
		{"/file/big", "good", 502, "file is too big"},
		{"/file/nopath", "good", 502, "cannot be downloaded"},
		{"/file/gone", "good", 502, "Not Found"},
		{"/file/slow", "good", 504, "in time"},
		{"/file/down", "good", 502, "connection refused"},
		{"/file/closing", "good", 503, "shutting down"},
		{"/file/stopped", "good", 502, "rejected this bot's token"},
		{"/file/" + strings.Repeat("x", 2000), "good", 404, "unknown file_id"},
	} {
		t.Run(tt.path[:min(len(tt.path), 20)]+" "+tt.token, func(t *testing.T) {
			rec := get(tt.path, tt.token)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var out map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			assert.JSONEq(t, "false", string(out["ok"]))
			var desc string
			require.NoError(t, json.Unmarshal(out["description"], &desc))
			assert.Contains(t, desc, tt.desc)
		})
	}

	t.Run("not served without Files", func(t *testing.T) {
		h := httpapp.NewRouter(httpapp.RouterOptions{Sender: stubSender{}})
		req := httptest.NewRequest(http.MethodGet, "/file/photo", nil)
		req.Header.Set("Authorization", "Bearer good")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, 404, rec.Code)
	})
}
