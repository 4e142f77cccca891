// Package clienttest is an in-memory ecapi server over real TLS for unit
// tests of the SDK and the CLI. It implements the documented endpoints
// with just enough behaviour (password login, bearer tokens, roles, 409
// before a Ready controller) and lets a test inject failures. It is a fake:
// integration tests run against the real `ecapi serve`.
package clienttest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
)

// DefaultPassword is the installer password the fake accepts.
const DefaultPassword = "s3cret-password"

// DefaultTokenExpiry is the exp of every token the fake issues, fixed so
// that output naming it is stable in golden files.
var DefaultTokenExpiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Call is one request the fake received.
type Call struct {
	Method string
	Path   string
	Query  string
	// Bearer reports that the request carried a bearer token the fake issued.
	Bearer bool
	Header http.Header
	Body   []byte
}

// Server is the fake. Configure it with its methods before or between calls.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	password    string
	roles       []string
	tokens      map[string]bool
	tokenExpiry time.Time
	nodes       []api.Node
	version     api.VersionResponse
	join        *api.CreateJoinCommandResponse
	joinTokens  []api.JoinToken
	bundleName  string
	bundle      []byte
	bundleETag  string
	dropAfter   int64
	drops       int
	calls       []Call
	intercept   func(http.ResponseWriter, *http.Request) bool
}

// NewServer starts a fake on a loopback TLS listener, closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		password:    DefaultPassword,
		roles:       []string{"controller", "worker", "gpu"},
		tokens:      map[string]bool{},
		tokenExpiry: DefaultTokenExpiry,
		version:     api.VersionResponse{Version: "1.2.3", Commit: "abcdef0", BuildDate: "2026-01-15_12:00:00"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.HealthResponse{Status: "ok"})
	})
	mux.HandleFunc("GET "+api.PathVersion, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.version)
	})
	mux.HandleFunc("POST "+api.PathAuthToken, s.handleLogin)
	mux.HandleFunc("GET "+api.PathNodes, s.authed(s.handleNodes))
	mux.HandleFunc("POST "+api.PathCreateJoinCommand, s.authed(s.handleCreateJoinCommand))
	mux.HandleFunc("GET "+api.PathJoinBundle, s.authed(s.handleJoinBundle))
	mux.HandleFunc("GET "+api.PathJoinTokens, s.authed(s.handleJoinTokens))
	mux.HandleFunc("DELETE "+api.PathJoinTokens+"/{id}", s.authed(s.handleRevokeJoinToken))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint "+r.URL.Path)
	})
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		s.mu.Lock()
		intercept := s.intercept
		s.mu.Unlock()
		if intercept != nil && intercept(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	// Handshakes the client rejects on purpose are not news.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// Pin is the SPKI pin of the fake's certificate.
func (s *Server) Pin() string { return client.PinFromCert(s.Certificate()) }

// CAFile writes the fake's certificate (self-signed, so its own CA) to a
// PEM file in a test temp dir and returns the path.
func (s *Server) CAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write CA file: %v", err)
	}
	return path
}

// SetPassword changes the accepted password.
func (s *Server) SetPassword(p string) { s.mu.Lock(); s.password = p; s.mu.Unlock() }

// SetRoles sets the role names of the EC config.
func (s *Server) SetRoles(roles ...string) { s.mu.Lock(); s.roles = roles; s.mu.Unlock() }

// SetNodes replaces the node list.
func (s *Server) SetNodes(nodes ...api.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes = slices.Clone(nodes)
}

// SetVersion sets the /v1/version answer.
func (s *Server) SetVersion(v api.VersionResponse) { s.mu.Lock(); s.version = v; s.mu.Unlock() }

// SetJoinCommand fixes the create-join-command answer; by default the fake
// builds one from the request.
func (s *Server) SetJoinCommand(resp api.CreateJoinCommandResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.join = &resp
}

// SetJoinTokens sets the GET /v1/join-tokens list.
func (s *Server) SetJoinTokens(tokens ...api.JoinToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joinTokens = slices.Clone(tokens)
}

// SetBundle sets the bytes and file name GET /v1/join-bundle serves; it
// supports Range and If-Range like the real server.
func (s *Server) SetBundle(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bundleName, s.bundle = name, data
	s.bundleETag = fmt.Sprintf(`"%x-%s"`, len(data), randomHex(4))
}

// DropBundleDownloads makes the next n bundle downloads break the
// connection after afterBytes bytes of the body, to test resuming.
func (s *Server) DropBundleDownloads(n int, afterBytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops, s.dropAfter = n, afterBytes
}

// SetTokenExpiry sets the exp claim of tokens issued from now on.
func (s *Server) SetTokenExpiry(t time.Time) { s.mu.Lock(); s.tokenExpiry = t; s.mu.Unlock() }

// IssueToken returns a valid token without a login call.
func (s *Server) IssueToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked()
}

// RevokeTokens invalidates every token issued so far (as a password change does).
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// Intercept installs fn in front of every handler; when it returns true it
// has answered the request itself. Use it to inject failures.
func (s *Server) Intercept(fn func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intercept = fn
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount counts received requests with this method and path.
func (s *Server) CallCount(method, path string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method == method && c.Path == path {
			n++
		}
	}
	return n
}

// WriteError writes the API's error body.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{StatusCode: status, Message: msg})
}

func (s *Server) record(r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = readAll(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Bearer: s.tokens[bearer(r)], Header: r.Header.Clone(), Body: body,
	})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, "invalid JSON body: want {\"password\":\"…\"}")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Password != s.password {
		w.Header().Set("WWW-Authenticate", "Bearer")
		WriteError(w, http.StatusUnauthorized, "invalid password")
		return
	}
	writeJSON(w, http.StatusOK, api.TokenResponse{Token: s.issueLocked()})
}

func (s *Server) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ok := s.tokens[bearer(r)]
		s.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			WriteError(w, http.StatusUnauthorized, "missing or invalid bearer token: call POST /v1/auth/token first")
			return
		}
		next(w, r)
	}
}

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nodes := s.nodes
	if nodes == nil {
		nodes = []api.Node{}
	}
	writeJSON(w, http.StatusOK, api.NodesResponse{Nodes: nodes})
}

func (s *Server) handleCreateJoinCommand(w http.ResponseWriter, r *http.Request) {
	var req api.CreateJoinCommandRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg := s.checkRolesLocked(req.Roles); msg != "" {
		WriteError(w, http.StatusBadRequest, msg)
		return
	}
	if !s.readyControllerLocked() {
		WriteError(w, http.StatusConflict, "no Ready controller yet: poll GET /v1/nodes")
		return
	}
	if s.join != nil {
		writeJSON(w, http.StatusOK, s.join)
		return
	}
	file := "demo-join-" + strings.Join(req.Roles, "-") + "-20260115-120000.tar.gz"
	url := s.URL + api.PathJoinBundle + "?roles=" + strings.Join(req.Roles, ",")
	writeJSON(w, http.StatusOK, api.CreateJoinCommandResponse{
		JoinSteps: []api.JoinStep{
			{Description: "Download the join bundle", Command: fmt.Sprintf("curl -fsS -k --pinnedpubkey '%s' -H 'Authorization: Bearer join-token' '%s' -o %s", s.pinLocked(), url, file)},
			{Description: "Extract the bundle", Command: "tar xzf " + file},
			{Description: "Run the join command", Command: "sudo ./demo node join"},
		},
		TokenID:        "abc123",
		ExpiresAt:      "2026-01-15T13:00:00Z",
		Roles:          req.Roles,
		BundleFileName: file,
	})
}

func (s *Server) handleJoinBundle(w http.ResponseWriter, r *http.Request) {
	roles := strings.Split(r.URL.Query().Get("roles"), ",")
	s.mu.Lock()
	msg := s.checkRolesLocked(roles)
	ready := s.readyControllerLocked()
	name, data, etag := s.bundleName, s.bundle, s.bundleETag
	if s.drops > 0 {
		s.drops--
		w = &droppingWriter{ResponseWriter: w, left: s.dropAfter}
	}
	s.mu.Unlock()
	switch {
	case msg != "":
		WriteError(w, http.StatusBadRequest, msg)
	case !ready:
		WriteError(w, http.StatusConflict, "no Ready controller yet: poll GET /v1/nodes")
	case data == nil:
		WriteError(w, http.StatusInternalServerError, "fake: no bundle set")
	default:
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

// droppingWriter aborts the connection once left bytes of body are out.
type droppingWriter struct {
	http.ResponseWriter
	left int64
}

func (d *droppingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > d.left {
		n, _ := d.ResponseWriter.Write(p[:d.left])
		d.left -= int64(n)
		http.NewResponseController(d.ResponseWriter).Flush()
		panic(http.ErrAbortHandler) // net/http closes the connection mid-body
	}
	d.left -= int64(len(p))
	return d.ResponseWriter.Write(p)
}

func (s *Server) handleJoinTokens(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens := s.joinTokens
	if tokens == nil {
		tokens = []api.JoinToken{}
	}
	writeJSON(w, http.StatusOK, api.JoinTokensResponse{Tokens: tokens})
}

func (s *Server) handleRevokeJoinToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.joinTokens, func(t api.JoinToken) bool { return t.ID == id })
	if i < 0 {
		WriteError(w, http.StatusNotFound, "no join token "+id)
		return
	}
	s.joinTokens = slices.Delete(s.joinTokens, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) checkRolesLocked(roles []string) string {
	if len(roles) == 0 || slices.Contains(roles, "") {
		return "roles must name at least one role"
	}
	for _, r := range roles {
		if !slices.Contains(s.roles, r) {
			return fmt.Sprintf("unknown role %q: valid roles are %s", r, strings.Join(s.roles, ", "))
		}
	}
	return ""
}

func (s *Server) readyControllerLocked() bool {
	return slices.ContainsFunc(s.nodes, func(n api.Node) bool {
		return n.Ready && slices.Contains(n.Roles, "controller")
	})
}

func (s *Server) pinLocked() string { return client.PinFromCert(s.Certificate()) }

// issueLocked mints a JWT-shaped token with the configured exp. Only the
// fake checks it (by lookup), so the signature is random.
func (s *Server) issueLocked() string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"sub": "admin", "aud": "ecapi", "exp": s.tokenExpiry.Unix(), "jti": randomHex(8)})
	tok := header + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte(randomHex(16)))
	s.tokens[tok] = true
	return tok
}

func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readAll(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r.Body)
	r.Body = readCloser{bytes.NewReader(buf.Bytes())}
	return buf.Bytes(), err
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
