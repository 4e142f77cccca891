package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/bundle"
	"github.com/ecapi/ecapi/internal/ecconfig"
	"github.com/ecapi/ecapi/internal/join"
	"github.com/ecapi/ecapi/internal/server"
	"github.com/ecapi/ecapi/pkg/api"
)

// The fuzz targets drive the real server.Server handler in process
// (httptest.NewRecorder): the HTTP layer — routing, decodeJSON, bearer(),
// error mapping — is what they test. Token verification is the real
// auth.Tokens with a fixed test key; role validation is the real
// join.Service.ParseRoles over a real EC config.

const fuzzPassword = "S3cret-Installer-Pw"

var fuzzNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// fuzzKeys is a single fixed HS256 key.
type fuzzKeys struct{}

var fuzzKey = bytes.Repeat([]byte{0x5a}, 32)

func (fuzzKeys) Current() (string, []byte, error) { return "k1", fuzzKey, nil }
func (fuzzKeys) Lookup(kid string) ([]byte, bool) {
	if kid == "k1" {
		return fuzzKey, true
	}
	return nil, false
}

var fuzzTokens = &auth.Tokens{Keys: fuzzKeys{}, Now: func() time.Time { return fuzzNow }}

// tokenAuth logs in with one password and verifies with the real Tokens.
type tokenAuth struct{ issued string }

func (a *tokenAuth) Login(_ context.Context, _, password string) (string, time.Time, error) {
	if password != fuzzPassword {
		return "", time.Time{}, auth.ErrWrongPassword
	}
	return a.issued, fuzzNow.Add(auth.LoginTTL), nil
}

func (a *tokenAuth) VerifyLogin(raw string) (*auth.LoginClaims, error) {
	return fuzzTokens.VerifyLogin(raw)
}

// fuzzJoiner validates roles with the real join.Service and never reaches
// the cluster: a valid create-join-command request gets a canned answer, a
// valid bundle request with the right join token gets 409 (not Ready).
type fuzzJoiner struct {
	svc       *join.Service
	joinToken string
}

func (j *fuzzJoiner) CreateCommand(_ context.Context, req api.CreateJoinCommandRequest, _ string) (*api.CreateJoinCommandResponse, error) {
	roles, err := j.svc.ParseRoles(req.Roles)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name
	}
	return &api.CreateJoinCommandResponse{JoinSteps: []api.JoinStep{{Command: "true", Description: "test"}}, Roles: names}, nil
}

func (j *fuzzJoiner) Authorize(_ context.Context, raw string, roles []string, _ func(string) error, _ string) (*join.Grant, error) {
	if _, err := j.svc.ParseRoles(roles); err != nil {
		return nil, err
	}
	if raw != j.joinToken {
		return nil, &join.Error{Kind: join.Unauthorized, Message: "invalid join token"}
	}
	return nil, &join.Error{Kind: join.NotReady, Message: "no Ready controller yet"}
}

func (j *fuzzJoiner) Open(context.Context, *join.Grant) (*bundle.Bundle, string, error) {
	return nil, "", errors.New("fuzzJoiner.Open must not be reached")
}
func (j *fuzzJoiner) CountDownload(context.Context, *join.Grant) error { return nil }
func (j *fuzzJoiner) List(context.Context) ([]api.JoinToken, error)    { return nil, nil }
func (j *fuzzJoiner) Revoke(context.Context, string, string) error     { return nil }

const fuzzECConfig = `apiVersion: embeddedcluster.replicated.com/v1beta1
kind: Config
spec:
  roles:
    controller:
      name: controller
    custom:
      - name: app
      - name: db
      - name: web frontend
`

type fuzzEnv struct {
	srv        *server.Server
	config     *ecconfig.Config
	loginToken string
	joinToken  string
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	cfg, err := ecconfig.Parse([]byte(fuzzECConfig))
	if err != nil {
		f.Fatal(err)
	}
	login, _, err := fuzzTokens.IssueLogin("admin", "pwf")
	if err != nil {
		f.Fatal(err)
	}
	joinTok, _, err := fuzzTokens.IssueJoin("join", "abcdef", []string{"app"}, fuzzNow, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	nodeSrc := &fakeNodes{}
	nodeSrc.set(nil, errors.New("no nodes in fuzz tests"))
	srv := server.New(server.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth:   &tokenAuth{issued: login},
		Nodes:  nodeSrc,
		Build:  build.Info{Version: "3.0.0", Commit: "abcdef0", Date: "2026-01-15_12:00:00"},
	})
	srv.EnableJoins(&fuzzJoiner{svc: &join.Service{Roles: cfg}, joinToken: joinTok})
	return &fuzzEnv{srv: srv, config: cfg, loginToken: login, joinToken: joinTok}
}

// serve runs one request and checks what every response must keep: a
// status from allowed, and for non-2xx the exact JSON error body.
func (e *fuzzEnv) serve(t *testing.T, r *http.Request, allowed ...int) (*http.Response, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	resp := rec.Result()
	body := rec.Body.Bytes()
	if !slices.Contains(allowed, resp.StatusCode) {
		t.Fatalf("status %d not in %v; body %q", resp.StatusCode, allowed, body)
	}
	if resp.StatusCode >= 300 {
		checkErrorBody(t, resp, body)
	}
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge")
	}
	return resp, body
}

func post(path, contentType string, body []byte, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

// FuzzTokenBody posts arbitrary bodies and content types to /v1/auth/token.
func FuzzTokenBody(f *testing.F) {
	e := newFuzzEnv(f)
	// Seeds: testdata/fuzz/FuzzTokenBody (valid and near-valid bodies).
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		resp, out := e.serve(t, post(api.PathAuthToken, contentType, body),
			http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
		if resp.StatusCode != http.StatusOK {
			return
		}
		// Only the right password may log in.
		var req api.TokenRequest
		if err := json.Unmarshal(body, &req); err != nil || req.Password != fuzzPassword {
			t.Fatalf("200 for body %q", body)
		}
		var tok api.TokenResponse
		if err := json.Unmarshal(out, &tok); err != nil || tok.Token != e.loginToken {
			t.Fatalf("200 body %q: %v", out, err)
		}
	})
}

// FuzzCreateJoinCommandBody posts arbitrary bodies to /v1/create-join-command
// with a valid login token.
func FuzzCreateJoinCommandBody(f *testing.F) {
	e := newFuzzEnv(f)
	// Seeds: testdata/fuzz/FuzzCreateJoinCommandBody (valid and near-valid bodies).
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		resp, out := e.serve(t, post(api.PathCreateJoinCommand, contentType, body, "Authorization", "Bearer "+e.loginToken),
			http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
		if resp.StatusCode != http.StatusOK {
			return
		}
		var req api.CreateJoinCommandRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("200 for a body json.Unmarshal refuses: %q: %v", body, err)
		}
		checkKnownRoles(t, e.config, req.Roles)
		var got api.CreateJoinCommandResponse
		if err := json.Unmarshal(out, &got); err != nil || !slices.Equal(got.Roles, req.Roles) {
			t.Fatalf("200 body %q for roles %q: %v", out, req.Roles, err)
		}
	})
}

// checkKnownRoles asserts that roles passed validation for a reason: a
// non-empty list of distinct roles of the EC config.
func checkKnownRoles(t *testing.T, cfg *ecconfig.Config, roles []string) {
	t.Helper()
	if len(roles) == 0 {
		t.Fatalf("accepted an empty role list")
	}
	seen := map[string]bool{}
	for _, r := range roles {
		if _, ok := cfg.Lookup(r); !ok {
			t.Fatalf("accepted unknown role %q", r)
		}
		if seen[r] {
			t.Fatalf("accepted duplicate role %q", r)
		}
		seen[r] = true
	}
}

// FuzzJoinBundleRoles sends arbitrary raw query strings and bearer tokens to
// /v1/join-bundle: bad input is 400 or 401, never 500 or a panic.
func FuzzJoinBundleRoles(f *testing.F) {
	e := newFuzzEnv(f)
	// Seeds with the runtime's tokens; the others are in
	// testdata/fuzz/FuzzJoinBundleRoles.
	for _, s := range []struct{ query, token string }{
		{"roles=app", e.joinToken},
		{"roles=controller,app", e.joinToken},
		{"roles=web+frontend", e.joinToken},
		{"roles=", e.joinToken},
		{"roles=app&roles=db", e.joinToken},
		{"roles=app,app", e.joinToken},
		{"roles=app,,db", e.joinToken},
		{"roles=%2C", e.joinToken},
		{"roles=%00", e.joinToken},
		{"roles=nosuch", e.joinToken},
		{"", e.joinToken},
		{"roles=app", e.loginToken},
	} {
		f.Add(s.query, s.token)
	}
	f.Fuzz(func(t *testing.T, query, token string) {
		r := httptest.NewRequest(http.MethodGet, api.PathJoinBundle, nil)
		r.URL.RawQuery = query
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, _ := e.serve(t, r, http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict)
		if resp.StatusCode == http.StatusConflict {
			// Only a valid role list with the issued join token gets this far.
			values := r.URL.Query()["roles"]
			if len(values) != 1 {
				t.Fatalf("409 for query %q", query)
			}
			checkKnownRoles(t, e.config, strings.Split(values[0], ","))
			if strings.TrimSpace(token) != e.joinToken {
				t.Fatalf("409 (past authorization) for token %q", token)
			}
		}
	})
}

// FuzzAuthorizationHeader sends arbitrary Authorization headers to
// /v1/nodes: only a login token issued with the test key, sent once as a
// Bearer token, gets past authentication (here to a 503: the fuzz node
// source has no nodes); everything else is a 401 with the JSON error body.
func FuzzAuthorizationHeader(f *testing.F) {
	e := newFuzzEnv(f)
	// Seeds with the runtime's tokens; the others are in
	// testdata/fuzz/FuzzAuthorizationHeader.
	for _, h := range []string{
		"Bearer " + e.loginToken,
		"bearer " + e.loginToken,
		"Bearer  " + e.loginToken + " ",
		"Bearer " + e.loginToken + "x",
		"Bearer " + e.loginToken[:len(e.loginToken)-1],
		"Bearer " + strings.ToUpper(e.loginToken),
		"Bearer " + e.joinToken,
		"Token " + e.loginToken,
	} {
		f.Add(h, false)
	}
	f.Add("Bearer "+e.loginToken, true)
	f.Fuzz(func(t *testing.T, header string, twice bool) {
		r := httptest.NewRequest(http.MethodGet, api.PathNodes, nil)
		if header != "" {
			r.Header.Set("Authorization", header)
			if twice {
				r.Header.Add("Authorization", header)
			}
		}
		resp, _ := e.serve(t, r, http.StatusUnauthorized, http.StatusServiceUnavailable)
		if resp.StatusCode == http.StatusUnauthorized {
			return
		}
		scheme, token, _ := strings.Cut(header, " ")
		if twice || !strings.EqualFold(scheme, "Bearer") || !isLoginTokenOfTestKey(strings.TrimSpace(token)) {
			t.Fatalf("authenticated with Authorization %q (twice: %v)", header, twice)
		}
	})
}

// isLoginTokenOfTestKey checks, independently of the code under test,
// that token is a login token (audience auth.AudienceLogin) whose HS256
// signature is the test key's. That stands for "issued by the test key":
// each fuzz worker is its own process and issues its own login token (the
// jti is random), so seeds may carry another process's token.
func isLoginTokenOfTestKey(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	mac := hmac.New(sha256.New, fuzzKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if parts[2] != base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	switch aud := claims.Aud.(type) {
	case string:
		return aud == auth.AudienceLogin
	case []any:
		return len(aud) == 1 && aud[0] == auth.AudienceLogin
	}
	return false
}
