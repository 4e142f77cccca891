package rbac

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// TestServeWithLeastPrivilege runs the built binary as the service
// account of rbac.yaml and uses every endpoint, the join steps exactly as
// returned included.
func TestServeWithLeastPrivilege(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required to run the returned join steps: apt-get install curl")
	}
	d := runServe(t, kubeconfigAs(t, serviceAccount))
	d.waitHealthy(t)

	r := d.do(t, "GET", api.PathHealth, "", "")
	if r.Status != http.StatusOK || string(r.Body) != `{"status":"ok"}` {
		t.Fatalf("health = %d %s", r.Status, r.Body)
	}
	var version api.VersionResponse
	mustOK(t, d.do(t, "GET", api.PathVersion, "", ""), &version)
	if version.Version == "" || version.Commit == "" || version.BuildDate == "" {
		t.Errorf("version = %+v", version)
	}

	token := d.login(t, password)

	var nodes api.NodesResponse
	mustOK(t, d.do(t, "GET", api.PathNodes, token, ""), &nodes)
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Name != "controller-0" || !nodes.Nodes[0].Ready ||
		!slices.Equal(nodes.Nodes[0].Roles, []string{"controller"}) {
		t.Fatalf("nodes = %+v", nodes.Nodes)
	}

	var join api.CreateJoinCommandResponse
	mustOK(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller","database"]}`), &join)
	if len(join.JoinSteps) != 3 || join.TokenID == "" {
		t.Fatalf("create-join-command = %+v", join)
	}
	work := t.TempDir()
	runStep(t, work, join.JoinSteps[0].Command) // curl … -o <file>
	runStep(t, work, join.JoinSteps[1].Command) // tar xzf <file>
	checkK0sToken(t, filepath.Join(work, "k0s-join-token"), join.TokenID)

	// A login token downloads a bundle directly, with a fresh bootstrap token.
	r = d.do(t, "GET", api.PathJoinBundle+"?roles=controller", token, "")
	if r.Status != http.StatusOK {
		t.Fatalf("join-bundle with a login token = %d %s", r.Status, r.Body)
	}
	if !bundleHas(t, r.Body, "k0s-join-token") {
		t.Error("bundle downloaded with a login token has no k0s-join-token")
	}

	var tokens api.JoinTokensResponse
	mustOK(t, d.do(t, "GET", api.PathJoinTokens, token, ""), &tokens)
	if !slices.ContainsFunc(tokens.Tokens, func(jt api.JoinToken) bool { return jt.ID == join.TokenID }) {
		t.Fatalf("join-tokens %+v does not list %s", tokens.Tokens, join.TokenID)
	}
	if r := d.do(t, "DELETE", api.PathJoinTokens+"/"+join.TokenID, token, ""); r.Status != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	ctx, cancel := testenv.Ctx()
	defer cancel()
	if _, err := env.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+join.TokenID, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bootstrap token secret after revoke: err = %v, want NotFound", err)
	}
	// The revoked download command no longer works (curl -f: exit 22 on 401).
	if out, err := stepCommand(t, t.TempDir(), join.JoinSteps[0].Command).CombinedOutput(); err == nil {
		t.Errorf("the download step still works after revoke: %s", out)
	}

	// The password Secret is watched through its resourceName-scoped
	// list/watch: a change revokes the old token without a restart.
	t.Cleanup(func() {
		ctx, cancel := testenv.Ctx()
		defer cancel()
		if err := testenv.SetPassword(ctx, env.Client, password); err != nil {
			t.Errorf("restore password: %v", err)
		}
	})
	if err := testenv.SetPassword(ctx, env.Client, "a new password"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "old token refused after a password change", func() bool {
		return d.do(t, "GET", api.PathNodes, token, "").Status == http.StatusUnauthorized
	})
	d.login(t, "a new password")

	resp, err := http.Get(d.MetricsURL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(metrics, []byte("/v1/create-join-command")) {
		t.Errorf("metrics = %d, want request counts by route:\n%.2000s", resp.StatusCode, metrics)
	}

	// Nothing in the log says a permission was missing.
	for _, word := range []string{"forbidden", "Forbidden"} {
		if strings.Contains(d.stderr.String(), word) {
			t.Errorf("serve logged %q:\n%s", word, d.stderr)
		}
	}
}

// TestServeWithoutRBACFails starts serve as a service account without any
// binding: it must exit 1 at once with one line naming what it may not do.
func TestServeWithoutRBACFails(t *testing.T) {
	kc := kubeconfigAs(t, unboundAccount)
	t.Run("node lookup", func(t *testing.T) {
		d := runServe(t, kc)
		checkRefusal(t, d, `cannot get resource "nodes"`)
	})
	t.Run("signing key", func(t *testing.T) {
		// With the address given, the first call is reading ecapi's Secrets.
		d := runServe(t, kc, "--bind-address", "127.0.0.1")
		checkRefusal(t, d, `cannot get resource "secrets"`, namespace)
	})
}

func checkRefusal(t *testing.T, d *daemon, want ...string) {
	t.Helper()
	if code := d.waitExit(t, 60*time.Second); code != 1 {
		t.Fatalf("exit code = %d, want 1; output:\n%s", code, d.stderr)
	}
	var errLines []string
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if strings.HasPrefix(line, "Error: ") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("want one \"Error: \" line, got %d; output:\n%s", len(errLines), d.stderr)
	}
	for _, w := range append(want, "system:serviceaccount:"+namespace+":"+unboundAccount, "RBAC") {
		if !strings.Contains(errLines[0], w) {
			t.Errorf("error does not mention %q:\n%s", w, errLines[0])
		}
	}
}

// TestRBACGrantsNoMore asks the API server's authorizer what the service
// account may do: everything ecapi needs, and not the neighbouring rights.
func TestRBACGrantsNoMore(t *testing.T) {
	type check struct {
		verb, resource, namespace, name string
		allowed                         bool
	}
	checks := []check{
		{"list", "nodes", "", "", true},
		{"watch", "nodes", "", "", true},
		{"get", "nodes", "", "controller-0", true},
		{"get", "namespaces", "", "kube-system", true},
		{"list", "secrets", namespace, "ecapi-signing-key", true},
		{"watch", "secrets", namespace, "ecapi-signing-key", true},
		{"get", "secrets", namespace, "ecapi-seed-key", true},
		{"create", "secrets", namespace, "", true},
		{"watch", "secrets", "kotsadm", "kotsadm-password", true},
		{"create", "secrets", "kube-system", "", true},
		{"delete", "secrets", "kube-system", "bootstrap-token-abcdef", true},
		{"get", "configmaps", "kube-system", "kube-root-ca.crt", true},

		{"delete", "nodes", "", "controller-0", false},
		{"update", "nodes", "", "controller-0", false},
		{"get", "namespaces", "", "default", false},
		{"create", "namespaces", "", "", false},
		{"list", "secrets", namespace, "", false},
		{"update", "secrets", namespace, "ecapi-signing-key", false},
		{"delete", "secrets", namespace, "ecapi-seed-key", false},
		{"list", "secrets", "kotsadm", "", false},
		{"get", "secrets", "kotsadm", "kotsadm-tls", false},
		{"update", "secrets", "kotsadm", "kotsadm-password", false},
		{"get", "secrets", "default", "anything", false},
		{"get", "configmaps", "kube-system", "kubeadm-config", false},
		{"list", "pods", "kube-system", "", false},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	user := "system:serviceaccount:" + namespace + ":" + serviceAccount
	for _, c := range checks {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: c.verb, Resource: c.resource, Namespace: c.namespace, Name: c.name,
			},
		}}
		got, err := env.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != c.allowed {
			t.Errorf("%s %s %s/%s: allowed = %v, want %v", c.verb, c.resource, c.namespace, c.name, got.Status.Allowed, c.allowed)
		}
	}
}

// TestDaemonSetManifest has the API server validate and admit
// daemonset.yaml (a dry run: no controller runs here).
func TestDaemonSetManifest(t *testing.T) {
	objs, err := decodeManifests(filepath.Join(testenv.RepoRoot(), "scripts", "kubernetes", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("daemonset.yaml holds %d objects, want 1", len(objs))
	}
	ctx, cancel := testenv.Ctx()
	defer cancel()
	if err := apply(ctx, objs, true); err != nil {
		t.Fatal(err)
	}
}

func (d *daemon) login(t *testing.T, pw string) string {
	t.Helper()
	body, _ := json.Marshal(api.TokenRequest{Password: pw})
	var tok api.TokenResponse
	mustOK(t, d.do(t, "POST", api.PathAuthToken, "", string(body)), &tok)
	if tok.Token == "" {
		t.Fatal("login returned an empty token")
	}
	return tok.Token
}

func mustOK(t *testing.T, r response, v any) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// stepCommand is a join step's command as the new host would run it.
func stepCommand(t *testing.T, dir, command string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	return cmd
}

func runStep(t *testing.T, dir, command string) {
	t.Helper()
	if out, err := stepCommand(t, dir, command).CombinedOutput(); err != nil {
		t.Fatalf("join step failed: %v\n%s", err, out)
	}
}

// checkK0sToken decodes the k0s join token (base64 of a gzipped
// kubeconfig) and checks it carries the bootstrap token behind tokenID.
func checkK0sToken(t *testing.T, path, tokenID string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("bundle has no k0s join token: %v", err)
	}
	gz, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("k0s join token is not base64: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("k0s join token is not gzip: %v", err)
	}
	kubeconfig, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(kubeconfig, []byte("token: "+tokenID+".")) {
		t.Errorf("k0s join token does not carry bootstrap token %s:\n%s", tokenID, kubeconfig)
	}
}

func bundleHas(t *testing.T, tgz []byte, name string) bool {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatalf("bundle is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatalf("read bundle: %v", err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			return true
		}
	}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
