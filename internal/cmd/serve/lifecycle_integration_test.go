package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/internal/tlsutil"
	"github.com/ecapi/ecapi/pkg/api"
)

// The join lifecycle beyond the documented API: resumable downloads, use
// limits shared by controllers, one message per token problem, the parallel
// controller-join warning, address checks and IPv6.

const controllerBundle = "/v1/join-bundle?roles=controller"

func (d *testDaemon) mustCreateJoin(t *testing.T, token, body string) api.CreateJoinCommandResponse {
	t.Helper()
	r, resp := d.createJoin(t, token, body)
	if r.Status != http.StatusOK {
		t.Fatalf("create-join-command %s: %d %s", body, r.Status, r.Body)
	}
	return resp
}

// try is do for other goroutines: it reports failures instead of ending the test.
func (d *testDaemon) try(path, token string) (response, error) {
	req, err := http.NewRequest("GET", d.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := d.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// listedToken returns GET /v1/join-tokens' entry for id.
func (d *testDaemon) listedToken(t *testing.T, login, id string) api.JoinToken {
	t.Helper()
	r := d.do(t, "GET", api.PathJoinTokens, login, "")
	if r.Status != http.StatusOK {
		t.Fatalf("list join tokens: %d %s", r.Status, r.Body)
	}
	var list api.JoinTokensResponse
	mustDecode(t, r.Body, &list)
	for _, jt := range list.Tokens {
		if jt.ID == id {
			return jt
		}
	}
	t.Fatalf("join token %s not listed: %s", id, r.Body)
	return api.JoinToken{}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for this test: install it (curl, tar and coreutils packages)", tool)
		}
	}
}

// run runs a program in dir and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// extractAndVerify runs the join command's extract step in dir, then
// sha256sum -c over the extracted files.
func extractAndVerify(t *testing.T, dir string, resp api.CreateJoinCommandResponse) {
	t.Helper()
	run(t, dir, "sh", "-c", resp.JoinSteps[1].Command)
	if out := run(t, dir, "sha256sum", "-c", "SHA256SUMS"); strings.Contains(out, "FAILED") || !strings.Contains(out, "k0s-join-token: OK") {
		t.Fatalf("sha256sum -c SHA256SUMS:\n%s", out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeWithCurl cuts a download after 100000 bytes and lets curl -C -
// finish it: the file is the bundle byte for byte and verifies.
func TestResumeWithCurl(t *testing.T) {
	needTools(t, "curl", "tar", "sha256sum")
	d := startDaemon(t, env)
	login := d.login(t, password)
	resp := d.mustCreateJoin(t, login, `{"roles":["controller"]}`)
	jt := joinToken(t, resp)
	full := d.do(t, "GET", controllerBundle, jt, "")
	if full.Status != http.StatusOK || len(full.Body) <= 100000 {
		t.Fatalf("reference download: %d, %d bytes (need more than 100000 to cut)", full.Status, len(full.Body))
	}

	dir := t.TempDir()
	curl := []string{"-fsS", "-k", "--pinnedpubkey", resp.Pin, "-H", "Authorization: Bearer " + jt}
	run(t, dir, "curl", append(curl, "-r", "0-99999", "-o", resp.BundleFileName, resp.BundleURL)...)
	if n := len(readFile(t, filepath.Join(dir, resp.BundleFileName))); n != 100000 {
		t.Fatalf("cut download has %d bytes, want 100000", n)
	}
	run(t, dir, "curl", append(curl, "-C", "-", "-o", resp.BundleFileName, resp.BundleURL)...)
	got := readFile(t, filepath.Join(dir, resp.BundleFileName))
	if !bytes.Equal(got, full.Body) {
		t.Fatalf("resumed file (%d bytes, sha256 %s) differs from the bundle (%d bytes, sha256 %s)", len(got), sha256Hex(got), len(full.Body), sha256Hex(full.Body))
	}
	extractAndVerify(t, dir, resp)

	// Unlimited tokens count their downloads too: the reference, the cut
	// one and curl's resume (it sends no If-Range).
	if jt := d.listedToken(t, login, resp.TokenID); jt.Uses != 3 || jt.MaxUses != 0 {
		t.Errorf("listed uses = %d, maxUses = %d; want 3 and unlimited", jt.Uses, jt.MaxUses)
	}
}

func TestResumeRangeRequests(t *testing.T) {
	d := startDaemon(t, env)
	resp := d.mustCreateJoin(t, d.login(t, password), `{"roles":["controller"]}`)
	jt := joinToken(t, resp)
	full := d.do(t, "GET", controllerBundle, jt, "")
	if full.Status != http.StatusOK || full.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("full download: %d %v", full.Status, full.Header)
	}
	etag := full.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q is not a strong validator", etag)
	}

	part := d.do(t, "GET", controllerBundle, jt, "", "Range: bytes=0-99")
	if part.Status != http.StatusPartialContent || len(part.Body) != 100 || !bytes.Equal(part.Body, full.Body[:100]) {
		t.Fatalf("Range bytes=0-99: %d with %d bytes", part.Status, len(part.Body))
	}
	if cr, want := part.Header.Get("Content-Range"), fmt.Sprintf("bytes 0-99/%d", len(full.Body)); cr != want || part.Header.Get("ETag") != etag {
		t.Errorf("Content-Range = %q (want %q), ETag = %q (want %q)", cr, want, part.Header.Get("ETag"), etag)
	}
	tail := d.do(t, "GET", controllerBundle, jt, "", "Range: bytes=100-", "If-Range: "+etag)
	if tail.Status != http.StatusPartialContent || !bytes.Equal(append(part.Body, tail.Body...), full.Body) {
		t.Fatalf("resume from byte 100: %d with %d bytes", tail.Status, len(tail.Body))
	}
	// A stale If-Range gets the whole (current) bundle instead.
	if r := d.do(t, "GET", controllerBundle, jt, "", "Range: bytes=100-", `If-Range: "stale"`); r.Status != http.StatusOK || !bytes.Equal(r.Body, full.Body) {
		t.Fatalf("stale If-Range: %d with %d bytes", r.Status, len(r.Body))
	}
	wantError(t, d.do(t, "GET", controllerBundle, jt, "", fmt.Sprintf("Range: bytes=%d-", len(full.Body))), http.StatusRequestedRangeNotSatisfiable, "range")
}

func TestMaxUsesAcrossControllers(t *testing.T) {
	a, b := startDaemon(t, env), startDaemon(t, env)
	login := a.login(t, password)
	wantError(t, a.do(t, "POST", api.PathCreateJoinCommand, login, `{"roles":["controller"],"maxUses":-1}`, jsonCT), 400, "maxUses")
	wantError(t, a.do(t, "POST", api.PathCreateJoinCommand, login, `{"roles":["controller"],"maxUses":"one"}`, jsonCT), 400, "maxUses")

	resp := a.mustCreateJoin(t, login, `{"roles":["controller"],"maxUses":1}`)
	if jt := a.listedToken(t, login, resp.TokenID); jt.MaxUses != 1 || jt.Uses != 0 {
		t.Fatalf("new single-use token listed as %+v", jt)
	}
	jt := joinToken(t, resp)
	if r := a.do(t, "GET", controllerBundle, jt, ""); r.Status != http.StatusOK {
		t.Fatalf("the one download: %d %s", r.Status, r.Body)
	}
	wantError(t, b.do(t, "GET", controllerBundle, jt, ""), 401, "uses exhausted")
	wantError(t, a.do(t, "GET", controllerBundle, jt, ""), 401, "uses exhausted")
	if r := a.do(t, "HEAD", controllerBundle, jt, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("HEAD after the last use: %d", r.Status)
	}
	if jt := b.listedToken(t, login, resp.TokenID); jt.MaxUses != 1 || jt.Uses != 1 {
		t.Errorf("used single-use token listed as %+v", jt)
	}
}

// TestMaxUsesResumeIsFree: resuming a counted download (Range past byte 0
// with If-Range: <ETag>) costs no use; every other request does.
func TestMaxUsesResumeIsFree(t *testing.T) {
	needTools(t, "curl", "tar", "sha256sum")
	d := startDaemon(t, env)
	login := d.login(t, password)
	resp := d.mustCreateJoin(t, login, `{"roles":["controller"],"maxUses":1}`)
	jt := joinToken(t, resp)

	head := d.do(t, "GET", controllerBundle, jt, "", "Range: bytes=0-99999")
	if head.Status != http.StatusPartialContent || len(head.Body) != 100000 {
		t.Fatalf("first part: %d with %d bytes", head.Status, len(head.Body))
	}
	etag := head.Header.Get("ETag")
	for _, start := range []int{100000, 1, 500} {
		r := d.do(t, "GET", controllerBundle, jt, "", fmt.Sprintf("Range: bytes=%d-", start), "If-Range: "+etag)
		if r.Status != http.StatusPartialContent {
			t.Fatalf("resume from %d: %d %s", start, r.Status, r.Body)
		}
	}
	for name, headers := range map[string][]string{
		"plain GET":         nil,
		"range from 0":      {"Range: bytes=0-99", "If-Range: " + etag},
		"range, no IfRange": {"Range: bytes=100000-"},
		"other ETag":        {"Range: bytes=100000-", `If-Range: "0123"`},
		"several ranges":    {"Range: bytes=100-199,0-99", "If-Range: " + etag},
		"suffix range":      {"Range: bytes=-100", "If-Range: " + etag},
	} {
		r := d.do(t, "GET", controllerBundle, jt, "", headers...)
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "uses exhausted") {
			t.Errorf("%s after the last use: %d %s", name, r.Status, r.Body)
		}
	}

	// The documented curl resume for limited tokens: -C - plus If-Range.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, resp.BundleFileName), head.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "curl", "-fsS", "-k", "--pinnedpubkey", resp.Pin, "-H", "Authorization: Bearer "+jt,
		"-C", "-", "-H", "If-Range: "+etag, "-o", resp.BundleFileName, resp.BundleURL)
	extractAndVerify(t, dir, resp)
	if lt := d.listedToken(t, login, resp.TokenID); lt.Uses != 1 {
		t.Errorf("uses = %d after one download and its resumptions, want 1", lt.Uses)
	}
}

// TestMaxUsesRace sends concurrent downloads for the last uses of a token
// to two controllers: the bootstrap Secret's resourceVersion lets exactly as
// many through as there are uses left.
func TestMaxUsesRace(t *testing.T) {
	a, b := startDaemon(t, env), startDaemon(t, env)
	daemons := []*testDaemon{a, b}
	login := a.login(t, password)
	for _, tc := range []struct{ maxUses, before, racers int }{
		{2, 1, 2}, {2, 1, 2}, {2, 1, 2}, // two racing for the last use
		{3, 0, 6},
	} {
		resp := a.mustCreateJoin(t, login, fmt.Sprintf(`{"roles":["controller"],"maxUses":%d}`, tc.maxUses))
		jt := joinToken(t, resp)
		for range tc.before {
			if r := a.do(t, "GET", controllerBundle, jt, ""); r.Status != http.StatusOK {
				t.Fatalf("download before the race: %d %s", r.Status, r.Body)
			}
		}
		results := make([]response, tc.racers)
		errs := make([]error, tc.racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range tc.racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = daemons[i%2].try(controllerBundle, jt)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i, r := range results {
			switch {
			case errs[i] != nil:
				t.Fatalf("racer %d: %v", i, errs[i])
			case r.Status == http.StatusOK:
				won++
			case r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "uses exhausted"):
				t.Errorf("racer %d: %d %s", i, r.Status, r.Body)
			}
		}
		if left := tc.maxUses - tc.before; won != left {
			t.Errorf("maxUses %d, %d used before, %d racers: %d downloads succeeded, want %d", tc.maxUses, tc.before, tc.racers, won, left)
		}
		if lt := a.listedToken(t, login, resp.TokenID); lt.Uses != tc.maxUses {
			t.Errorf("uses = %d after the race, want %d", lt.Uses, tc.maxUses)
		}
	}
}

func TestLifecycleTTLBounds(t *testing.T) {
	d := startDaemon(t, env)
	login := d.login(t, password)
	for _, ttl := range []string{"4m59s", "1m", "24h0m1s", "48h", "-5m", "0s", "soon"} {
		wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, login, `{"roles":["controller"],"ttl":"`+ttl+`"}`, jsonCT), 400, "ttl")
	}
	for ttl, want := range map[string]time.Duration{"5m": 5 * time.Minute, "90m": 90 * time.Minute, "24h": 24 * time.Hour, "": time.Hour} {
		body := `{"roles":["database"]}`
		if ttl != "" {
			body = `{"roles":["database"],"ttl":"` + ttl + `"}`
		}
		resp := d.mustCreateJoin(t, login, body)
		// The file name carries the issue time to the second.
		stamp := strings.TrimSuffix(strings.TrimPrefix(resp.BundleFileName, "demo-join-database-"), ".tar.gz")
		issued, err := time.Parse("20060102-150405", stamp)
		if err != nil {
			t.Fatalf("bundle file name %q: %v", resp.BundleFileName, err)
		}
		expires, err := time.Parse(time.RFC3339, resp.ExpiresAt)
		if err != nil || expires.Sub(issued) != want {
			t.Errorf("ttl %q: expiresAt %s is %s after issue, want %s", ttl, resp.ExpiresAt, expires.Sub(issued), want)
		}
		var claims auth.JoinClaims
		if _, _, err := jwt.NewParser().ParseUnverified(joinToken(t, resp), &claims); err != nil {
			t.Fatal(err)
		}
		if got := claims.ExpiresAt.Sub(claims.IssuedAt.Time); got != want {
			t.Errorf("ttl %q: the join token lives %s, want %s", ttl, got, want)
		}
		if lt := d.listedToken(t, login, resp.TokenID); lt.ExpiresAt != resp.ExpiresAt {
			t.Errorf("ttl %q: bootstrap token expires %s, join token %s", ttl, lt.ExpiresAt, resp.ExpiresAt)
		}
	}
}

// TestLifecycleTokenErrors gives each reason a join token is refused its
// own message.
func TestLifecycleTokenErrors(t *testing.T) {
	d := startDaemon(t, env)
	login := d.login(t, password)
	ctx := t.Context()
	newToken := func(body string) api.CreateJoinCommandResponse { return d.mustCreateJoin(t, login, body) }
	messages := map[string]string{}
	check := func(cause, path, token string, status int, want string) {
		t.Helper()
		r := d.do(t, "GET", path, token, "")
		wantError(t, r, status, want)
		var e api.Error
		mustDecode(t, r.Body, &e)
		for other, msg := range messages {
			if msg == e.Message {
				t.Errorf("%s and %s share the message %q", cause, other, msg)
			}
		}
		messages[cause] = e.Message
	}
	ring, err := auth.NewKeyRing(ctx, env.Client, "embedded-cluster")
	if err != nil {
		t.Fatal(err)
	}
	signed := func(claims jwt.Claims) string {
		kid, key, err := ring.Current()
		if err != nil {
			t.Fatal(err)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["kid"] = kid
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	check("malformed", controllerBundle, "garbage", 401, "malformed token")

	resp := newToken(`{"roles":["controller"]}`)
	jt := joinToken(t, resp)
	parts := strings.Split(jt, ".")
	sig := []byte(parts[2])
	if i := len(sig) / 2; sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	check("bad signature", controllerBundle, parts[0]+"."+parts[1]+"."+string(sig), 401, "bad token signature")

	// A join token past its exp, signed with the cluster's real key.
	old := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	expiredJWT, exp, err := (&auth.Tokens{Keys: ring}).IssueJoin("join", resp.TokenID, []string{"controller"}, old, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	check("token expired", controllerBundle, expiredJWT, 401, "token expired at "+exp.UTC().Format(time.RFC3339))

	// The bootstrap token expired (the kube-apiserver ignores it from now on).
	gone := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	setExpiration(t, resp.TokenID, gone)
	check("bootstrap token expired", controllerBundle, jt, 401, "join token expired at "+gone.Format(time.RFC3339))

	revoked := newToken(`{"roles":["controller"]}`)
	if r := d.do(t, "DELETE", api.PathJoinTokens+"/"+revoked.TokenID, login, ""); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	check("revoked", controllerBundle, joinToken(t, revoked), 401, "join token revoked")

	single := newToken(`{"roles":["controller"],"maxUses":1}`)
	if r := d.do(t, "GET", controllerBundle, joinToken(t, single), ""); r.Status != http.StatusOK {
		t.Fatalf("single use: %d %s", r.Status, r.Body)
	}
	check("uses exhausted", controllerBundle, joinToken(t, single), 401, "join token uses exhausted")

	now := time.Now()
	check("not a join token", controllerBundle, signed(&auth.JoinClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: auth.Issuer, Subject: "join", Audience: jwt.ClaimStrings{"metrics"}, ID: single.TokenID,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Roles: []string{"controller"},
	}), 401, "not a join token")

	fresh := joinToken(t, newToken(`{"roles":["controller"]}`))
	check("wrong audience", api.PathNodes, fresh, 401, "wrong token audience")
	check("roles differ", "/v1/join-bundle?roles=database", fresh, 403, "roles")
}

// setExpiration rewrites a bootstrap token's expiration, as if time passed.
func setExpiration(t *testing.T, id string, at time.Time) {
	t.Helper()
	ctx, cancel := testenv.Ctx()
	defer cancel()
	secrets := env.Client.CoreV1().Secrets("kube-system")
	s, err := secrets.Get(ctx, "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data["expiration"] = []byte(at.Format(time.RFC3339))
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestWarningParallelControllerJoins: a second controller join command
// warns while the first is unused, until it is used or deleted, a new
// controller appears, or the caller allows parallel joins.
func TestWarningParallelControllerJoins(t *testing.T) {
	ctx, cancel := testenv.Ctx()
	defer cancel()
	// Earlier tests leave unused controller tokens behind: start clean.
	if err := env.Client.CoreV1().Secrets("kube-system").DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=ecapi"}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, env)
	login := d.login(t, password)
	create := func(body string) api.CreateJoinCommandResponse { t.Helper(); return d.mustCreateJoin(t, login, body) }
	warningFor := func(id string) string {
		t.Helper()
		s, err := env.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+id, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("another controller join token (%s, created %s) has not been used yet: joining controllers in parallel risks etcd membership errors; join one controller at a time or pass allowParallel",
			id, s.CreationTimestamp.UTC().Format(time.RFC3339))
	}
	wantWarnings := func(step string, resp api.CreateJoinCommandResponse, want ...string) {
		t.Helper()
		if strings.Join(resp.Warnings, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: warnings =\n%q\nwant\n%q", step, resp.Warnings, want)
		}
	}
	revoke := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if r := d.do(t, "DELETE", api.PathJoinTokens+"/"+id, login, ""); r.Status != http.StatusNoContent {
				t.Fatalf("revoke %s: %d %s", id, r.Status, r.Body)
			}
		}
	}

	first := create(`{"roles":["controller"]}`)
	wantWarnings("first controller join", first)
	second := create(`{"roles":["controller"]}`)
	wantWarnings("second controller join", second, warningFor(first.TokenID))
	wantWarnings("allowParallel", create(`{"roles":["controller"],"allowParallel":true}`))
	wantWarnings("worker join", create(`{"roles":["database"]}`))
	// The second and the allowParallel tokens are unused as well: drop
	// every token but the first.
	for _, jt := range d.tokens(t, login) {
		if jt.ID != first.TokenID {
			revoke(jt.ID)
		}
	}

	// Used: downloading the first token's bundle ends its warning.
	if r := d.do(t, "GET", controllerBundle, joinToken(t, first), ""); r.Status != http.StatusOK {
		t.Fatalf("download: %d %s", r.Status, r.Body)
	}
	third := create(`{"roles":["controller"]}`)
	wantWarnings("after the first token was used", third)

	// Deleted: revoking the third token ends its warning.
	wantWarnings("while the third is unused", create(`{"roles":["controller"]}`), warningFor(third.TokenID))
	for _, jt := range d.tokens(t, login) {
		if jt.ID != first.TokenID {
			revoke(jt.ID)
		}
	}
	fourth := create(`{"roles":["controller"]}`)
	wantWarnings("after the unused tokens were revoked", fourth)

	// A controller node that appears after the fourth token was issued
	// (still joining, not Ready yet) answers for it.
	node := "lifecycle-controller-1"
	if _, err := testenv.CreateNode(ctx, env.Client, testenv.NodeSpec{Name: node, InternalIP: "10.0.0.31", Labels: testenv.ControllerLabels("controller")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	})
	eventually(t, 10*time.Second, "the new node in the node list", func() bool {
		var nodes api.NodesResponse
		mustDecode(t, d.do(t, "GET", api.PathNodes, login, "").Body, &nodes)
		return byName(nodes, node).Name != ""
	})
	wantWarnings("after a new controller appeared", create(`{"roles":["controller"]}`))
}

// tokens lists the outstanding join tokens.
func (d *testDaemon) tokens(t *testing.T, login string) []api.JoinToken {
	t.Helper()
	var list api.JoinTokensResponse
	mustDecode(t, d.do(t, "GET", api.PathJoinTokens, login, "").Body, &list)
	return list.Tokens
}

func TestLifecycleAdvertiseAddressMustBeLocal(t *testing.T) {
	const elsewhere = "192.0.2.77" // TEST-NET-1: never this host's
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	opts := startOpts(dataDir)
	opts.AdvertiseAddress = elsewhere
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d, err := start(ctx, opts, discardLogger()); err == nil {
		d.cancel()
		d.api.Close()
		t.Fatal("serve started with an advertise address of another host")
	} else if !strings.Contains(err.Error(), "--advertise-address "+elsewhere+" is not an address of this host") || !strings.Contains(err.Error(), "--advertise-address-force") {
		t.Fatalf("error %q does not explain the address or the way out", err)
	}

	forced := startDaemon(t, env, func(o *ServeOptions) { o.AdvertiseAddress, o.AdvertiseAddressForce = elsewhere, true })
	resp := forced.mustCreateJoin(t, forced.login(t, password), `{"roles":["controller"]}`)
	if !strings.HasPrefix(resp.BundleURL, "https://"+elsewhere+":") {
		t.Errorf("forced advertise address not used: %s", resp.BundleURL)
	}
	if !strings.Contains(forced.logs.String(), "--advertise-address-force") {
		t.Errorf("the log does not say the address was forced:\n%s", forced.logs)
	}

	// Any of this host's addresses is fine, IPv6 loopback included.
	local := startDaemon(t, env, func(o *ServeOptions) { o.AdvertiseAddress = "::1" })
	resp = local.mustCreateJoin(t, local.login(t, password), `{"roles":["controller"]}`)
	if !strings.HasPrefix(resp.BundleURL, "https://[::1]:") {
		t.Errorf("advertise ::1 gives %s", resp.BundleURL)
	}
}

// TestIPv6Serve runs serve on [::1] and the documented curl commands
// against it, then the join command's first two steps verbatim.
func TestIPv6Serve(t *testing.T) {
	needTools(t, "curl", "tar", "sha256sum")
	d := startDaemon(t, env, func(o *ServeOptions) { o.BindAddress = "::1" })
	if !strings.HasPrefix(d.URL, "https://[::1]:") {
		t.Fatalf("serve listens on %s", d.URL)
	}
	ca := filepath.Join(d.DataDir, "ecapi", "tls.crt")
	block, _ := pem.Decode(readFile(t, ca))
	if block == nil {
		t.Fatal("tls.crt holds no PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("::1"); err != nil {
		t.Fatalf("certificate lacks the ::1 SAN: %v (IPs %v)", err, cert.IPAddresses)
	}

	dir := t.TempDir()
	curl := func(args ...string) string {
		t.Helper()
		return run(t, dir, "curl", append([]string{"-g", "-sS", "--cacert", ca}, args...)...)
	}
	if out := curl(d.URL + "/v1/health"); out != `{"status":"ok"}` {
		t.Errorf("health: %s", out)
	}
	if out := curl(d.URL + "/v1/version"); !strings.Contains(out, `"buildDate"`) {
		t.Errorf("version: %s", out)
	}
	var tok api.TokenResponse
	mustDecode(t, []byte(curl("-X", "POST", d.URL+"/v1/auth/token", "-H", "Content-Type: application/json", "-d", `{"password":`+quote(password)+`}`)), &tok)
	var nodes api.NodesResponse
	mustDecode(t, []byte(curl(d.URL+"/v1/nodes", "-H", "Authorization: Bearer "+tok.Token)), &nodes)
	if byName(nodes, "controller-0").Name == "" {
		t.Errorf("nodes over IPv6: %+v", nodes)
	}
	var resp api.CreateJoinCommandResponse
	mustDecode(t, []byte(curl("-X", "POST", d.URL+"/v1/create-join-command", "-H", "Authorization: Bearer "+tok.Token,
		"-H", "Content-Type: application/json", "-d", `{"roles":["controller"]}`)), &resp)
	wantURL := d.URL + "/v1/join-bundle?roles=controller"
	if resp.BundleURL != wantURL || !strings.Contains(resp.JoinSteps[0].Command, "'"+wantURL+"'") {
		t.Fatalf("join command for IPv6: bundleURL %s, step %s", resp.BundleURL, resp.JoinSteps[0].Command)
	}

	// The download step verbatim, then the extract step.
	run(t, dir, "sh", "-c", resp.JoinSteps[0].Command)
	extractAndVerify(t, dir, resp)
	verifySeed(t, dir, resp)
	if server := joinKubeconfigServer(t, readFile(t, filepath.Join(dir, "k0s-join-token"))); server != "https://[::1]:9443" {
		t.Errorf("k0s join kubeconfig server = %s", server)
	}

	// The documented direct download with a login token.
	curl(d.URL+"/v1/join-bundle?roles=controller", "-f", "-H", "Authorization: Bearer "+tok.Token, "-o", "direct.tar.gz")
	if b := readFile(t, filepath.Join(dir, "direct.tar.gz")); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("direct download is not gzip")
	}
}

// joinKubeconfigServer decodes a k0s join token and returns its server URL.
func joinKubeconfigServer(t *testing.T, token []byte) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(token)))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server
}

// TestLifecycleCertificateRenewalKeepsKey lets the renewal loop find a
// self-signed certificate near its expiry: it is re-issued with the same
// key, and a Reloader serving it switches without a pin change.
func TestLifecycleCertificateRenewalKeepsKey(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	// Issued 340 days ago: 25 days left, inside the 30-day renewal margin.
	certFile, keyFile, _, err := tlsutil.EnsureSelfSigned(dir, hosts, time.Now().Add(-340*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	reloader, err := tlsutil.NewReloader(certFile, keyFile, logger)
	if err != nil {
		t.Fatal(err)
	}
	oldLeaf, oldPin := reloader.Leaf(), reloader.Pin()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { renewSelfSigned(ctx, dir, hosts, 10*time.Millisecond, logger); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	eventually(t, 10*time.Second, "the served certificate renewed", func() bool {
		_, _ = reloader.GetCertificate(nil) // a handshake looks at the files
		return reloader.Leaf().NotAfter.After(oldLeaf.NotAfter.Add(300 * 24 * time.Hour))
	})
	if reloader.Pin() != oldPin {
		t.Fatalf("renewal changed the pin from %s to %s", oldPin, reloader.Pin())
	}
	if reloader.Leaf().SerialNumber.Cmp(oldLeaf.SerialNumber) == 0 {
		t.Fatal("the certificate was not re-issued")
	}
	if !strings.Contains(logs.String(), "the pin is unchanged") {
		t.Errorf("renewal not logged:\n%s", logs)
	}
}
