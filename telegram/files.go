package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// File is the Bot API's File object, as getFile answers it.
type File struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	// FileSize is the size in bytes, 0 when Telegram does not say.
	FileSize int64 `json:"file_size,omitempty"`
	// FilePath is the path to download the file from (see Download). It is
	// empty when Telegram cannot serve the file (larger than 20 MB).
	FilePath string `json:"file_path,omitempty"`
}

// GetFile calls getFile: it returns what Telegram knows of fileID, with the
// path to Download it. An unknown file_id is a 400 *Error ("Bad Request:
// invalid file_id").
func (c *Client) GetFile(ctx context.Context, fileID string) (File, error) {
	raw, err := c.Call(ctx, "getFile", map[string]string{"file_id": fileID})
	if err != nil {
		return File{}, err
	}
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		return File{}, fmt.Errorf("telegram: getFile: decoding result: %w", err)
	}
	return f, nil
}

// Download is a file being downloaded from Telegram.
type Download struct {
	// Body streams the file's bytes; the caller must close it. Its read
	// errors never carry the bot token.
	Body io.ReadCloser
	// Size is the file's length in bytes, -1 when Telegram did not say.
	Size int64
	// ContentType is the Content-Type Telegram answered ("" if none).
	ContentType string
}

// ErrUnusableFilePath is returned by Download for a file_path that is not
// a relative path (a local Bot API server in --local mode answers absolute
// paths on its own disk, which it does not serve for download).
var ErrUnusableFilePath = errors.New("the file_path cannot be downloaded (a local Bot API server in --local mode serves files from its disk)")

// Download opens <api_url>/file/bot<token>/<filePath>, a file_path answered
// by getFile. Connection failures and 5xx answers are retried once; the
// response headers must arrive within Options.Timeout, and ctx bounds the
// rest. An answer other than 200 is an *Error with Method "download". The
// URL holds the bot token: no error returned ever carries it.
func (c *Client) Download(ctx context.Context, filePath string) (*Download, error) {
	u, err := c.fileURL(filePath)
	if err != nil {
		return nil, fmt.Errorf("telegram: download: %w", err)
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(nil) }
	timer := time.AfterFunc(c.timeout, func() { cancelCause(errNoHeaders) })
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, fmt.Errorf("telegram: download: %w", c.red.error(err))
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.dl.Do(req)
	if !timer.Stop() {
		// The headers came too late: the request's context is cancelled
		// (or about to be), the body cannot be read.
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("telegram: download: no answer within %s: %w", c.timeout, context.DeadlineExceeded)
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("telegram: download: %w", c.red.error(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var env envelope
		if json.Unmarshal(raw, &env) != nil || env.ErrorCode == 0 {
			env = envelope{ErrorCode: resp.StatusCode, Description: "HTTP " + resp.Status}
		}
		te := &Error{Method: "download", Code: env.ErrorCode, Description: c.red.string(env.Description)}
		if env.Parameters != nil {
			te.RetryAfter = env.Parameters.RetryAfter
		}
		return nil, te
	}
	return &Download{
		Body:        &downloadBody{rc: resp.Body, cancel: cancel, red: c.red},
		Size:        resp.ContentLength,
		ContentType: resp.Header.Get("Content-Type"),
	}, nil
}

// errNoHeaders cancels a download whose headers did not come in time.
var errNoHeaders = errors.New("no response headers in time")

// fileURL returns the download URL of a relative file_path, each segment
// escaped.
func (c *Client) fileURL(filePath string) (string, error) {
	if filePath == "" || strings.HasPrefix(filePath, "/") || strings.Contains(filePath, "\\") {
		return "", ErrUnusableFilePath
	}
	segs := strings.Split(filePath, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", ErrUnusableFilePath
		}
		segs[i] = url.PathEscape(s)
	}
	return c.fileBase + strings.Join(segs, "/"), nil
}

// downloadBody is a download's body: reading it never returns an error
// with the token, and closing it releases the request's context.
type downloadBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	red    redactor
}

func (b *downloadBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.red.error(err)
	}
	return n, err
}

func (b *downloadBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return b.red.error(err)
}

// FilePart is a file uploaded with a call (multipart/form-data).
type FilePart struct {
	// Field is the form field: the method's parameter ("photo",
	// "document"), or a name that an InputMedia's "attach://<name>" refers to.
	Field string
	// FileName is the file's name as Telegram shows it (default: Field).
	FileName string
	// ContentType is the part's type (default application/octet-stream).
	ContentType string
	// Data is the file's content.
	Data []byte
}

// encodedBody is a request body already encoded, with its content type.
type encodedBody struct {
	data        []byte
	contentType string
}

// CallMultipart calls method as multipart/form-data, uploading files with
// it. Every parameter becomes a form field: a JSON string by its content,
// any other JSON value (a number, an object such as reply_markup) by its
// JSON text; null values are left out. It retries as Call does: a method
// that is not safe to repeat (send*) is never sent again once its outcome
// is unknown.
func (c *Client) CallMultipart(ctx context.Context, method string, params map[string]json.RawMessage, files []FilePart) (json.RawMessage, error) {
	body, err := encodeMultipart(params, files)
	if err != nil {
		return nil, fmt.Errorf("telegram: %s: encoding parameters: %w", method, err)
	}
	return c.do(ctx, c.call, method, body)
}

// encodeMultipart encodes params (in key order) and files (in their order)
// as a multipart/form-data body.
func encodeMultipart(params map[string]json.RawMessage, files []FilePart) (encodedBody, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range params {
			if !yield(k) {
				return
			}
		}
	}) {
		v := bytes.TrimSpace(params[k])
		if len(v) == 0 || string(v) == "null" {
			continue
		}
		text := string(v)
		if v[0] == '"' {
			if err := json.Unmarshal(v, &text); err != nil {
				return encodedBody{}, fmt.Errorf("parameter %q: %w", k, err)
			}
		}
		if err := mw.WriteField(k, text); err != nil {
			return encodedBody{}, err
		}
	}
	for _, f := range files {
		if f.Field == "" {
			return encodedBody{}, errors.New("a file without a field name")
		}
		name := f.FileName
		if name == "" {
			name = f.Field
		}
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipart.FileContentDisposition(f.Field, name))
		h.Set("Content-Type", ct)
		w, err := mw.CreatePart(h)
		if err != nil {
			return encodedBody{}, err
		}
		if _, err := w.Write(f.Data); err != nil {
			return encodedBody{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return encodedBody{}, err
	}
	return encodedBody{data: buf.Bytes(), contentType: mw.FormDataContentType()}, nil
}
