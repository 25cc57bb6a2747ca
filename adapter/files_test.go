package adapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

// uploadingCaller is a Caller recording every multipart call.
type uploadingCaller struct {
	recordingCaller
	mu      sync.Mutex
	uploads []recordedUpload
	// UploadF answers a multipart call; nil answers {"message_id":1}.
	UploadF func(method string, params map[string]json.RawMessage) (json.RawMessage, error)
}

type recordedUpload struct {
	Method string
	Params map[string]json.RawMessage
	Files  []telegram.FilePart
}

func (c *uploadingCaller) CallMultipart(_ context.Context, method string, params map[string]json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	p := make(map[string]json.RawMessage, len(params))
	for k, v := range params {
		p[k] = v
	}
	c.mu.Lock()
	c.uploads = append(c.uploads, recordedUpload{method, p, append([]telegram.FilePart(nil), files...)})
	c.mu.Unlock()
	if c.UploadF != nil {
		return c.UploadF(method, p)
	}
	return json.RawMessage(`{"message_id":1}`), nil
}

// fields lists the field names of files, in order.
func fields(files []telegram.FilePart) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Field)
	}
	return out
}

func TestExecuteFiles(t *testing.T) {
	chat := adapter.ScopeRef{Key: "chat:42", Kind: adapter.ScopeChat, ID: 42}
	user := adapter.ScopeRef{Key: "user:7", Kind: adapter.ScopeUser, ID: 7}
	biz := adapter.ScopeRef{Key: "business:bc1:9", Kind: adapter.ScopeChat, ID: 9, BusinessConnectionID: "bc1"}
	pic := telegram.FilePart{Field: "pic", FileName: "cat.jpg", ContentType: "image/jpeg", Data: []byte("meow")}
	tests := []struct {
		name       string
		scope      *adapter.ScopeRef
		event      string
		files      []telegram.FilePart
		wantMethod string
		wantParams map[string]string
		absent     []string
		wantFields []string
		wantReason string
	}{
		{name: "attach:// moves the file to its parameter", scope: &chat,
			event: `{"type":"telegram.send_photo","photo":"attach://pic","caption":"a cat"}`, files: []telegram.FilePart{pic},
			wantMethod: "sendPhoto", wantParams: map[string]string{"chat_id": "42", "caption": `"a cat"`},
			absent: []string{"photo", "type"}, wantFields: []string{"photo"}},
		{name: "a file named like the parameter", scope: &chat,
			event: `{"type":"telegram.send_document"}`, files: []telegram.FilePart{{Field: "document", Data: []byte("x")}},
			wantMethod: "sendDocument", wantParams: map[string]string{"chat_id": "42"}, wantFields: []string{"document"}},
		{name: "InputMedia's attach:// is Telegram's to resolve", scope: &chat,
			event:      `{"type":"telegram.send_media_group","media":[{"type":"photo","media":"attach://a"},{"type":"photo","media":"attach://b"}]}`,
			files:      []telegram.FilePart{{Field: "a", Data: []byte("1")}, {Field: "b", Data: []byte("2")}},
			wantMethod: "sendMediaGroup", wantParams: map[string]string{"media": `[{"type":"photo","media":"attach://a"},{"type":"photo","media":"attach://b"}]`},
			wantFields: []string{"a", "b"}},
		{name: "thumbnail and the file", scope: &chat,
			event: `{"type":"telegram.send_video","video":"attach://v","thumbnail":"attach://t"}`,
			files: []telegram.FilePart{{Field: "v", Data: []byte("v")}, {Field: "t", Data: []byte("t")}}, wantMethod: "sendVideo",
			absent: []string{"video", "thumbnail"}, wantFields: []string{"thumbnail", "video"}},
		{name: "business chat", scope: &biz,
			event: `{"type":"telegram.send_photo","photo":"attach://pic"}`, files: []telegram.FilePart{pic},
			wantMethod: "sendPhoto", wantParams: map[string]string{"chat_id": "9", "business_connection_id": `"bc1"`}, wantFields: []string{"photo"}},
		{name: "send_token with chat_id", scope: nil,
			event: `{"type":"telegram.send_photo","chat_id":5,"photo":"attach://pic"}`, files: []telegram.FilePart{pic},
			wantMethod: "sendPhoto", wantParams: map[string]string{"chat_id": "5"}, wantFields: []string{"photo"}},
		{name: "send_token without chat_id", scope: nil,
			event: `{"type":"telegram.send_photo","photo":"attach://pic"}`, files: []telegram.FilePart{pic}, wantReason: "send_token"},
		{name: "user scope without chat_id", scope: &user,
			event: `{"type":"telegram.send_photo","photo":"attach://pic"}`, files: []telegram.FilePart{pic}, wantReason: "user scope"},
		{name: "refused", scope: &chat, event: `{"type":"telegram.set_webhook","certificate":"attach://pic"}`,
			files: []telegram.FilePart{pic}, wantReason: "refused"},
		{name: "attach:// to no file", scope: &chat, event: `{"type":"telegram.send_photo","photo":"attach://dog"}`,
			files: []telegram.FilePart{pic}, wantReason: `no file is named "dog"`},
		{name: "two files of one name", scope: &chat, event: `{"type":"telegram.send_photo","photo":"attach://pic"}`,
			files: []telegram.FilePart{pic, pic}, wantReason: `two files named "pic"`},
		{name: "a file named like a parameter with a value", scope: &chat, event: `{"type":"telegram.send_photo","photo":"AgADfileid"}`,
			files: []telegram.FilePart{{Field: "photo", Data: []byte("x")}}, wantReason: `"photo" is both`},
		{name: "a file would go out twice under one name", scope: &chat, event: `{"type":"telegram.send_photo","photo":"attach://pic"}`,
			files: []telegram.FilePart{pic, {Field: "photo", Data: []byte("x")}}, wantReason: `two files would be sent as "photo"`},
		{name: "a file without a name", scope: &chat, event: `{"type":"telegram.send_photo"}`,
			files: []telegram.FilePart{{Data: []byte("x")}}, wantReason: "without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &uploadingCaller{}
			var s *adapter.Scope
			if tt.scope != nil {
				s = scopeOf(t, *tt.scope)
			}
			res, err := adapter.NewExecutor(tg).ExecuteFiles(context.Background(), s, json.RawMessage(tt.event), tt.files)
			if tt.wantReason != "" {
				var inv *adapter.InvalidEventError
				require.ErrorAs(t, err, &inv)
				assert.Contains(t, inv.Reason, tt.wantReason)
				assert.Empty(t, tg.uploads, "nothing may be called")
				return
			}
			require.NoError(t, err)
			assert.JSONEq(t, `{"message_id":1}`, string(res))
			require.Len(t, tg.uploads, 1)
			assert.Empty(t, tg.calls)
			got := tg.uploads[0]
			assert.Equal(t, tt.wantMethod, got.Method)
			for k, v := range tt.wantParams {
				assert.JSONEq(t, v, string(got.Params[k]), "param %s", k)
			}
			for _, k := range tt.absent {
				assert.NotContains(t, got.Params, k)
			}
			assert.Equal(t, tt.wantFields, fields(got.Files))
			for _, f := range got.Files {
				assert.NotEmpty(t, f.Data)
			}
		})
	}
	t.Run("the file keeps its name and type", func(t *testing.T) {
		tg := &uploadingCaller{}
		_, err := adapter.NewExecutor(tg).ExecuteFiles(context.Background(), scopeOf(t, chat),
			json.RawMessage(`{"type":"telegram.send_photo","photo":"attach://pic"}`), []telegram.FilePart{pic})
		require.NoError(t, err)
		f := tg.uploads[0].Files[0]
		assert.Equal(t, telegram.FilePart{Field: "photo", FileName: "cat.jpg", ContentType: "image/jpeg", Data: []byte("meow")}, f)
	})
	t.Run("without files it is an ordinary call", func(t *testing.T) {
		tg := &uploadingCaller{}
		_, err := adapter.NewExecutor(tg).ExecuteFiles(context.Background(), scopeOf(t, chat),
			json.RawMessage(`{"type":"telegram.send_message","text":"hi"}`), nil)
		require.NoError(t, err)
		assert.Len(t, tg.calls, 1)
		assert.Empty(t, tg.uploads)
	})
}

func TestExecuteFilesFailures(t *testing.T) {
	chat := adapter.ScopeRef{Key: "chat:-42", Kind: adapter.ScopeChat, ID: -42}
	event := json.RawMessage(`{"type":"telegram.send_document","document":"attach://doc"}`)
	doc := []telegram.FilePart{{Field: "doc", FileName: "a.pdf", Data: []byte("%PDF")}}

	t.Run("telegram refuses", func(t *testing.T) {
		tg := &uploadingCaller{UploadF: func(string, map[string]json.RawMessage) (json.RawMessage, error) {
			return nil, &telegram.Error{Method: "sendDocument", Code: 400, Description: "Bad Request: file must be non-empty"}
		}}
		_, err := adapter.NewExecutor(tg).ExecuteFiles(context.Background(), scopeOf(t, chat), event, doc)
		var ce *adapter.CallError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 0, ce.Index)
		assert.Equal(t, "sendDocument", ce.Method)
	})
	t.Run("a migrated group gets the file on its new id", func(t *testing.T) {
		tg := &uploadingCaller{UploadF: func(_ string, p map[string]json.RawMessage) (json.RawMessage, error) {
			if string(p["chat_id"]) == "-42" {
				return nil, &telegram.Error{Method: "sendDocument", Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateToChatID: -1004200000000}
			}
			return json.RawMessage(`{"message_id":3}`), nil
		}}
		res, err := adapter.NewExecutor(tg).ExecuteFiles(context.Background(), scopeOf(t, chat), event, doc)
		require.NoError(t, err)
		assert.JSONEq(t, `{"message_id":3}`, string(res))
		require.Len(t, tg.uploads, 2)
		assert.Equal(t, "-1004200000000", string(tg.uploads[1].Params["chat_id"]))
		assert.Equal(t, []string{"document"}, fields(tg.uploads[1].Files))
	})
}

// fileTelegram is an adapter.Telegram that finds and downloads files.
type fileTelegram struct {
	recordingCaller
	GetFileF func(fileID string) (telegram.File, error)
	opened   []string
}

func (f *fileTelegram) GetMe(context.Context) (telegram.User, json.RawMessage, error) {
	return telegram.User{ID: 1, IsBot: true}, json.RawMessage(`{"id":1,"is_bot":true}`), nil
}

func (f *fileTelegram) GetUpdates(ctx context.Context, _ int64, _ int, _ time.Duration, _ []string) ([]json.RawMessage, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (f *fileTelegram) GetFile(_ context.Context, fileID string) (telegram.File, error) {
	return f.GetFileF(fileID)
}

func (f *fileTelegram) Download(_ context.Context, filePath string) (*telegram.Download, error) {
	f.opened = append(f.opened, filePath)
	return &telegram.Download{Size: -1}, nil
}

func TestOpenFile(t *testing.T) {
	tg := &fileTelegram{GetFileF: func(id string) (telegram.File, error) {
		switch id {
		case "ok":
			return telegram.File{FileID: "ok", FilePath: "photos/file_1.jpg"}, nil
		case "big":
			return telegram.File{FileID: "big", FileSize: 30 << 20}, nil
		}
		return telegram.File{}, &telegram.Error{Method: "getFile", Code: 400, Description: "Bad Request: invalid file_id"}
	}}
	a := adapter.New(adapter.Options{Telegram: tg})

	f, d, err := a.OpenFile(context.Background(), adapter.Principal{}, "ok")
	require.NoError(t, err)
	assert.Equal(t, "photos/file_1.jpg", f.FilePath)
	assert.NotNil(t, d)
	assert.Equal(t, []string{"photos/file_1.jpg"}, tg.opened)

	_, _, err = a.OpenFile(context.Background(), adapter.Principal{}, "big")
	assert.ErrorIs(t, err, adapter.ErrNoFilePath)

	_, _, err = a.OpenFile(context.Background(), adapter.Principal{}, "nope")
	var te *telegram.Error
	require.True(t, errors.As(err, &te))
	assert.Equal(t, 400, te.Code)
	assert.Len(t, tg.opened, 1, "nothing more was downloaded")
}
