package httpapp

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/asgigram/asgigram/adapter"
)

// Admin is what the admin endpoints need. *adapter.Adapter implements it.
type Admin interface {
	DeadLetters() ([]adapter.DeadLetter, error)
	DeadLetter(id uint64) (adapter.DeadLetter, error)
	DropDeadLetter(id uint64) error
	ReplayDeadLetter(id uint64) error
}

var _ Admin = (*adapter.Adapter)(nil)

// adminRoutes mounts the dead-letter endpoints under /admin, guarded by the
// admin token (Authorization: Bearer), compared in constant time.
func adminRoutes(r chi.Router, admin Admin, token string) {
	r.Route("/admin", func(r chi.Router) {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				got, ok := bearer(req.Header.Get("Authorization"))
				if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
					w.Header().Set("WWW-Authenticate", `Bearer realm="asgigram admin"`)
					writeError(w, http.StatusUnauthorized, apiError{Description: "admin endpoints need Authorization: Bearer <admin_token>"})
					return
				}
				next.ServeHTTP(w, req)
			})
		})
		r.Get("/deadletters", func(w http.ResponseWriter, _ *http.Request) {
			dls, err := admin.DeadLetters()
			if err != nil {
				writeError(w, http.StatusInternalServerError, apiError{Description: err.Error()})
				return
			}
			if dls == nil {
				dls = []adapter.DeadLetter{}
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "dead_letters": dls})
		})
		r.Get("/deadletters/{id}", withID(func(w http.ResponseWriter, id uint64) {
			dl, err := admin.DeadLetter(id)
			if err != nil {
				adminError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "dead_letter": dl})
		}))
		r.Post("/deadletters/{id}/replay", withID(func(w http.ResponseWriter, id uint64) {
			if err := admin.ReplayDeadLetter(id); err != nil {
				adminError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "replayed": id})
		}))
		r.Delete("/deadletters/{id}", withID(func(w http.ResponseWriter, id uint64) {
			if err := admin.DropDeadLetter(id); err != nil {
				adminError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "dropped": id})
		}))
	})
}

func withID(h func(http.ResponseWriter, uint64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
		if err != nil || id == 0 {
			writeError(w, http.StatusBadRequest, apiError{Description: "the dead letter id must be a positive integer"})
			return
		}
		h(w, id)
	}
}

func adminError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, adapter.ErrNoDeadLetter):
		writeError(w, http.StatusNotFound, apiError{Description: err.Error()})
	case errors.Is(err, adapter.ErrNotReplayable):
		writeError(w, http.StatusConflict, apiError{Description: err.Error()})
	case errors.Is(err, adapter.ErrNotRunning):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, apiError{Description: err.Error()})
	default:
		writeError(w, http.StatusInternalServerError, apiError{Description: err.Error()})
	}
}
