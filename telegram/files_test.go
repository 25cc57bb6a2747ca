package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/telegram"
	"github.com/asgigram/asgigram/telegram/fakeapi"
)

// download reads a whole download and closes it.
func download(t *testing.T, c *telegram.Client, filePath string) ([]byte, *telegram.Download) {
	t.Helper()
	d, err := c.Download(context.Background(), filePath)
	require.NoError(t, err)
	defer d.Body.Close()
	b, err := io.ReadAll(d.Body)
	require.NoError(t, err)
	return b, d
}

func TestGetFileAndDownload(t *testing.T) {
	e := newEnv(t, fastOptions())
	content := bytes.Repeat([]byte("\xff\xd8jpeg"), 1000)
	e.fake.AddFile("AgADphoto", content, "photos/file_7.jpg")

	f, err := e.c.GetFile(context.Background(), "AgADphoto")
	require.NoError(t, err)
	assert.Equal(t, "AgADphoto", f.FileID)
	assert.NotEmpty(t, f.FileUniqueID)
	assert.Equal(t, int64(len(content)), f.FileSize)
	assert.Equal(t, "photos/file_7.jpg", f.FilePath)

	got, d := download(t, e.c, f.FilePath)
	assert.Equal(t, content, got)
	assert.Equal(t, int64(len(content)), d.Size)
	assert.Equal(t, "image/jpeg", d.ContentType)
}

func TestGetFileUnknownIsBadRequest(t *testing.T) {
	e := newEnv(t, fastOptions())
	_, err := e.c.GetFile(context.Background(), "no-such-file")
	var te *telegram.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "getFile", te.Method)
	assert.Equal(t, 400, te.Code)
	assert.Equal(t, "Bad Request: invalid file_id", te.Description)
	assert.Len(t, e.fake.CallsTo("getFile"), 1, "a refusal is not retried")
}

// TestDownloadErrorsNeverCarryTheToken: the download URL holds the token;
// no failure of Download (refused, unknown path, Telegram unreachable) may
// show it.
func TestDownloadErrorsNeverCarryTheToken(t *testing.T) {
	fake := fakeapi.New(fakeapi.Config{Token: clientToken})
	fake.AddFile("f1", []byte("data"), "documents/file_1.txt")
	srv := httptest.NewServer(fake)
	defer srv.Close()

	t.Run("wrong token", func(t *testing.T) {
		c := telegram.New(srv.URL, wrongToken, fastOptions())
		_, err := c.Download(context.Background(), "documents/file_1.txt")
		assertNoToken(t, err)
		var te *telegram.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "download", te.Method)
		assert.Equal(t, 401, te.Code)
		assert.ErrorIs(t, err, telegram.ErrUnauthorized)
	})
	t.Run("unknown path", func(t *testing.T) {
		c := telegram.New(srv.URL, clientToken, fastOptions())
		_, err := c.Download(context.Background(), "documents/file_2.txt")
		assertNoToken(t, err)
		var te *telegram.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 404, te.Code)
		assert.Equal(t, "Not Found", te.Description)
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		c := telegram.New(url, clientToken, fastOptions())
		_, err := c.Download(context.Background(), "documents/file_1.txt")
		assertNoToken(t, err)
	})
	t.Run("body cut short", func(t *testing.T) {
		c, _ := handlerClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("only ten b"))
		}), fastOptions())
		d, err := c.Download(context.Background(), "documents/file_1.txt")
		require.NoError(t, err)
		defer d.Body.Close()
		_, err = io.ReadAll(d.Body)
		assertNoToken(t, err)
	})
	t.Run("unusable file_path", func(t *testing.T) {
		c, rt := handlerClient(t, http.NotFoundHandler(), fastOptions())
		for _, p := range []string{"", "/var/lib/telegram-bot-api/" + clientToken + "/documents/file_1.txt", "documents/../x", "a//b"} {
			_, err := c.Download(context.Background(), p)
			assert.ErrorIs(t, err, telegram.ErrUnusableFilePath, "%q", p)
			assertNoToken(t, err)
		}
		assert.Zero(t, rt.attempts.Load(), "nothing was requested")
	})
}

func TestDownloadRetriesOnceAfter5xx(t *testing.T) {
	fake := fakeapi.New(fakeapi.Config{Token: clientToken})
	fake.AddFile("f1", []byte("the bytes"), "documents/file_1.txt")
	var failures atomic.Int32
	failures.Store(1)
	c, rt := handlerClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failures.Add(-1) >= 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		fake.ServeHTTP(w, r)
	}), fastOptions())

	got, _ := download(t, c, "documents/file_1.txt")
	assert.Equal(t, "the bytes", string(got))
	assert.Equal(t, int32(2), rt.attempts.Load())

	failures.Store(5)
	_, err := c.Download(context.Background(), "documents/file_1.txt")
	var te *telegram.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 502, te.Code)
	assert.Equal(t, int32(4), rt.attempts.Load(), "one retry, not more")
	assertNoToken(t, err)
}

func TestDownloadWaitsForHeadersAtMostTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	opt := fastOptions()
	opt.Timeout = 200 * time.Millisecond
	opt.RetryMax = -1
	c, _ := handlerClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), opt)
	start := time.Now()
	_, err := c.Download(context.Background(), "documents/file_1.txt")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assertNoToken(t, err)
}

// TestDownloadIsNotBoundByTimeout: Timeout bounds the wait for headers,
// not the transfer of a large file.
func TestDownloadIsNotBoundByTimeout(t *testing.T) {
	opt := fastOptions()
	opt.Timeout = 200 * time.Millisecond
	c, _ := handlerClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "6")
		_, _ = w.Write([]byte("abc"))
		w.(http.Flusher).Flush()
		time.Sleep(400 * time.Millisecond)
		_, _ = w.Write([]byte("def"))
	}), opt)
	got, _ := download(t, c, "documents/file_1.txt")
	assert.Equal(t, "abcdef", string(got))
}

func TestCallMultipartUploads(t *testing.T) {
	e := newEnv(t, fastOptions())
	content := []byte("%PDF-1.7 not really")
	params := map[string]json.RawMessage{
		"chat_id":      json.RawMessage(`42`),
		"caption":      json.RawMessage(`"a \"quoted\" caption"`),
		"reply_markup": json.RawMessage(`{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}`),
		"thumbnail":    json.RawMessage(`null`),
	}
	files := []telegram.FilePart{{Field: "document", FileName: "report.pdf", ContentType: "application/pdf", Data: content}}
	raw, err := e.c.CallMultipart(context.Background(), "sendDocument", params, files)
	require.NoError(t, err)

	var m struct {
		Caption  string `json:"caption"`
		Document struct {
			FileID   string `json:"file_id"`
			FileName string `json:"file_name"`
			FileSize int64  `json:"file_size"`
		} `json:"document"`
		ReplyMarkup json.RawMessage `json:"reply_markup"`
	}
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, `a "quoted" caption`, m.Caption, "a JSON string is sent by its content")
	assert.Equal(t, "report.pdf", m.Document.FileName)
	assert.Equal(t, int64(len(content)), m.Document.FileSize)
	assert.JSONEq(t, string(params["reply_markup"]), string(m.ReplyMarkup), "an object is sent as its JSON text")

	calls := e.fake.CallsTo("sendDocument")
	require.Len(t, calls, 1)
	assert.Equal(t, "42", string(calls[0].Params["chat_id"]))
	assert.NotContains(t, calls[0].Params, "thumbnail", "null parameters are left out")
	up := calls[0].Files["document"]
	assert.Equal(t, "report.pdf", up.FileName)
	assert.Equal(t, "application/pdf", up.ContentType)
	assert.Equal(t, content, up.Data)

	// The upload can be fetched back: getFile, then download.
	f, err := e.c.GetFile(context.Background(), m.Document.FileID)
	require.NoError(t, err)
	got, _ := download(t, e.c, f.FilePath)
	assert.Equal(t, content, got)
}

// TestCallMultipartRetries: multipart calls follow Call's rules. A 429 is
// retried with the whole body again; a send* whose outcome is unknown is
// never repeated; a safe method is retried after a 5xx.
func TestCallMultipartRetries(t *testing.T) {
	e := newEnv(t, fastOptions())
	files := []telegram.FilePart{{Field: "photo", FileName: "cat.jpg", Data: []byte("meow")}}
	chat := map[string]json.RawMessage{"chat_id": json.RawMessage(`42`)}

	e.fake.Fail("sendPhoto", fakeapi.Fault{Code: 429, RetryAfter: 1})
	_, err := e.c.CallMultipart(context.Background(), "sendPhoto", chat, files)
	require.NoError(t, err)
	calls := e.fake.CallsTo("sendPhoto")
	require.Len(t, calls, 2)
	assert.Equal(t, []byte("meow"), calls[1].Files["photo"].Data, "the retry carries the whole file again")

	e.fake.Fail("sendPhoto", fakeapi.Fault{Code: 502, AfterProcessing: true})
	_, err = e.c.CallMultipart(context.Background(), "sendPhoto", chat, files)
	assert.ErrorIs(t, err, telegram.ErrOutcomeUnknown)
	assert.Len(t, e.fake.CallsTo("sendPhoto"), 3, "a send is not repeated after an ambiguous failure")
	assert.Len(t, e.fake.Messages(42), 2, "the photo went out once per call")

	e.fake.Fail("setChatPhoto", fakeapi.Fault{Code: 502})
	_, err = e.c.CallMultipart(context.Background(), "setChatPhoto", chat, files)
	require.NoError(t, err)
	assert.Len(t, e.fake.CallsTo("setChatPhoto"), 2, "a safe method is retried")
}

func TestCallMultipartErrorsNeverCarryTheToken(t *testing.T) {
	fake := fakeapi.New(fakeapi.Config{Token: clientToken})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := telegram.New(srv.URL, wrongToken, fastOptions())
	files := []telegram.FilePart{{Field: "document", Data: []byte("x")}}
	_, err := c.CallMultipart(context.Background(), "sendDocument", map[string]json.RawMessage{"chat_id": json.RawMessage(`1`)}, files)
	assertNoToken(t, err)
	assert.ErrorIs(t, err, telegram.ErrUnauthorized)

	srv.Close()
	c = telegram.New(srv.URL, clientToken, fastOptions())
	_, err = c.CallMultipart(context.Background(), "sendDocument", map[string]json.RawMessage{"chat_id": json.RawMessage(`1`)}, files)
	assertNoToken(t, err)
	assert.False(t, errors.Is(err, telegram.ErrOutcomeUnknown), "nothing was sent: %v", err)

	_, err = c.CallMultipart(context.Background(), "sendDocument", nil, []telegram.FilePart{{Data: []byte("x")}})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "field name"), "%v", err)
}
