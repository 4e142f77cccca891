package server

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/bundle"
	"github.com/ecapi/ecapi/internal/join"
	"github.com/ecapi/ecapi/pkg/api"
)

// Joiner creates join commands and serves join bundles.
type Joiner interface {
	CreateCommand(ctx context.Context, req api.CreateJoinCommandRequest, clientIP string) (*api.CreateJoinCommandResponse, error)
	Authorize(ctx context.Context, raw string, roles []string, loginCheck func(string) error, clientIP string) (*join.Grant, error)
	Open(ctx context.Context, g *join.Grant) (*bundle.Bundle, string, error)
	CountDownload(ctx context.Context, g *join.Grant) error
	List(ctx context.Context) ([]api.JoinToken, error)
	Revoke(ctx context.Context, id, clientIP string) error
}

// bundleIdle is how long a bundle write may stall before the connection is
// dropped; the deadline moves forward while data flows, so multi-GB
// downloads on slow links finish.
const bundleIdle = WriteTimeout

// EnableJoins registers the join endpoints.
func (s *Server) EnableJoins(j Joiner) {
	s.joins = j
	s.router.handle(api.PathCreateJoinCommand, methods{http.MethodPost: s.requireLogin(s.createJoinCommand)})
	s.router.handle(api.PathJoinBundle, methods{http.MethodGet: s.joinBundle})
	s.router.handle(api.PathJoinTokens, methods{http.MethodGet: s.requireLogin(s.listJoinTokens)})
	s.router.handle(api.PathJoinTokens+"/{id}", methods{http.MethodDelete: s.requireLogin(s.revokeJoinToken)})
}

func (s *Server) createJoinCommand(w http.ResponseWriter, r *http.Request) {
	var req api.CreateJoinCommandRequest
	if e := decodeJSON(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	resp, err := s.joins.CreateCommand(r.Context(), req, clientIP(r))
	if err != nil {
		writeError(w, s.joinError(err))
		return
	}
	s.metrics.joinCommands.Inc()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) joinBundle(w http.ResponseWriter, r *http.Request) {
	values := r.URL.Query()["roles"]
	if len(values) != 1 || strings.TrimSpace(values[0]) == "" {
		writeError(w, errorf(http.StatusBadRequest, "pass the roles once as a comma-separated list: ?roles=<role1,role2>"))
		return
	}
	token, problem := bearer(r)
	if problem != "" {
		writeError(w, errorf(http.StatusUnauthorized, "%s", problem))
		return
	}
	loginCheck := func(raw string) error { _, err := s.auth.VerifyLogin(raw); return err }
	grant, err := s.joins.Authorize(r.Context(), token, strings.Split(values[0], ","), loginCheck, clientIP(r))
	if err != nil {
		writeError(w, s.joinError(err))
		return
	}
	b, fileName, err := s.joins.Open(r.Context(), grant)
	if err != nil {
		writeError(w, s.joinError(err))
		return
	}
	defer b.Close()
	// Counted after Open, so a bundle that cannot be built costs no use.
	if !resumes(r, b.ETag()) {
		if err := s.joins.CountDownload(r.Context(), grant); err != nil {
			writeError(w, s.joinError(err))
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fileName}))
	h.Set("ETag", b.ETag())
	h.Set("Cache-Control", "no-store")
	out := &bundleWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
	http.ServeContent(out, r, fileName, grant.Issued, b)
	s.metrics.bundleBytes.Add(float64(out.sent))
}

// resumes reports whether r continues a download of this very bundle: one
// byte range that starts past the first byte, conditional (If-Range) on the
// bundle's ETag. Such a request is not another use of the join token. The
// ETag depends on the token's secret material, so only a client that was
// sent this bundle before (a counted download) can know it; a range from
// byte 0, several ranges, or a suffix range count as a new download.
func resumes(r *http.Request, etag string) bool {
	if r.Header.Get("If-Range") != etag {
		return false
	}
	spec, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return false
	}
	first, _, ok := strings.Cut(spec, "-")
	start, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	return ok && err == nil && start > 0
}

func (s *Server) listJoinTokens(w http.ResponseWriter, r *http.Request) {
	tokens, err := s.joins.List(r.Context())
	if err != nil {
		writeError(w, s.joinError(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, api.JoinTokensResponse{Tokens: tokens})
}

func (s *Server) revokeJoinToken(w http.ResponseWriter, r *http.Request) {
	if err := s.joins.Revoke(r.Context(), r.PathValue("id"), clientIP(r)); err != nil {
		writeError(w, s.joinError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var joinStatus = map[join.Kind]int{
	join.Invalid:      http.StatusBadRequest,
	join.Unauthorized: http.StatusUnauthorized,
	join.Forbidden:    http.StatusForbidden,
	join.NotFound:     http.StatusNotFound,
	join.NotReady:     http.StatusConflict,
	join.Unavailable:  http.StatusServiceUnavailable,
	join.Internal:     http.StatusInternalServerError,
}

func (s *Server) joinError(err error) *apiError {
	var je *join.Error
	if errors.As(err, &je) {
		status := joinStatus[je.Kind]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status >= 500 {
			s.logger.Error("join", "err", err)
		}
		return errorf(status, "%s", je.Message)
	}
	var te *auth.TokenError
	if errors.As(err, &te) || errors.Is(err, auth.ErrPasswordUnavailable) {
		return s.authError(err)
	}
	s.logger.Error("join", "err", err)
	return errorf(http.StatusInternalServerError, "internal error: see the server log")
}

// bundleWriter moves the write deadline forward as data flows and turns
// http.ServeContent's plain-text errors (416, 412) into the API's JSON.
type bundleWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	sent     int64
	extended time.Time
	failed   bool
}

func (w *bundleWriter) WriteHeader(code int) {
	if code >= 400 {
		w.failed = true
		h := w.Header()
		for _, k := range []string{"Content-Disposition", "ETag", "Last-Modified", "Content-Length"} {
			h.Del(k)
		}
		writeError(w.ResponseWriter, errorf(code, "%s: the requested range does not fit the bundle; restart the download without Range", http.StatusText(code)))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *bundleWriter) Write(p []byte) (int, error) {
	if w.failed {
		return len(p), nil // the JSON error body is already written
	}
	if now := time.Now(); now.Sub(w.extended) > time.Second {
		_ = w.rc.SetWriteDeadline(now.Add(bundleIdle))
		w.extended = now
	}
	n, err := w.ResponseWriter.Write(p)
	w.sent += int64(n)
	return n, err
}
