package serve

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

func TestHealthAndVersion(t *testing.T) {
	d := startDaemon(t, env)
	r := d.do(t, "GET", "/v1/health", "", "")
	if r.Status != 200 || string(r.Body) != `{"status":"ok"}` {
		t.Fatalf("health = %d %s", r.Status, r.Body)
	}
	r = d.do(t, "GET", "/v1/version", "", "")
	var v api.VersionResponse
	mustDecode(t, r.Body, &v)
	if r.Status != 200 || v.Version == "" || v.Commit == "" || v.BuildDate == "" {
		t.Fatalf("version = %d %+v", r.Status, v)
	}
	wantError(t, d.do(t, "GET", "/v1/nope", "", ""), 404, "/v1/nope")
	r = d.do(t, "POST", "/v1/health", "", "")
	wantError(t, r, 405, "POST")
	if r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
}

func TestLogin(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	if len(strings.Split(token, ".")) != 3 {
		t.Fatalf("token is not a JWT: %q", token)
	}
	json := "Content-Type: application/json"
	wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{"password":"nope"}`, json), 401, "wrong password")
	wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{"password":`, json), 400, "invalid JSON")
	wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{"password":"x","admin":true}`, json), 400, "admin")
	wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{}`, json), 400, "password")
	wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{"password":"x"}`, "Content-Type: text/plain"), 415, "application/json")
	wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{"password":"`+strings.Repeat("a", 70<<10)+`"}`, json), 413, "larger")
	r := d.do(t, "GET", "/v1/nodes", "", "")
	wantError(t, r, 401, "POST /v1/auth/token")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	if r := d.do(t, "GET", "/v1/nodes", token, ""); r.Status != 200 {
		t.Fatalf("nodes with token: %d %s", r.Status, r.Body)
	}
	// Audit and access logs never carry the password or the token.
	logs := d.logs.String()
	if strings.Contains(logs, password) || strings.Contains(logs, token) {
		t.Fatal("logs contain the password or a token")
	}
	if !strings.Contains(logs, `"msg":"login","log":"audit","result":"success"`) || !strings.Contains(logs, `"result":"wrong password"`) {
		t.Errorf("audit lines missing from logs:\n%s", logs)
	}
}

func TestLockout(t *testing.T) {
	d := startDaemon(t, env)
	json := "Content-Type: application/json"
	for i := 1; i <= 5; i++ {
		wantError(t, d.do(t, "POST", "/v1/auth/token", "", `{"password":"guess-`+strconv.Itoa(i)+`"}`, json), 401, "wrong password")
	}
	// Locked out now, even with the right password.
	r := d.do(t, "POST", "/v1/auth/token", "", `{"password":`+quote(password)+`}`, json)
	wantError(t, r, 429, "too many failed logins")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 14*60 || secs > 15*60 {
		t.Fatalf("Retry-After = %q, want about 15 minutes", r.Header.Get("Retry-After"))
	}
	// The lockout is per client: another instance still logs this client in.
	other := startDaemon(t, env)
	other.login(t, password)
}

func TestTokenSharedAcrossControllers(t *testing.T) {
	a, b := startDaemon(t, env), startDaemon(t, env)
	token := a.login(t, password)
	if r := b.do(t, "GET", "/v1/nodes", token, ""); r.Status != 200 {
		t.Fatalf("token from instance A on instance B: %d %s", r.Status, r.Body)
	}
	ctx, cancel := testenv.Ctx()
	defer cancel()
	s, err := env.Client.CoreV1().Secrets("embedded-cluster").Get(ctx, "ecapi-signing-key", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Data) != 2 {
		t.Errorf("signing key secret has %d entries, want kid + one key", len(s.Data))
	}
}

func TestPasswordChangeRevokesTokens(t *testing.T) {
	d := startDaemon(t, env)
	old := d.login(t, password)
	ctx, cancel := testenv.Ctx()
	defer cancel()
	if err := testenv.SetPassword(ctx, env.Client, "new password"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := testenv.Ctx()
		defer cancel()
		if err := testenv.SetPassword(ctx, env.Client, password); err != nil {
			t.Error(err)
		}
		// Wait until the daemon sees the restored password.
		eventually(t, 10*time.Second, "password restored", func() bool {
			return d.do(t, "POST", "/v1/auth/token", "", `{"password":`+quote(password)+`}`, "Content-Type: application/json").Status == 200
		})
	})
	eventually(t, 10*time.Second, "old token revoked", func() bool {
		return d.do(t, "GET", "/v1/nodes", old, "").Status == 401
	})
	wantError(t, d.do(t, "GET", "/v1/nodes", old, ""), 401, "password changed")
	fresh := d.login(t, "new password")
	if r := d.do(t, "GET", "/v1/nodes", fresh, ""); r.Status != 200 {
		t.Fatalf("new token: %d %s", r.Status, r.Body)
	}
}

func TestNodes(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	ctx, cancel := testenv.Ctx()
	defer cancel()
	specs := []testenv.NodeSpec{
		{Name: "nodes-db-0", InternalIP: "10.0.0.21", Ready: true, Labels: map[string]string{
			"kots.io/embedded-cluster-role": "total-2", "kots.io/embedded-cluster-role-0": "database",
			"kots.io/embedded-cluster-role-1": "web-frontend", "example.com/tier": "web",
		}, Annotations: map[string]string{"note": "custom roles"}},
		{Name: "nodes-cp-legacy", InternalIP: "10.0.0.22", Ready: false, Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		{Name: "nodes-plain", InternalIP: "10.0.0.23", Ready: false},
	}
	for _, s := range specs {
		if _, err := testenv.CreateNode(ctx, env.Client, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.Client.CoreV1().Nodes().Delete(context.Background(), s.Name, metav1.DeleteOptions{}) })
	}
	var list api.NodesResponse
	eventually(t, 5*time.Second, "new nodes listed", func() bool {
		mustDecode(t, d.do(t, "GET", "/v1/nodes", token, "").Body, &list)
		return len(byName(list, "nodes-plain").Name) > 0
	})
	names := []string{}
	for _, n := range list.Nodes {
		names = append(names, n.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("nodes not sorted by name: %v", names)
	}
	ctrl := byName(list, "controller-0")
	if !slices.Equal(ctrl.Roles, []string{"controller"}) || !ctrl.Ready || ctrl.InternalIP != "127.0.0.1" || ctrl.Labels["node-role.kubernetes.io/control-plane"] != "" {
		t.Errorf("controller-0 = %+v", ctrl)
	}
	db := byName(list, "nodes-db-0")
	if !slices.Equal(db.Roles, []string{"database", "web frontend"}) || !db.Ready || db.InternalIP != "10.0.0.21" ||
		db.Annotations["note"] != "custom roles" || db.Labels["example.com/tier"] != "web" {
		t.Errorf("nodes-db-0 = %+v", db)
	}
	legacy := byName(list, "nodes-cp-legacy")
	if !slices.Equal(legacy.Roles, []string{"controller"}) || legacy.Ready {
		t.Errorf("nodes-cp-legacy = %+v", legacy)
	}
	plain := byName(list, "nodes-plain")
	if len(plain.Roles) != 0 || plain.Ready || plain.Labels == nil || plain.Annotations == nil {
		t.Errorf("nodes-plain = %+v", plain)
	}

	// Adds and removals show within 2 s (the informer cache is watched, not polled).
	if _, err := testenv.CreateNode(ctx, env.Client, testenv.NodeSpec{Name: "nodes-late", InternalIP: "10.0.0.24", Ready: true}); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 2*time.Second, "added node listed", func() bool {
		mustDecode(t, d.do(t, "GET", "/v1/nodes", token, "").Body, &list)
		return byName(list, "nodes-late").Name != ""
	})
	t.Logf("added node visible after %s", took)
	if err := env.Client.CoreV1().Nodes().Delete(ctx, "nodes-late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, 2*time.Second, "removed node gone", func() bool {
		mustDecode(t, d.do(t, "GET", "/v1/nodes", token, "").Body, &list)
		return byName(list, "nodes-late").Name == ""
	})
	t.Logf("removed node gone after %s", took)
}

func byName(list api.NodesResponse, name string) api.Node {
	for _, n := range list.Nodes {
		if n.Name == name {
			return n
		}
	}
	return api.Node{}
}

func TestNodesETagAndGzip(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	// Go's transport would ask for gzip itself; ask for the plain body.
	r := d.do(t, "GET", "/v1/nodes", token, "", "Accept-Encoding: identity")
	etag := r.Header.Get("ETag")
	if r.Status != 200 || etag == "" || r.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("first GET: %d ETag=%q Vary=%q", r.Status, etag, r.Header.Get("Vary"))
	}
	r = d.do(t, "GET", "/v1/nodes", token, "", "Accept-Encoding: identity", "If-None-Match: "+etag)
	if r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Fatalf("If-None-Match: %d %q", r.Status, r.Body)
	}
	if r := d.do(t, "GET", "/v1/nodes", token, "", "Accept-Encoding: identity", `If-None-Match: "stale"`); r.Status != 200 || r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("stale ETag: %d", r.Status)
	}
	// Setting Accept-Encoding ourselves turns off Go's transparent gunzip.
	gz := d.do(t, "GET", "/v1/nodes", token, "", "Accept-Encoding: gzip")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") == etag || len(gz.Body) < 2 || gz.Body[0] != 0x1f || gz.Body[1] != 0x8b {
		t.Fatalf("gzip variant: encoding=%q etag=%q body=%q", gz.Header.Get("Content-Encoding"), gz.Header.Get("ETag"), gz.Body[:min(len(gz.Body), 20)])
	}
	if r := d.do(t, "GET", "/v1/nodes", token, "", "Accept-Encoding: gzip", "If-None-Match: "+gz.Header.Get("ETag")); r.Status != 304 {
		t.Fatalf("gzip If-None-Match: %d", r.Status)
	}
}

// TestSpecCurlCommands runs the documented curl commands with the system's
// curl, adding only --cacert for the self-signed certificate.
func TestSpecCurlCommands(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required for this test: install it (apt-get install curl)")
	}
	d := startDaemon(t, env)
	ca := filepath.Join(d.DataDir, "ecapi", "tls.crt")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "--cacert", ca}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := run(d.URL + "/v1/health"); out != `{"status":"ok"}` {
		t.Errorf("health: %s", out)
	}
	if out := run(d.URL + "/v1/version"); !strings.Contains(out, `"buildDate"`) {
		t.Errorf("version: %s", out)
	}
	out := run("-X", "POST", d.URL+"/v1/auth/token", "-H", "Content-Type: application/json", "-d", `{"password":`+quote(password)+`}`)
	var tok api.TokenResponse
	mustDecode(t, []byte(out), &tok)
	out = run(d.URL+"/v1/nodes", "-H", "Authorization: Bearer "+tok.Token)
	var nodes api.NodesResponse
	mustDecode(t, []byte(out), &nodes)
	if byName(nodes, "controller-0").Name == "" {
		t.Errorf("nodes: %s", out)
	}
}

func TestStartFailsClearly(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		mod  func(*ServeOptions)
		want string
	}{
		"unknown node":  {func(o *ServeOptions) { o.BindAddress, o.NodeName = "", "no-such-node" }, "--bind-address"},
		"bad license":   {func(o *ServeOptions) { o.License = "/nonexistent/license.yaml" }, "--license"},
		"bad ec config": {func(o *ServeOptions) { o.ECConfig = "/etc/hostname" }, "--ec-config"},
		"bad metrics":   {func(o *ServeOptions) { o.MetricsAddress = "0.0.0.0:0" }, "--metrics-insecure-bind"},
	} {
		t.Run(name, func(t *testing.T) {
			dataDir := t.TempDir()
			if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
				t.Fatal(err)
			}
			ios := startOpts(dataDir)
			tc.mod(ios)
			d, err := start(ctx, ios, discardLogger())
			if err == nil {
				d.cancel()
				d.api.Close()
				t.Fatal("start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}
