package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/pkg/api"
)

var healthBody = mustJSON(api.HealthResponse{Status: "ok"})

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, http.StatusOK, healthBody)
}

func (s *Server) versionHandler(w http.ResponseWriter, r *http.Request) {
	writeBody(w, http.StatusOK, s.version)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	if e := decodeJSON(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Password == "" {
		writeError(w, errorf(http.StatusBadRequest, `missing "password": send {"password":"<installer-password>"}`))
		return
	}
	client := clientIP(r)
	token, _, err := s.auth.Login(r.Context(), client, req.Password)
	var locked *auth.LockedOutError
	switch {
	case err == nil:
		s.audit.Info("login", "result", "success", "client", client)
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, api.TokenResponse{Token: token})
	case errors.Is(err, auth.ErrWrongPassword):
		s.metrics.loginFailures.Inc()
		s.audit.Warn("login", "result", "wrong password", "client", client)
		if errors.As(err, &locked) {
			s.audit.Warn("login lockout", "client", client, "retryAfter", locked.RetryAfter.String())
		}
		writeError(w, errorf(http.StatusUnauthorized, "wrong password: use the installer password set at install time"))
	case errors.As(err, &locked):
		if locked.InFlight {
			s.audit.Warn("login", "result", "too many logins in flight", "client", client)
		} else {
			s.metrics.lockouts.Inc()
			s.audit.Warn("login", "result", "locked out", "client", client)
		}
		// Hold the 429: a client retrying in a loop then sends about one
		// request a second instead of thousands, whose TLS and HTTP work
		// would take the CPU from /v1/health and /v1/nodes (scripts/bench.sh).
		pause(r.Context(), min(locked.RetryAfter, lockedOutDelay))
		retryAfter(w, locked.RetryAfter)
		writeError(w, errorf(http.StatusTooManyRequests, "%s", locked.Error()))
	case errors.Is(err, auth.ErrBusy):
		retryAfter(w, auth.LoginWait)
		writeError(w, errorf(http.StatusServiceUnavailable, "too many logins in progress: retry after the Retry-After delay"))
	case errors.Is(err, auth.ErrPasswordUnavailable), errors.Is(err, auth.ErrNoSigningKey):
		s.logger.Error("login", "err", err)
		retryAfter(w, 5e9)
		writeError(w, errorf(http.StatusServiceUnavailable, "logins are unavailable: the password or signing-key secret cannot be read; check that the Kubernetes API is up"))
	default:
		s.logger.Error("login", "err", err)
		writeError(w, errorf(http.StatusInternalServerError, "login failed: internal error, see the server log"))
	}
}

func (s *Server) nodesHandler(w http.ResponseWriter, r *http.Request) {
	snap, err := s.nodes.Snapshot()
	if err != nil {
		retryAfter(w, 2e9)
		writeError(w, errorf(http.StatusServiceUnavailable, "the node list is unavailable (%v): retry shortly", err))
		return
	}
	body, etag := snap.JSON, snap.ETag
	h := w.Header()
	h.Set("Vary", "Accept-Encoding")
	h.Set("Cache-Control", "no-cache")
	if acceptsGzip(r) {
		body, etag = snap.Gzip, snap.ETagGzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, http.StatusOK, body)
}

// acceptsGzip reports whether Accept-Encoding lists gzip with a non-zero q.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				q, err := strconv.ParseFloat(v, 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// lockedOutDelay is the longest a locked-out client waits for its 429.
const lockedOutDelay = time.Second

// pause waits for d, or until ctx ends (the client went away).
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
