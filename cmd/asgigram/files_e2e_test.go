package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getFile calls GET /file/{fileID} on asgigram's local server.
func getFile(t *testing.T, baseURL, token, fileID string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/file/"+fileID, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.NotContains(t, string(b), testToken, "the bot token leaked into an answer")
	for _, vs := range resp.Header {
		for _, v := range vs {
			assert.NotContains(t, v, testToken, "the bot token leaked into a header")
		}
	}
	return resp, b
}

type filePart struct {
	name, fileName, contentType string
	data                        []byte
}

// postUpload calls /send with a multipart body: the event part and files.
func postUpload(t *testing.T, sendURL, token, event string, files ...filePart) (int, map[string]json.RawMessage) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ev := textproto.MIMEHeader{}
	ev.Set("Content-Disposition", `form-data; name="event"`)
	ev.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(ev)
	require.NoError(t, err)
	_, _ = w.Write([]byte(event))
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipart.FileContentDisposition(f.name, f.fileName))
		if f.contentType != "" {
			h.Set("Content-Type", f.contentType)
		}
		w, err := mw.CreatePart(h)
		require.NoError(t, err)
		_, _ = w.Write(f.data)
	}
	require.NoError(t, mw.Close())
	return postSend(t, sendURL, token, mw.FormDataContentType(), body.String())
}

// TestFilesEndToEnd: an application receives a user's photo and fetches its
// bytes through GET /file/{file_id} with its scope token (the bot token never
// leaves asgigram); it uploads a document and an album through a multipart
// /send; upload_limit, missing tokens and unknown file_ids answer as
// documented.
func TestFilesEndToEnd(t *testing.T) {
	fake, apiURL := newFake(t)
	const chatID = 6300000001
	const sendToken = "app-level-send-token-files-0123"
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0, 'J', 'F', 'I', 'F'}, 2048)
	fake.AddFile("AgACAgIAAxkBAAIBphoto", photo, "photos/file_12.jpg")
	msg := textMessage(chatID, chatID, 1, "")
	delete(msg, "text")
	msg["photo"] = []map[string]any{{"file_id": "AgACAgIAAxkBAAIBphoto", "file_unique_id": "AQADphoto", "width": 320, "height": 240, "file_size": len(photo)}}
	msg["caption"] = "look"
	fake.AddUpdate("message", msg)

	a := newApp(t, nil)
	p := startBot(t, apiURL, a.srv.URL, "--send-token", sendToken, "--upload-limit", "64KiB")
	eventually(t, 10*time.Second, func() bool { return a.count() == 1 }, "the photo event is delivered")
	ev := a.received()[0]
	base := strings.TrimSuffix(ev.SendURL, "/send")
	var photos []struct {
		FileID string `json:"file_id"`
	}
	require.NoError(t, json.Unmarshal(ev.Event["photo"], &photos))
	require.Len(t, photos, 1)

	t.Run("download with the scope token", func(t *testing.T) {
		resp, b := getFile(t, base, ev.Token, photos[0].FileID)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		assert.Equal(t, photo, b, "the exact bytes")
		assert.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
		assert.Equal(t, "16384", resp.Header.Get("Content-Length"))
	})
	t.Run("download with the send_token", func(t *testing.T) {
		resp, b := getFile(t, base, sendToken, photos[0].FileID)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		assert.Equal(t, photo, b)
	})
	t.Run("no token", func(t *testing.T) {
		resp, b := getFile(t, base, "", photos[0].FileID)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, string(b), "missing token")
		assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	})
	t.Run("unknown token", func(t *testing.T) {
		resp, _ := getFile(t, base, strings.Repeat("A", 32), photos[0].FileID)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("unknown file_id", func(t *testing.T) {
		resp, b := getFile(t, base, ev.Token, "AgACnosuchfile")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var out map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &out))
		assert.JSONEq(t, "false", string(out["ok"]))
		assert.JSONEq(t, `"Bad Request: invalid file_id"`, string(out["description"]))
	})

	report := []byte("%PDF-1.7\n" + strings.Repeat("quarterly numbers\n", 500))
	var docID string
	t.Run("upload a document", func(t *testing.T) {
		status, out := postUpload(t, ev.SendURL, ev.Token,
			`{"type":"telegram.send_document","document":"attach://doc","caption":"the report"}`,
			filePart{name: "doc", fileName: "report.pdf", contentType: "application/pdf", data: report})
		require.Equal(t, http.StatusOK, status, "%v", out)
		var res []struct {
			Caption  string `json:"caption"`
			Document struct {
				FileID   string `json:"file_id"`
				FileName string `json:"file_name"`
				FileSize int    `json:"file_size"`
			} `json:"document"`
		}
		require.NoError(t, json.Unmarshal(out["results"], &res))
		require.Len(t, res, 1)
		assert.Equal(t, "the report", res[0].Caption)
		assert.Equal(t, "report.pdf", res[0].Document.FileName)
		assert.Equal(t, len(report), res[0].Document.FileSize)
		docID = res[0].Document.FileID

		calls := fake.CallsTo("sendDocument")
		require.Len(t, calls, 1)
		c := calls[0]
		assert.JSONEq(t, `6300000001`, string(c.Params["chat_id"]), "chat_id from the scope")
		assert.JSONEq(t, `"the report"`, string(c.Params["caption"]))
		assert.JSONEq(t, `{"file_name":"report.pdf","size":9009}`, string(c.Params["document"]), "the file went as the document parameter")
		up := c.Files["document"]
		assert.Equal(t, "report.pdf", up.FileName)
		assert.Equal(t, "application/pdf", up.ContentType)
		assert.Equal(t, report, up.Data, "the exact bytes")
		assert.NotContains(t, c.Files, "doc")
	})
	t.Run("the upload can be downloaded again", func(t *testing.T) {
		require.NotEmpty(t, docID)
		resp, b := getFile(t, base, ev.Token, docID)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		assert.Equal(t, report, b)
		assert.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
	})
	t.Run("an album with attach:// inside media", func(t *testing.T) {
		status, out := postUpload(t, ev.SendURL, sendToken,
			`{"type":"telegram.send_media_group","chat_id":6300000001,"media":[{"type":"photo","media":"attach://one"},{"type":"photo","media":"attach://two","caption":"2"}]}`,
			filePart{name: "one", fileName: "1.jpg", contentType: "image/jpeg", data: []byte("first")},
			filePart{name: "two", fileName: "2.jpg", contentType: "image/jpeg", data: []byte("second")})
		require.Equal(t, http.StatusOK, status, "%v", out)
		calls := fake.CallsTo("sendMediaGroup")
		require.Len(t, calls, 1)
		assert.Equal(t, []byte("first"), calls[0].Files["one"].Data)
		assert.Equal(t, []byte("second"), calls[0].Files["two"].Data)
	})
	t.Run("over upload_limit", func(t *testing.T) {
		before := len(fake.CallsTo("sendDocument"))
		status, out := postUpload(t, ev.SendURL, ev.Token, `{"type":"telegram.send_document","document":"attach://big"}`,
			filePart{name: "big", fileName: "big.bin", data: make([]byte, 100<<10)})
		assert.Equal(t, http.StatusRequestEntityTooLarge, status, "%v", out)
		assert.Contains(t, string(out["description"]), "upload_limit")
		assert.Len(t, fake.CallsTo("sendDocument"), before, "nothing was sent")
	})
	t.Run("upload without a token", func(t *testing.T) {
		status, _ := postUpload(t, ev.SendURL, "", `{"type":"telegram.send_document","document":"attach://doc"}`,
			filePart{name: "doc", fileName: "a.txt", data: []byte("a")})
		assert.Equal(t, http.StatusUnauthorized, status)
	})
	t.Run("attach:// naming no part", func(t *testing.T) {
		status, out := postUpload(t, ev.SendURL, ev.Token, `{"type":"telegram.send_photo","photo":"attach://nope"}`,
			filePart{name: "pic", fileName: "a.jpg", data: []byte("a")})
		assert.Equal(t, http.StatusBadRequest, status, "%v", out)
		assert.JSONEq(t, "0", string(out["failed_index"]))
	})
	assert.Equal(t, 0, p.stop(20*time.Second))
	assert.NotContains(t, p.out.String(), testToken)
}
