package httpapp

import (
	"crypto/subtle"
	"errors"
	"fmt"
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
// admin token (Authorization: Bearer), compared in constant time: for the
// one bot of the process (admin, when not nil) /admin/deadletters..., and
// for each bot by name (bot, when not nil)
// /admin/bots/{name}/deadletters....
func adminRoutes(r chi.Router, admin Admin, bot func(name string) (Admin, bool), token string) {
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
		if admin != nil {
			deadLetterRoutes(r, func(*http.Request) (Admin, bool) { return admin, true })
		} else if bot != nil {
			r.HandleFunc("/deadletters*", func(w http.ResponseWriter, _ *http.Request) {
				writeError(w, http.StatusNotFound, apiError{Description: "this asgigram runs several bots: address one, /admin/bots/{name}/deadletters"})
			})
		}
		if bot != nil {
			r.Route("/bots/{bot}", func(r chi.Router) {
				deadLetterRoutes(r, func(req *http.Request) (Admin, bool) { return bot(chi.URLParam(req, "bot")) })
			})
		}
	})
}

// deadLetterRoutes mounts /deadletters... on r, for the Admin that of
// finds for a request; a request for which it finds none is answered 404.
func deadLetterRoutes(r chi.Router, of func(*http.Request) (Admin, bool)) {
	with := func(h func(http.ResponseWriter, *http.Request, Admin)) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			admin, ok := of(req)
			if !ok {
				writeError(w, http.StatusNotFound, apiError{Description: fmt.Sprintf("no bot named %q", chi.URLParam(req, "bot"))})
				return
			}
			h(w, req, admin)
		}
	}
	r.Get("/deadletters", with(func(w http.ResponseWriter, _ *http.Request, admin Admin) {
		dls, err := admin.DeadLetters()
		if err != nil {
			writeError(w, http.StatusInternalServerError, apiError{Description: err.Error()})
			return
		}
		if dls == nil {
			dls = []adapter.DeadLetter{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "dead_letters": dls})
	}))
	r.Get("/deadletters/{id}", with(withID(func(w http.ResponseWriter, admin Admin, id uint64) {
		dl, err := admin.DeadLetter(id)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "dead_letter": dl})
	})))
	r.Post("/deadletters/{id}/replay", with(withID(func(w http.ResponseWriter, admin Admin, id uint64) {
		if err := admin.ReplayDeadLetter(id); err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "replayed": id})
	})))
	r.Delete("/deadletters/{id}", with(withID(func(w http.ResponseWriter, admin Admin, id uint64) {
		if err := admin.DropDeadLetter(id); err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "dropped": id})
	})))
}

func withID(h func(http.ResponseWriter, Admin, uint64)) func(http.ResponseWriter, *http.Request, Admin) {
	return func(w http.ResponseWriter, r *http.Request, admin Admin) {
		id, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
		if err != nil || id == 0 {
			writeError(w, http.StatusBadRequest, apiError{Description: "the dead letter id must be a positive integer"})
			return
		}
		h(w, admin, id)
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
