package fakeapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// This file holds the fake's files: what the bot uploaded with send* calls
// (multipart parts, also those an InputMedia names with attach://<part>),
// files registered with AddFile, getFile, and the download endpoint
// /file/bot<token>/<file_path>.

// maxDownloadSize is the largest file getFile lets a bot download (the
// real server's 20 MB).
const maxDownloadSize = 20 << 20

// Upload is a file part of a multipart request.
type Upload struct {
	// FileName is the part's filename.
	FileName string
	// ContentType is the part's Content-Type ("" when it had none).
	ContentType string
	// Data is the part's content.
	Data []byte
}

// storedFile is a file the server serves through getFile and its path.
type storedFile struct {
	id, uniqueID, path, name string
	data                     []byte
}

// sentFile describes the file of a message the bot sent.
type sentFile struct {
	id, uniqueID, name string
	size               int64
}

func readUpload(fh *multipart.FileHeader) (Upload, error) {
	f, err := fh.Open()
	if err != nil {
		return Upload{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	return Upload{FileName: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data}, err
}

// sentFileLocked resolves the value of a file parameter of kind (photo,
// document, ...): an uploaded part (the parameter itself, or
// "attach://<part>"), which is stored so that getFile finds it, or a
// file_id, or a URL.
func (s *Bot) sentFileLocked(kind string, v json.RawMessage) sentFile {
	s.fileSeq++
	n := strconv.FormatInt(s.fileSeq, 10)
	sf := sentFile{id: "fake-file-" + n, uniqueID: "fake-unique-" + n}
	var sent string
	if json.Unmarshal(v, &sent) == nil {
		if name, ok := strings.CutPrefix(sent, "attach://"); ok {
			if up, ok := s.uploads[name]; ok {
				s.storeUploadLocked(&sf, kind, n, up)
			}
		} else if sent != "" && !strings.Contains(sent, "://") {
			sf.id = sent // sent by file_id
			if f, ok := s.files[sent]; ok {
				sf.uniqueID, sf.name, sf.size = f.uniqueID, f.name, int64(len(f.data))
			}
		}
		return sf
	}
	var up uploadedFile
	if json.Unmarshal(v, &up) == nil {
		sf.name = up.FileName
		if u, ok := s.uploads[kind]; ok {
			s.storeUploadLocked(&sf, kind, n, u)
		}
	}
	return sf
}

// fileDirs are the directories and default extensions of file_path by
// kind, as the real server makes them.
var fileDirs = map[string][2]string{
	"photo":      {"photos", ".jpg"},
	"document":   {"documents", ""},
	"video":      {"videos", ".mp4"},
	"animation":  {"animations", ".mp4"},
	"audio":      {"music", ".mp3"},
	"voice":      {"voice", ".oga"},
	"video_note": {"video_notes", ".mp4"},
	"sticker":    {"stickers", ".webp"},
}

func (s *Bot) storeUploadLocked(sf *sentFile, kind, n string, up Upload) {
	dir, ok := fileDirs[kind]
	if !ok {
		dir = fileDirs["document"]
	}
	ext := dir[1]
	if e := path.Ext(up.FileName); e != "" && !strings.ContainsAny(e, "/\\") {
		ext = e
	}
	f := &storedFile{
		id:       sf.id,
		uniqueID: sf.uniqueID,
		path:     dir[0] + "/file_" + n + ext,
		name:     up.FileName,
		data:     up.Data,
	}
	s.files[f.id] = f
	s.filePaths[f.path] = f
	sf.name, sf.size = up.FileName, int64(len(up.Data))
}

// AddFile registers a file the bot may download: getFile answers it for
// fileID with path as its file_path, and /file/bot<token>/<path> serves
// content. Use it for the file_ids of incoming updates (a user's photo or
// document). An empty path becomes "documents/file_<n>". Registering a
// fileID again replaces the file.
func (s *Bot) AddFile(fileID string, content []byte, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fileSeq++
	n := strconv.FormatInt(s.fileSeq, 10)
	if path == "" {
		path = "documents/file_" + n
	}
	if old, ok := s.files[fileID]; ok {
		delete(s.filePaths, old.path)
	}
	f := &storedFile{
		id:       fileID,
		uniqueID: "fake-unique-" + n,
		path:     path,
		data:     append([]byte(nil), content...),
	}
	s.files[fileID] = f
	s.filePaths[path] = f
}

// File returns the content and file_path of a file the server knows (one
// the bot uploaded, or one registered with AddFile).
func (s *Bot) File(fileID string) (content []byte, path string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[fileID]
	if !ok {
		return nil, "", false
	}
	return append([]byte(nil), f.data...), f.path, true
}

// fileResult is the Bot API's File object.
type fileResult struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size"`
	FilePath     string `json:"file_path"`
}

// getFile implements getFile.
func (s *Bot) getFile(p params) (any, *apiError) {
	f, ok := s.files[p.str("file_id")]
	if !ok {
		return nil, badRequest("invalid file_id")
	}
	if len(f.data) > maxDownloadSize {
		return nil, badRequest("file is too big")
	}
	return fileResult{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: int64(len(f.data)), FilePath: f.path}, nil
}

// serveFile answers GET /file/bot<token>/<file_path> with the file's bytes.
// A path is looked up among the files of the token's bot only. An unknown
// or revoked token answers 401, an unknown path 404, both with the Bot
// API's error envelope.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot")
	token, filePath, cut := strings.Cut(rest, "/")
	if !ok || !cut || token == "" || filePath == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		writeError(w, &apiError{Code: http.StatusNotFound, Description: "Not Found"})
		return
	}
	b := s.BotFor(token)
	if !b.liveAs(token) {
		writeError(w, &apiError{Code: http.StatusUnauthorized, Description: "Unauthorized"})
		return
	}
	b.mu.Lock()
	f := b.filePaths[filePath]
	b.mu.Unlock()
	if f == nil {
		writeError(w, &apiError{Code: http.StatusNotFound, Description: "Not Found"})
		return
	}
	http.ServeContent(w, r, path.Base(f.path), time.Time{}, bytes.NewReader(f.data))
}

func init() {
	handlers["getFile"] = (*Bot).getFile
}
