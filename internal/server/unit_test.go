package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/nodes"
	"github.com/ecapi/ecapi/internal/server"
	"github.com/ecapi/ecapi/pkg/api"
)

// Passwords and tokens the fake authenticator understands.
const (
	rightPassword = "S3cret-Installer-Pw"
	issuedToken   = "issued-token-MARKER-1234"
	goodToken     = "good-token-MARKER-5678"
)

// fakeAuth answers by password or token, so each case picks its outcome.
type fakeAuth struct {
	mu        sync.Mutex
	clients   []string
	passwords []string
	verified  []string
}

func (f *fakeAuth) Login(_ context.Context, client, password string) (string, time.Time, error) {
	f.mu.Lock()
	f.clients = append(f.clients, client)
	f.passwords = append(f.passwords, password)
	f.mu.Unlock()
	switch password {
	case rightPassword:
		return issuedToken, time.Now().Add(auth.LoginTTL), nil
	case "wrong":
		return "", time.Time{}, auth.ErrWrongPassword
	case "wrong-locks":
		return "", time.Time{}, errors.Join(auth.ErrWrongPassword, &auth.LockedOutError{RetryAfter: 15 * time.Minute})
	case "locked":
		return "", time.Time{}, &auth.LockedOutError{RetryAfter: 90 * time.Second}
	case "locked-short":
		return "", time.Time{}, &auth.LockedOutError{RetryAfter: 200 * time.Millisecond}
	case "busy":
		return "", time.Time{}, auth.ErrBusy
	case "no-secret":
		return "", time.Time{}, fmt.Errorf("%w: secret kotsadm/kotsadm-password not found", auth.ErrPasswordUnavailable)
	case "no-key":
		return "", time.Time{}, fmt.Errorf("sign token: %w", auth.ErrNoSigningKey)
	}
	return "", time.Time{}, errors.New("kaboom: internal detail")
}

func (f *fakeAuth) VerifyLogin(raw string) (*auth.LoginClaims, error) {
	f.mu.Lock()
	f.verified = append(f.verified, raw)
	f.mu.Unlock()
	switch raw {
	case goodToken:
		return &auth.LoginClaims{}, nil
	case "expired":
		return nil, &auth.TokenError{Reason: "token expired at 2026-01-15T12:00:00Z"}
	case "no-secret":
		return nil, fmt.Errorf("%w: secret not found", auth.ErrPasswordUnavailable)
	}
	return nil, errors.New("some internal failure")
}

func (f *fakeAuth) verifyCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.verified)
}

// fakeNodes serves a settable snapshot or error.
type fakeNodes struct {
	mu   sync.Mutex
	snap *nodes.Snapshot
	err  error
}

func (f *fakeNodes) Snapshot() (*nodes.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.err
}

func (f *fakeNodes) set(s *nodes.Snapshot, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap, f.err = s, err
}

func snapshot(t *testing.T, names ...string) *nodes.Snapshot {
	t.Helper()
	list := make([]*corev1.Node, len(names))
	for i, n := range names {
		list[i] = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{ecconfig.LabelControlPlane: ""}},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.0.%d", 11+i)}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			},
		}
	}
	s, err := nodes.Encode(list, ecconfig.Default())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syncBuffer collects log output from the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	ts      *httptest.Server
	client  *http.Client
	auth    *fakeAuth
	nodes   *fakeNodes
	logs    *syncBuffer
	metrics *server.Metrics
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{auth: &fakeAuth{}, nodes: &fakeNodes{}, logs: &syncBuffer{}, metrics: server.NewMetrics()}
	e.nodes.set(snapshot(t, "controller-0", "worker-1"), nil)
	srv := server.New(server.Config{
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.metrics,
		Auth:    e.auth,
		Nodes:   e.nodes,
		Build:   build.Info{Version: "3.0.0", Commit: "abcdef0", Date: "2026-01-15_12:00:00"},
	})
	srv.Handle("/v1/test-panic", map[string]http.HandlerFunc{
		http.MethodGet: func(http.ResponseWriter, *http.Request) { panic("test panic") },
	})
	e.ts = httptest.NewTLSServer(srv)
	t.Cleanup(e.ts.Close)
	tr := e.ts.Client().Transport.(*http.Transport).Clone()
	// The tests set Accept-Encoding themselves and read raw bodies.
	tr.DisableCompression = true
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return e
}

var errorBodyShape = regexp.MustCompile(`^\{"statusCode":[0-9]{3},"message":"(?:[^"\\]|\\.)+"\}$`)

// do sends a request and checks the invariants every response must keep:
// 4xx/5xx carry exactly {"statusCode":N,"message":"..."} as JSON, and 401s
// carry a Bearer challenge.
func (e *env) do(t *testing.T, method, path string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode >= 400 {
		if method == http.MethodHead {
			if len(got) != 0 {
				t.Errorf("HEAD response has a body")
			}
		} else {
			checkErrorBody(t, resp, got)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
				t.Errorf("401 WWW-Authenticate %q, want a Bearer challenge", h)
			}
		}
	}
	return resp, got
}

func checkErrorBody(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%d Content-Type %q, want application/json", resp.StatusCode, ct)
	}
	if !errorBodyShape.Match(body) {
		t.Errorf("%d body %q is not exactly {\"statusCode\":N,\"message\":\"...\"}", resp.StatusCode, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e api.Error
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%d body %q: %v", resp.StatusCode, body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Errorf("%d body %q has data after the object", resp.StatusCode, body)
	}
	if e.StatusCode != resp.StatusCode || e.Message == "" {
		t.Errorf("%d body %+v", resp.StatusCode, e)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for a %d-byte body", cl, len(body))
	}
}

func message(t *testing.T, body []byte) string {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return e.Message
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		method, path string
		status       int
		allow        string
		msg          string
	}{
		{"GET", "/nope", 404, "", "/nope"},
		{"GET", "/", 404, "", "no such endpoint"},
		{"GET", "/v1", 404, "", "no such endpoint"},
		{"GET", "/v1/", 404, "", "no such endpoint"},
		{"GET", "/v1/health/", 404, "", "no such endpoint"},
		{"GET", "/v1/healthz", 404, "", "no such endpoint"},
		{"POST", "/v2/nodes", 404, "", "no such endpoint"},
		{"POST", "/v1/health", 405, "GET, HEAD", "POST"},
		{"DELETE", "/v1/version", 405, "GET, HEAD", "DELETE"},
		{"GET", "/v1/auth/token", 405, "POST", "use POST"},
		{"PUT", "/v1/auth/token", 405, "POST", "use POST"},
		// A wrong method is answered before authentication.
		{"PUT", "/v1/nodes", 405, "GET, HEAD", "PUT"},
		{"OPTIONS", "/v1/nodes", 405, "GET, HEAD", "OPTIONS"},
		{"HEAD", "/v1/auth/token", 405, "POST", ""},
		{"GET", "/v1/health", 200, "", ""},
		{"GET", "/v1/health?probe=1", 200, "", ""},
		{"HEAD", "/v1/health", 200, "", ""},
		{"GET", "/v1/version", 200, "", ""},
		{"HEAD", "/v1/version", 200, "", ""},
		{"GET", "/v1/test-panic", 500, "", "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := e.do(t, tc.method, tc.path, nil, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if tc.msg != "" && !strings.Contains(message(t, body), tc.msg) {
				t.Errorf("message %q does not mention %q", message(t, body), tc.msg)
			}
		})
	}
}

func TestHealthAndVersion(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		method, path, want string
	}{
		{"GET", "/v1/health", `{"status":"ok"}`},
		{"HEAD", "/v1/health", ""},
		{"GET", "/v1/version", `{"version":"3.0.0","commit":"abcdef0","buildDate":"2026-01-15_12:00:00"}`},
		{"HEAD", "/v1/version", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := e.do(t, tc.method, tc.path, nil, "")
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, tc.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.method == http.MethodHead {
				// HEAD announces the GET body's length.
				_, getBody := e.do(t, "GET", tc.path, nil, "")
				if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(getBody)) {
					t.Errorf("HEAD Content-Length %q, want %d", cl, len(getBody))
				}
			}
		})
	}
	resp, _ := e.do(t, "GET", "/v1/health", nil, "")
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("health Cache-Control %q, want no-store", cc)
	}
}

func TestTokenEndpoint(t *testing.T) {
	const ct = "application/json"
	pw := func(p string) string { return `{"password":"` + p + `"}` }
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		retryAfter  string
		msg         string
	}{
		{"success", ct, pw(rightPassword), 200, "", ""},
		{"success with charset", "application/json; charset=utf-8", pw(rightPassword), 200, "", ""},
		{"success with trailing newline", ct, pw(rightPassword) + "\n", 200, "", ""},
		{"success with upper-case media type", "Application/JSON", pw(rightPassword), 200, "", ""},
		{"missing content type", "", pw(rightPassword), 415, "", "Content-Type"},
		{"text/plain", "text/plain", pw(rightPassword), 415, "", "text/plain"},
		{"form encoded", "application/x-www-form-urlencoded", "password=x", 415, "", "Content-Type"},
		{"json lookalike", "application/jsonx", pw(rightPassword), 415, "", "Content-Type"},
		{"malformed content type", "application/json; =", pw(rightPassword), 415, "", "Content-Type"},
		{"empty body", ct, "", 400, "", "empty"},
		{"malformed JSON", ct, `{"password":`, 400, "", "invalid JSON"},
		{"not JSON", ct, `password=x`, 400, "", "syntax error"},
		{"unknown field", ct, `{"password":"x","user":"admin"}`, 400, "", "unknown field"},
		{"trailing object", ct, pw(rightPassword) + `{}`, 400, "", "after the JSON object"},
		{"trailing garbage", ct, pw(rightPassword) + ` x`, 400, "", "after the JSON object"},
		{"wrong type", ct, `{"password":123}`, 400, "", "password"},
		{"array", ct, `[]`, 400, "", "invalid JSON"},
		{"empty password", ct, pw(""), 400, "", "password"},
		{"no password", ct, `{}`, 400, "", "password"},
		{"null", ct, `null`, 400, "", "password"},
		{"oversized body", ct, `{"password":"` + strings.Repeat("a", server.MaxBodyBytes+1) + `"}`, 413, "", "larger than"},
		{"wrong password", ct, pw("wrong"), 401, "", "wrong password"},
		{"wrong password that locks", ct, pw("wrong-locks"), 401, "", "wrong password"},
		{"locked out", ct, pw("locked"), 429, "90", "try again in 1m30s"},
		{"locked out under a second", ct, pw("locked-short"), 429, "1", "too many failed logins"},
		{"bcrypt pool busy", ct, pw("busy"), 503, "2", "too many logins"},
		{"password secret unreadable", ct, pw("no-secret"), 503, "5", "unavailable"},
		{"signing key unreadable", ct, pw("no-key"), 503, "5", "unavailable"},
		{"internal error", ct, pw("other"), 500, "", "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := http.Header{}
			if tc.contentType != "" {
				h.Set("Content-Type", tc.contentType)
			}
			resp, body := e.do(t, "POST", api.PathAuthToken, h, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if tc.status != 200 {
				if m := message(t, body); !strings.Contains(m, tc.msg) {
					t.Errorf("message %q does not mention %q", m, tc.msg)
				} else if strings.Contains(m, "kaboom") {
					t.Errorf("message leaks an internal error: %q", m)
				}
				return
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			var tr api.TokenResponse
			if err := dec.Decode(&tr); err != nil || tr.Token != issuedToken {
				t.Errorf("body %q (%v), want the issued token", body, err)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if ctype := resp.Header.Get("Content-Type"); ctype != "application/json" {
				t.Errorf("Content-Type %q", ctype)
			}
			e.auth.mu.Lock()
			defer e.auth.mu.Unlock()
			if len(e.auth.clients) != 1 || e.auth.clients[0] != "127.0.0.1" || e.auth.passwords[0] != rightPassword {
				t.Errorf("Login called with clients %q", e.auth.clients)
			}
		})
	}
}

func TestTokenEndpointRejectsBeforeLogin(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{`{"password":""}`, `{"password":"x","extra":1}`, `nope`} {
		e.do(t, "POST", api.PathAuthToken, hdr("Content-Type", "application/json"), body)
	}
	e.do(t, "POST", api.PathAuthToken, hdr("Content-Type", "text/plain"), `{"password":"x"}`)
	e.auth.mu.Lock()
	defer e.auth.mu.Unlock()
	if len(e.auth.passwords) != 0 {
		t.Errorf("Login called for invalid requests: %d times", len(e.auth.passwords))
	}
}

func TestAuthorizationHeader(t *testing.T) {
	huge := strings.Repeat("t", server.MaxTokenBytes+1)
	limit := strings.Repeat("t", server.MaxTokenBytes)
	cases := []struct {
		name       string
		values     []string
		status     int
		msg        string
		wantVerify bool
	}{
		{"missing", nil, 401, "missing bearer token", false},
		{"two headers", []string{"Bearer " + goodToken, "Bearer " + goodToken}, 401, "more than one", false},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, 401, "unsupported authorization scheme", false},
		{"token scheme", []string{"Token " + goodToken}, 401, "unsupported authorization scheme", false},
		{"no space", []string{"Bearer" + goodToken}, 401, "unsupported authorization scheme", false},
		{"bare token", []string{goodToken}, 401, "unsupported authorization scheme", false},
		{"Bearer and a space", []string{"Bearer "}, 401, "empty bearer token", false},
		{"Bearer alone", []string{"Bearer"}, 401, "empty bearer token", false},
		{"Bearer and spaces", []string{"Bearer    "}, 401, "empty bearer token", false},
		{"empty header", []string{""}, 401, "unsupported authorization scheme", false},
		{"too large", []string{"Bearer " + huge}, 401, "too large", false},
		{"at the size limit", []string{"Bearer " + limit}, 401, "invalid token", true},
		{"lower-case bearer", []string{"bearer " + goodToken}, 200, "", true},
		{"upper-case bearer", []string{"BEARER " + goodToken}, 200, "", true},
		{"extra spaces", []string{"Bearer   " + goodToken}, 200, "", true},
		{"token error reason", []string{"Bearer expired"}, 401, "token expired at 2026-01-15T12:00:00Z: call POST /v1/auth/token", true},
		{"password secret unreadable", []string{"Bearer no-secret"}, 503, "password secret", true},
		{"unclassified failure", []string{"Bearer other"}, 401, "invalid token", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			resp, body := e.do(t, "GET", api.PathNodes, http.Header{"Authorization": tc.values}, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			if tc.msg != "" && !strings.Contains(message(t, body), tc.msg) {
				t.Errorf("message %q does not mention %q", message(t, body), tc.msg)
			}
			if called := e.auth.verifyCalls() > 0; called != tc.wantVerify {
				t.Errorf("VerifyLogin called=%v, want %v", called, tc.wantVerify)
			}
			if strings.Contains(string(body), goodToken) {
				t.Error("response echoes the token")
			}
		})
	}
}

func TestNodesUnavailable(t *testing.T) {
	e := newEnv(t)
	e.nodes.set(nil, errors.New("informer not synced"))
	resp, body := e.do(t, "GET", api.PathNodes, hdr("Authorization", "Bearer "+goodToken), "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (body %s)", resp.StatusCode, body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2", ra)
	}
	if m := message(t, body); !strings.Contains(m, "informer not synced") {
		t.Errorf("message %q does not say why", m)
	}
}

func TestNodesEncoding(t *testing.T) {
	cases := []struct {
		acceptEncoding string
		gzip           bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"gzip, deflate, br", true},
		{"deflate, gzip", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0.5", true},
		{"gzip; q=1", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=nope", false},
		{"br", false},
		{"identity", false},
		{"x-gzip", false},
		{"deflate, gzip;q=0", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.acceptEncoding), func(t *testing.T) {
			e := newEnv(t)
			snap, _ := e.nodes.Snapshot()
			h := hdr("Authorization", "Bearer "+goodToken)
			if tc.acceptEncoding != "" {
				h.Set("Accept-Encoding", tc.acceptEncoding)
			}
			resp, body := e.do(t, "GET", api.PathNodes, h, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d (body %s)", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if v := resp.Header.Values("Vary"); !containsToken(v, "Accept-Encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", v)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %q for %d bytes", cl, len(body))
			}
			if !tc.gzip {
				if ce := resp.Header.Get("Content-Encoding"); ce != "" {
					t.Errorf("Content-Encoding %q, want none", ce)
				}
				if !bytes.Equal(body, snap.JSON) || resp.Header.Get("ETag") != snap.ETag {
					t.Errorf("plain body/ETag differ from the snapshot: ETag %q", resp.Header.Get("ETag"))
				}
				return
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", ce)
			}
			if !bytes.Equal(body, snap.Gzip) || resp.Header.Get("ETag") != snap.ETagGzip {
				t.Errorf("gzip body/ETag differ from the snapshot: ETag %q", resp.Header.Get("ETag"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(plain, snap.JSON) {
				t.Errorf("gunzipped body differs from the JSON (%v)", err)
			}
		})
	}
}

func containsToken(values []string, token string) bool {
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), token) {
				return true
			}
		}
	}
	return false
}

func TestNodesBody(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, "GET", api.PathNodes, hdr("Authorization", "Bearer "+goodToken), "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var nr api.NodesResponse
	if err := dec.Decode(&nr); err != nil {
		t.Fatal(err)
	}
	if len(nr.Nodes) != 2 || nr.Nodes[0].Name != "controller-0" || !nr.Nodes[0].Ready ||
		nr.Nodes[0].InternalIP != "10.0.0.11" || len(nr.Nodes[0].Roles) != 1 || nr.Nodes[0].Roles[0] != "controller" {
		t.Errorf("nodes %+v", nr.Nodes)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}

	// HEAD: same headers, no body.
	head, hbody := e.do(t, "HEAD", api.PathNodes, hdr("Authorization", "Bearer "+goodToken, "Accept-Encoding", ""), "")
	if head.StatusCode != 200 || len(hbody) != 0 || head.Header.Get("ETag") != resp.Header.Get("ETag") {
		t.Errorf("HEAD: %d, %d bytes, ETag %q", head.StatusCode, len(hbody), head.Header.Get("ETag"))
	}

	// A new snapshot means a new ETag; the old one no longer matches.
	oldTag := resp.Header.Get("ETag")
	e.nodes.set(snapshot(t, "controller-0", "worker-1", "worker-2"), nil)
	resp, body = e.do(t, "GET", api.PathNodes, hdr("Authorization", "Bearer "+goodToken, "If-None-Match", oldTag), "")
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == oldTag {
		t.Errorf("after a change: %d with ETag %q (old %q)", resp.StatusCode, resp.Header.Get("ETag"), oldTag)
	}
	snap, _ := e.nodes.Snapshot()
	if !bytes.Equal(body, snap.JSON) {
		t.Error("body is not the new snapshot")
	}
}

func TestNodesConditional(t *testing.T) {
	snapTags := snapshot(t, "controller-0", "worker-1")
	plain, gz := snapTags.ETag, snapTags.ETagGzip
	cases := []struct {
		name           string
		acceptEncoding string
		ifNoneMatch    string
		status         int
		gzip           bool
	}{
		{"plain tag", "", plain, 304, false},
		{"gzip tag", "gzip", gz, 304, true},
		{"weak plain tag", "", "W/" + plain, 304, false},
		{"weak gzip tag", "gzip", "W/" + gz, 304, true},
		{"tag in a list", "", `"stale", ` + plain, 304, false},
		{"star", "", "*", 304, false},
		{"gzip tag on a plain request", "", gz, 200, false},
		{"plain tag on a gzip request", "gzip", plain, 200, true},
		{"stale tag", "", `"stale"`, 200, false},
		{"unquoted tag", "", strings.Trim(plain, `"`), 200, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			snap, _ := e.nodes.Snapshot()
			h := hdr("Authorization", "Bearer "+goodToken, "If-None-Match", tc.ifNoneMatch, "Accept-Encoding", tc.acceptEncoding)
			resp, body := e.do(t, "GET", api.PathNodes, h, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			wantTag := snap.ETag
			if tc.gzip {
				wantTag = snap.ETagGzip
			}
			if got := resp.Header.Get("ETag"); got != wantTag {
				t.Errorf("ETag %q, want %q", got, wantTag)
			}
			if !containsToken(resp.Header.Values("Vary"), "Accept-Encoding") {
				t.Error("no Vary: Accept-Encoding")
			}
			if tc.status == 304 {
				if len(body) != 0 {
					t.Errorf("304 with a %d-byte body", len(body))
				}
				if ce := resp.Header.Get("Content-Encoding"); ce != "" {
					t.Errorf("304 with Content-Encoding %q", ce)
				}
				return
			}
			want := snap.JSON
			if tc.gzip {
				want = snap.Gzip
			}
			if !bytes.Equal(body, want) {
				t.Error("200 body is not the snapshot variant")
			}
		})
	}
}

func TestNodesRequiresLogin(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, "GET", api.PathNodes, nil, "")
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	snap, _ := e.nodes.Snapshot()
	if bytes.Contains(body, []byte("controller-0")) || bytes.Equal(body, snap.JSON) {
		t.Error("node list served without a token")
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	const basicSecret = "QmFzaWMtU0VDUkVULW1hcmtlcg"
	ct := hdr("Content-Type", "application/json")
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"`+rightPassword+`"}`)
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"wrong"}`)
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"`+rightPassword+`","x":1}`)
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"`+rightPassword+`"`)
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"other"}`) // logs the internal error
	e.do(t, "GET", api.PathNodes, hdr("Authorization", "Bearer "+goodToken), "")
	e.do(t, "GET", api.PathNodes, hdr("Authorization", "Bearer "+goodToken+"-tampered"), "")
	e.do(t, "GET", api.PathNodes, hdr("Authorization", "Basic "+basicSecret), "")
	e.do(t, "GET", "/nope?token="+goodToken, hdr("Authorization", "Bearer "+goodToken), "")

	logs := e.logs.String()
	for _, secret := range []string{rightPassword, goodToken, issuedToken, basicSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains the secret %q:\n%s", secret, logs)
		}
	}
	// The log is there and useful, so the check above means something.
	var access, audit int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec["log"] {
		case "access":
			access++
			for _, k := range []string{"method", "route", "status", "client"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("access record lacks %q: %s", k, line)
				}
			}
		case "audit":
			audit++
		}
	}
	if access != 9 {
		t.Errorf("%d access records, want 9:\n%s", access, logs)
	}
	if audit < 2 {
		t.Errorf("%d audit records, want the login success and failure:\n%s", audit, logs)
	}
	if !strings.Contains(logs, `"route":"other"`) || !strings.Contains(logs, `"route":"/v1/nodes"`) {
		t.Errorf("routes missing from the access log:\n%s", logs)
	}
}

func scrape(t *testing.T, m *server.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetricsLabelsAreBounded(t *testing.T) {
	e := newEnv(t)
	ct := hdr("Content-Type", "application/json")
	for i := 0; i < 3; i++ {
		e.do(t, "GET", fmt.Sprintf("/random-%d", i), nil, "")
		e.do(t, fmt.Sprintf("METHOD%d", i), api.PathHealth, nil, "")
	}
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"wrong"}`)
	e.do(t, "POST", api.PathAuthToken, ct, `{"password":"locked"}`)
	e.do(t, "GET", api.PathNodes, hdr("Authorization", "Bearer "+goodToken), "")

	out := scrape(t, e.metrics)
	for _, want := range []string{
		`ecapi_http_requests_total{code="404",method="GET",route="other"} 3`,
		`ecapi_http_requests_total{code="405",method="other",route="/v1/health"} 3`,
		`ecapi_http_requests_total{code="200",method="GET",route="/v1/nodes"} 1`,
		`ecapi_login_failures_total 1`,
		`ecapi_login_lockouts_total 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, leak := range []string{"random-", "METHOD"} {
		if strings.Contains(out, leak) {
			t.Errorf("client-chosen %q became a label value", leak)
		}
	}
}
