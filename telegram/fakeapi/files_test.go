package fakeapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram/fakeapi"
)

type fileResult struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size"`
	FilePath     string `json:"file_path"`
}

// fetch GETs /file/bot<tok>/<path> and returns the status and body.
func (e *env) fetch(tok, path string) (int, http.Header, []byte) {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/file/bot" + tok + "/" + path)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, resp.Header, b
}

// upload calls method as multipart/form-data with fields and files (field
// name → file name → content).
func (e *env) upload(method string, fields map[string]string, files map[string][2]string) response {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		require.NoError(e.t, mw.WriteField(k, v))
	}
	for field, f := range files {
		fw, err := mw.CreateFormFile(field, f[0])
		require.NoError(e.t, err)
		_, _ = fw.Write([]byte(f[1]))
	}
	require.NoError(e.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, e.url(method), &body)
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r, err := e.do(req)
	require.NoError(e.t, err)
	return r
}

func TestAddFileGetFileAndDownload(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	e.fake.AddFile("AgADvoice", []byte("OggS voice"), "voice/file_3.oga")

	var f fileResult
	e.ok("getFile", map[string]any{"file_id": "AgADvoice"}, &f)
	assert.Equal(t, "AgADvoice", f.FileID)
	assert.NotEmpty(t, f.FileUniqueID)
	assert.Equal(t, int64(10), f.FileSize)
	assert.Equal(t, "voice/file_3.oga", f.FilePath)

	status, h, b := e.fetch(token, f.FilePath)
	assert.Equal(t, 200, status)
	assert.Equal(t, "OggS voice", string(b))
	assert.Equal(t, "10", h.Get("Content-Length"))

	content, path, ok := e.fake.File("AgADvoice")
	require.True(t, ok)
	assert.Equal(t, "OggS voice", string(content))
	assert.Equal(t, "voice/file_3.oga", path)

	t.Run("unknown file_id", func(t *testing.T) {
		r := e.call("getFile", map[string]any{"file_id": "nope"})
		assert.Equal(t, 400, r.ErrorCode)
		assert.Equal(t, "Bad Request: invalid file_id", r.Description)
	})
	t.Run("too big for bots", func(t *testing.T) {
		e.fake.AddFile("big", make([]byte, 20<<20+1), "")
		r := e.call("getFile", map[string]any{"file_id": "big"})
		assert.Equal(t, "Bad Request: file is too big", r.Description)
	})
	t.Run("wrong token", func(t *testing.T) {
		status, h, b := e.fetch("123456:WRONG", f.FilePath)
		assert.Equal(t, 401, status)
		assert.Equal(t, "application/json", h.Get("Content-Type"))
		assert.JSONEq(t, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, string(b))
	})
	t.Run("unknown path", func(t *testing.T) {
		status, _, b := e.fetch(token, "voice/file_4.oga")
		assert.Equal(t, 404, status)
		assert.JSONEq(t, `{"ok":false,"error_code":404,"description":"Not Found"}`, string(b))
	})
	t.Run("replaced", func(t *testing.T) {
		e.fake.AddFile("AgADvoice", []byte("new"), "voice/file_5.oga")
		status, _, _ := e.fetch(token, "voice/file_3.oga")
		assert.Equal(t, 404, status, "the old path is gone")
		_, _, b := e.fetch(token, "voice/file_5.oga")
		assert.Equal(t, "new", string(b))
	})
	assert.Empty(t, e.fake.CallsTo("file"), "downloads are not calls")
}

func TestUploadsAreStoredAndServed(t *testing.T) {
	e := newEnv(t, fakeapi.Config{})
	r := e.upload("sendDocument", map[string]string{"chat_id": "42"}, map[string][2]string{"document": {"notes.txt", "some notes"}})
	require.True(t, r.OK, r.Description)
	var m struct {
		Document fileResult `json:"document"`
	}
	require.NoError(t, json.Unmarshal(r.Result, &m))
	assert.Equal(t, int64(10), m.Document.FileSize)

	call := e.fake.CallsTo("sendDocument")[0]
	assert.Equal(t, "notes.txt", call.Files["document"].FileName)
	assert.Equal(t, "some notes", string(call.Files["document"].Data))

	var f fileResult
	e.ok("getFile", map[string]any{"file_id": m.Document.FileID}, &f)
	assert.True(t, strings.HasPrefix(f.FilePath, "documents/") && strings.HasSuffix(f.FilePath, ".txt"), f.FilePath)
	_, _, b := e.fetch(token, f.FilePath)
	assert.Equal(t, "some notes", string(b))

	// Sent again by file_id: the same file.
	var again struct {
		Document fileResult `json:"document"`
	}
	e.ok("sendDocument", map[string]any{"chat_id": 42, "document": m.Document.FileID}, &again)
	assert.Equal(t, m.Document.FileUniqueID, again.Document.FileUniqueID)
	assert.Equal(t, int64(10), again.Document.FileSize)

	// InputMedia's attach://<part> names an uploaded part.
	r = e.upload("sendMediaGroup", map[string]string{
		"chat_id": "42",
		"media":   `[{"type":"photo","media":"attach://a"},{"type":"photo","media":"attach://b"}]`,
	}, map[string][2]string{"a": {"a.jpg", "AAA"}, "b": {"b.jpg", "BBBB"}})
	require.True(t, r.OK, r.Description)
	var group []struct {
		Photo []fileResult `json:"photo"`
	}
	require.NoError(t, json.Unmarshal(r.Result, &group))
	require.Len(t, group, 2)
	for i, want := range []string{"AAA", "BBBB"} {
		content, path, ok := e.fake.File(group[i].Photo[0].FileID)
		require.True(t, ok)
		assert.Equal(t, want, string(content))
		assert.True(t, strings.HasPrefix(path, "photos/"), path)
	}
}
