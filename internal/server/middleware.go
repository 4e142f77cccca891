package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ecapi/ecapi/internal/auth"
)

// MaxTokenBytes bounds the bearer tokens we try to parse.
const MaxTokenBytes = 8 << 10

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (write deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientIP is the peer address; ecapi is not meant to sit behind a proxy,
// so forwarding headers are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// observe logs each request (never headers or bodies) and records metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("handler panic", "route", s.router.route(r), "panic", p)
				if sw.status != 0 {
					// Headers are out: abort the connection so the client
					// cannot take a truncated body for a complete one.
					panic(http.ErrAbortHandler)
				}
				writeError(sw, errorf(http.StatusInternalServerError, "internal error"))
			}
			d := time.Since(start)
			route := s.router.route(r)
			s.metrics.observe(route, r.Method, sw.status, d)
			s.accessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", d), slog.String("client", clientIP(r)))
		}()
		next.ServeHTTP(sw, r)
	})
}

type ctxKey int

const claimsKey ctxKey = iota

// bearer extracts the token of a single "Authorization: Bearer" header.
func bearer(r *http.Request) (string, string) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", "missing bearer token: call POST /v1/auth/token first and send 'Authorization: Bearer <token>'"
	case len(values) > 1:
		return "", "more than one Authorization header: send exactly one"
	}
	// net/http trims trailing spaces, so "Bearer " arrives as "Bearer":
	// that is an empty token, not another scheme.
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", "unsupported authorization scheme: send 'Authorization: Bearer <token>'"
	}
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return "", "empty bearer token: call POST /v1/auth/token first"
	case len(token) > MaxTokenBytes:
		return "", "bearer token is too large"
	}
	return token, ""
}

// requireLogin admits requests that carry a valid login token.
func (s *Server) requireLogin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, problem := bearer(r)
		if problem != "" {
			writeError(w, errorf(http.StatusUnauthorized, "%s", problem))
			return
		}
		claims, err := s.auth.VerifyLogin(token)
		if err != nil {
			writeError(w, s.authError(err))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), claimsKey, claims)))
	}
}

// authError maps a verification failure to 401 (or 503 when the password
// Secret cannot be read).
func (s *Server) authError(err error) *apiError {
	var te *auth.TokenError
	switch {
	case asTokenError(err, &te):
		return errorf(http.StatusUnauthorized, "%s: call POST /v1/auth/token for a new token", te.Reason)
	case isPasswordUnavailable(err):
		s.logger.Error("verify token", "err", err)
		return errorf(http.StatusServiceUnavailable, "the installer password secret cannot be read right now: try again shortly")
	}
	s.logger.Error("verify token", "err", err)
	return errorf(http.StatusUnauthorized, "invalid token: call POST /v1/auth/token for a new token")
}
