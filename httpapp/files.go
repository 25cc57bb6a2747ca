package httpapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/telegram"
)

// DefaultUploadLimit bounds a multipart /send body when
// RouterOptions.UploadLimit is not set: 50 MiB, Telegram's own cap.
const DefaultUploadLimit = 50 << 20

// maxUploadParts bounds the parts of a multipart /send body.
const maxUploadParts = 100

// FileOpener serves GET /file/{file_id} (RouterOptions.Files).
// *adapter.Adapter implements it.
type FileOpener interface {
	OpenFile(ctx context.Context, p adapter.Principal, fileID string) (telegram.File, *telegram.Download, error)
}

var _ FileOpener = (*adapter.Adapter)(nil)

// serveUpload answers a multipart/form-data /send: the part "event" holds
// one event object, every other part is a file named by its part name.
func (h *sendHandler) serveUpload(w http.ResponseWriter, r *http.Request, p adapter.Principal) {
	limit := h.opt.UploadLimit
	tooLarge := func() {
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Description: fmt.Sprintf("body larger than the limit of %d bytes (upload_limit)", limit)})
	}
	if r.ContentLength > limit {
		tooLarge()
		return
	}
	// The body may take long when it is large: it must keep up MinRate
	// after a first BodyTimeout, and the answer waits until it is read.
	if h.opt.BodyTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	}
	r.Body = http.MaxBytesReader(w, newRateReader(w, r.Body, h.opt.BodyTimeout, h.opt.MinRate), limit)
	event, files, err := h.readUpload(r)
	answerWithin(w, h.opt.BodyTimeout+h.opt.HandlerTime)
	if err != nil {
		var mbe *http.MaxBytesError
		var ue *uploadError
		switch {
		case errors.As(err, &mbe):
			tooLarge()
		case isTimeout(err):
			bodyTimedOut(w, fmt.Sprintf("the upload fell behind %d bytes per second after %s (upload_min_rate, send_body_timeout)", h.opt.MinRate, h.opt.BodyTimeout))
		case errors.As(err, &ue):
			writeError(w, ue.status, apiError{Description: ue.msg})
		default:
			writeError(w, http.StatusBadRequest, apiError{Description: "reading the multipart body: " + err.Error()})
		}
		return
	}
	// An upload arrives once its body is in: a body that may take minutes
	// (upload_min_rate) must not hold back the calls of every later request.
	arr := h.opt.Sender.Arrive()
	defer arr.Done()
	res, err := h.opt.Sender.SendFiles(r.Context(), p, arr, event, files)
	answerWithin(w, h.opt.BodyTimeout)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK      bool              `json:"ok"`
		Results []json.RawMessage `json:"results"`
	}{true, []json.RawMessage{res}})
}

// uploadError is a multipart body the handler refuses, with its status.
type uploadError struct {
	status int
	msg    string
}

func (e *uploadError) Error() string { return e.msg }

func badUpload(format string, a ...any) error {
	return &uploadError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

// readUpload reads the parts of a multipart /send body.
func (h *sendHandler) readUpload(r *http.Request) (json.RawMessage, []telegram.FilePart, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, badUpload("malformed multipart/form-data: %v", err)
	}
	var (
		event json.RawMessage
		files []telegram.FilePart
		n     int
	)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if n++; n > maxUploadParts {
			return nil, nil, badUpload("more than %d parts", maxUploadParts)
		}
		name := part.FormName()
		switch {
		case name == "":
			return nil, nil, badUpload("part %d has no name (Content-Disposition: form-data; name=...)", n)
		case name == "event":
			if event != nil {
				return nil, nil, badUpload(`two parts named "event"`)
			}
			b, err := io.ReadAll(io.LimitReader(part, h.opt.BodyLimit+1))
			if err != nil {
				return nil, nil, err
			}
			if int64(len(b)) > h.opt.BodyLimit {
				return nil, nil, &uploadError{status: http.StatusRequestEntityTooLarge,
					msg: fmt.Sprintf(`the part "event" is larger than the limit of %d bytes (send_body_limit)`, h.opt.BodyLimit)}
			}
			events, err := adapter.SplitEvents(b)
			if err != nil {
				return nil, nil, badUpload(`the part "event": %v`, err)
			}
			if len(events) != 1 || strings.HasPrefix(strings.TrimSpace(string(b)), "[") {
				return nil, nil, badUpload(`the part "event" holds one event object; send arrays as application/json`)
			}
			event = events[0]
		default:
			data, err := io.ReadAll(part)
			if err != nil {
				return nil, nil, err
			}
			ct := part.Header.Get("Content-Type")
			if ct == "application/octet-stream" {
				ct = ""
			}
			files = append(files, telegram.FilePart{Field: name, FileName: part.FileName(), ContentType: ct, Data: data})
		}
	}
	if event == nil {
		return nil, nil, badUpload(`no part named "event": a multipart /send carries the JSON event in the part "event" and the files in the other parts`)
	}
	return event, files, nil
}

// fileHandler serves GET /file/{file_id}: getFile, then the file's bytes
// streamed from Telegram, whose URL (with the bot token) never shows.
type fileHandler struct {
	*sendHandler
	files FileOpener
}

func (h *fileHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := h.authorize(w, r)
	if !ok {
		return
	}
	fileID := chi.URLParam(r, "file_id")
	if fileID == "" || len(fileID) > 1024 {
		writeError(w, http.StatusNotFound, apiError{Description: "unknown file_id"})
		return
	}
	f, d, err := h.files.OpenFile(r.Context(), p, fileID)
	if err != nil {
		h.fileFailed(w, err)
		return
	}
	defer d.Body.Close()
	hd := w.Header()
	hd.Set("Content-Type", contentType(d.ContentType, f.FilePath))
	if d.Size >= 0 {
		hd.Set("Content-Length", strconv.FormatInt(d.Size, 10))
	}
	if name := path.Base(f.FilePath); name != "." && name != "/" {
		// attachment, never inline: a file a user sent (an .html one) must
		// not be rendered by a browser as if the local server served it.
		if cd := mime.FormatMediaType("attachment", map[string]string{"filename": name}); cd != "" {
			hd.Set("Content-Disposition", cd)
		}
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "private")
	// A download is bounded by its rate, not by a fixed time: a client
	// reading slower than MinRate (after a first BodyTimeout) is cut off.
	out := newRateWriter(w, h.opt.BodyTimeout, h.opt.MinRate)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(out, d.Body); err != nil {
		if r.Context().Err() != nil {
			h.opt.Logger.Debug("file download interrupted: the client went away", "file_id", fileID, "error", err)
		} else {
			h.opt.Logger.Warn("file download interrupted", "file_id", fileID, "error", err)
		}
	}
}

// contentType is Telegram's Content-Type, or the file_path extension's
// type when Telegram said nothing more specific than octet-stream.
func contentType(fromTelegram, filePath string) string {
	mt, _, _ := mime.ParseMediaType(fromTelegram)
	if mt != "" && mt != "application/octet-stream" {
		return fromTelegram
	}
	if t := mime.TypeByExtension(path.Ext(filePath)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// fileFailed maps an OpenFile error to a status: 404 for a file_id Telegram
// does not know, 502 for Telegram's other refusals (with its description),
// 504 when Telegram did not answer in time.
func (h *fileHandler) fileFailed(w http.ResponseWriter, err error) {
	var te *telegram.Error
	switch {
	case errors.Is(err, adapter.ErrUnknownToken), errors.Is(err, adapter.ErrExpiredToken), errors.Is(err, adapter.ErrShuttingDown),
		errors.Is(err, adapter.ErrTokenRejected):
		h.fail(w, err)
	case errors.As(err, &te):
		e := apiError{Description: te.Description, ErrorCode: te.Code, RetryAfter: te.RetryAfter}
		status := http.StatusBadGateway
		if te.Method == "getFile" && te.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(te.Description), "file_id") {
			status = http.StatusNotFound
		}
		writeError(w, status, e)
	case errors.Is(err, adapter.ErrNoFilePath):
		writeError(w, http.StatusBadGateway, apiError{Description: err.Error()})
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, apiError{Description: "Telegram did not answer in time: " + err.Error()})
	default:
		writeError(w, http.StatusBadGateway, apiError{Description: "fetching the file from Telegram failed: " + err.Error()})
	}
}
