package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/asgigram/asgigram/telegram"
)

// ErrNoFilePath is returned by OpenFile when getFile answered without a
// file_path: Telegram does not let bots download the file (larger than 20 MB).
var ErrNoFilePath = errors.New("telegram gave no file_path: the file cannot be downloaded")

// attach resolves the files of call c. A top-level parameter whose value is
// "attach://<name>" naming a file is removed, and the file is sent as that
// parameter: sendPhoto wants its file in the field "photo". The other files
// are sent under their own names, for the attach://<name> references inside
// InputMedia (sendMediaGroup's media), which Telegram resolves itself.
func attach(c *call, files []telegram.FilePart, idx int) error {
	bad := func(format string, a ...any) error {
		return &InvalidEventError{Index: idx, Reason: fmt.Sprintf(format, a...)}
	}
	byName := make(map[string]telegram.FilePart, len(files))
	for _, f := range files {
		if f.Field == "" {
			return bad("a file without a name")
		}
		if _, dup := byName[f.Field]; dup {
			return bad("two files named %q", f.Field)
		}
		byName[f.Field] = f
	}
	used := make(map[string]bool)
	var out []telegram.FilePart
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.params {
			if !yield(k) {
				return
			}
		}
	}) {
		var v string
		if json.Unmarshal(c.params[k], &v) != nil {
			continue
		}
		name, ok := strings.CutPrefix(v, "attach://")
		if !ok {
			continue
		}
		f, ok := byName[name]
		if !ok {
			return bad("%q is %q, but no file is named %q", k, v, name)
		}
		delete(c.params, k)
		used[name] = true
		f.Field = k
		out = append(out, f)
	}
	for _, f := range files {
		if used[f.Field] {
			continue
		}
		if _, clash := c.params[f.Field]; clash {
			return bad("%q is both a parameter of the event and the name of a file: name the file otherwise and refer to it as \"attach://<name>\"", f.Field)
		}
		out = append(out, f)
	}
	for i := range out {
		for j := range i {
			if out[i].Field == out[j].Field {
				return bad("two files would be sent as %q", out[i].Field)
			}
		}
	}
	c.files = out
	return nil
}

// ExecuteFiles validates one event for scope s (nil for the send_token) as
// Execute does, resolves its files (see attach) and calls it, uploading them
// as multipart/form-data, paced and in order with the other calls to its
// chat; the event arrives now (see Arrival). Errors: *InvalidEventError
// (nothing was called), *CallError.
func (e *Executor) ExecuteFiles(ctx context.Context, s *Scope, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	return e.executeFilesArrived(ctx, nil, s, event, files)
}

// executeFilesArrived is ExecuteFiles for the request that arrived as arr
// (nil: arriving now); arr is given up when the event is refused.
func (e *Executor) executeFilesArrived(ctx context.Context, arr *Arrival, s *Scope, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	c, err := prepare(s, event, 0)
	if err == nil {
		err = attach(&c, files, 0)
	}
	if err != nil {
		arr.Done()
		return nil, err
	}
	slots := e.order.place(arr, []string{c.chatKey})
	defer e.order.release(slots)
	var sl *slot
	if slots != nil {
		sl = slots[0]
	}
	res, err := e.call(ctx, c, sl)
	if err != nil {
		return nil, &CallError{Index: 0, Method: c.method, Err: err}
	}
	return res, nil
}

// SendFiles carries out one event with files for p, like Send: at once,
// within SendTimeout, in its chat's order as the request that arrived as arr
// (see Arrive; nil: arriving now). A top-level parameter "attach://<name>"
// is replaced by the file named name, sent as that parameter; other files
// keep their names. Errors: ErrShuttingDown (ErrTokenRejected after a 401), ErrUnknownToken (p is another
// Adapter's), *InvalidEventError, *CallError.
func (a *Adapter) SendFiles(ctx context.Context, p Principal, arr *Arrival, event json.RawMessage, files []telegram.FilePart) (json.RawMessage, error) {
	if err := a.owns(p); err != nil {
		arr.Done()
		return nil, err
	}
	if a.closed.Load() {
		arr.Done()
		return nil, a.closedErr()
	}
	ctx, cancel := a.sendContext(ctx)
	defer cancel()
	return a.exec.executeFilesArrived(ctx, arr, p.scope, event, files)
}

// OpenFile looks fileID up with getFile (within SendTimeout) and opens its
// download from Telegram; ctx bounds the download. The caller must close the
// Download's Body. Any principal of this Adapter may download: a scope
// token or the send_token authorised the request. Errors: ErrShuttingDown
// (ErrTokenRejected after a 401), ErrUnknownToken (p is another Adapter's), ErrNoFilePath,
// *telegram.Error (getFile refused, e.g. 400 "Bad Request: invalid
// file_id", or the download was refused), and the failures of reaching
// Telegram. No error carries the bot token.
func (a *Adapter) OpenFile(ctx context.Context, p Principal, fileID string) (telegram.File, *telegram.Download, error) {
	if err := a.owns(p); err != nil {
		return telegram.File{}, nil, err
	}
	if a.closed.Load() {
		return telegram.File{}, nil, a.closedErr()
	}
	gctx, cancel := a.sendContext(ctx)
	f, err := a.opt.Telegram.GetFile(gctx, fileID)
	cancel()
	if err != nil {
		return telegram.File{}, nil, err
	}
	if f.FilePath == "" {
		return f, nil, ErrNoFilePath
	}
	d, err := a.opt.Telegram.Download(ctx, f.FilePath)
	if err != nil {
		return f, nil, err
	}
	return f, d, nil
}
