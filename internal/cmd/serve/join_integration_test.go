package serve

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

const jsonCT = "Content-Type: application/json"

// createJoin posts a create-join-command request and decodes the answer.
func (d *testDaemon) createJoin(t *testing.T, token, body string) (response, api.CreateJoinCommandResponse) {
	t.Helper()
	r := d.do(t, "POST", api.PathCreateJoinCommand, token, body, jsonCT)
	var out api.CreateJoinCommandResponse
	if r.Status == http.StatusOK {
		mustDecode(t, r.Body, &out)
	}
	return r, out
}

// joinToken pulls the bearer token out of the download step.
func joinToken(t *testing.T, resp api.CreateJoinCommandResponse) string {
	t.Helper()
	cmd := resp.JoinSteps[0].Command
	_, rest, ok := strings.Cut(cmd, "Authorization: Bearer ")
	if !ok {
		t.Fatalf("no bearer token in %q", cmd)
	}
	tok, _, _ := strings.Cut(rest, "'")
	return tok
}

// untar reads a bundle into name -> (mode, data).
func untar(t *testing.T, body []byte) map[string]*tar.Header {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		h.PAXRecords = map[string]string{"data": string(data)}
		files[h.Name] = h
	}
}

func fileData(h *tar.Header) []byte { return []byte(h.PAXRecords["data"]) }

func TestCreateJoinCommand(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)

	r, resp := d.createJoin(t, token, `{"roles":["controller"]}`)
	if r.Status != 200 {
		t.Fatalf("create-join-command: %d %s", r.Status, r.Body)
	}
	if len(resp.JoinSteps) != 3 {
		t.Fatalf("joinSteps = %+v", resp.JoinSteps)
	}
	wantDesc := []string{"Download the join bundle", "Extract the bundle", "Run the join command"}
	for i, s := range resp.JoinSteps {
		if s.Description != wantDesc[i] {
			t.Errorf("step %d description = %q", i, s.Description)
		}
	}
	dl := resp.JoinSteps[0].Command
	for _, part := range []string{"curl -fsS -k --pinnedpubkey " + d.pin, d.URL + "/v1/join-bundle?roles=controller", "-o " + resp.BundleFileName} {
		if !strings.Contains(dl, part) {
			t.Errorf("download step %q lacks %q", dl, part)
		}
	}
	if !strings.HasPrefix(resp.BundleFileName, "demo-join-controller-") || !strings.HasSuffix(resp.BundleFileName, ".tar.gz") {
		t.Errorf("bundle file name = %q", resp.BundleFileName)
	}
	if resp.JoinSteps[1].Command != "tar xzf "+resp.BundleFileName || resp.JoinSteps[2].Command != "sudo ./demo node join" {
		t.Errorf("steps 2-3 = %+v", resp.JoinSteps[1:])
	}
	if resp.Pin != d.pin || len(resp.TokenID) != 6 || resp.SeedKeyFingerprint == "" {
		t.Errorf("extra fields = %+v", resp)
	}

	// The bootstrap token Secret is real and shaped as Kubernetes expects.
	ctx, cancel := testenv.Ctx()
	defer cancel()
	s, err := env.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+resp.TokenID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != "bootstrap.kubernetes.io/token" || string(s.Data["token-id"]) != resp.TokenID || len(s.Data["token-secret"]) != 16 ||
		string(s.Data["usage-controller-join"]) != "true" || s.Data["usage-bootstrap-authentication"] != nil {
		t.Errorf("controller bootstrap secret = type %s data %v", s.Type, keys(s.Data))
	}
	exp, err := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	if err != nil || exp.Sub(time.Now()) < 59*time.Minute || exp.Sub(time.Now()) > 61*time.Minute {
		t.Errorf("expiration = %q, want about 1 h from now", s.Data["expiration"])
	}
	if resp.ExpiresAt != exp.UTC().Format(time.RFC3339) {
		t.Errorf("expiresAt %s != secret expiration %s", resp.ExpiresAt, exp)
	}

	// Validation errors.
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["nope"]}`, jsonCT), 400, `"controller", "database", "web frontend"`)
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":[]}`, jsonCT), 400, "no roles")
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller","controller"]}`, jsonCT), 400, "twice")
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":[""]}`, jsonCT), 400, "empty")
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller"],"ttl":"1m"}`, jsonCT), 400, "out of range")
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":"controller"}`, jsonCT), 400, "roles")

	// A join token is no login token.
	jt := joinToken(t, resp)
	wantError(t, d.do(t, "GET", api.PathNodes, jt, ""), 401, "audience")
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, jt, `{"roles":["controller"]}`, jsonCT), 401, "audience")
}

func keys(m map[string][]byte) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestJoinBundleWorkerTokenAuthenticates(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	r, resp := d.createJoin(t, token, `{"roles":["database","web frontend"]}`)
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(resp.JoinSteps[0].Command, "roles=database,web+frontend") || !strings.Contains(resp.BundleFileName, "-join-database-web-frontend-") {
		t.Errorf("multi-role command = %q file %q", resp.JoinSteps[0].Command, resp.BundleFileName)
	}
	jt := joinToken(t, resp)

	// Roles must match the token exactly.
	wantError(t, d.do(t, "GET", "/v1/join-bundle?roles=database", jt, ""), 403, "roles")

	b := d.do(t, "GET", "/v1/join-bundle?roles=database,web+frontend", jt, "")
	if b.Status != 200 || b.Header.Get("Content-Type") != "application/gzip" || !strings.Contains(b.Header.Get("Content-Disposition"), resp.BundleFileName) {
		t.Fatalf("bundle: %d %v", b.Status, b.Header)
	}
	if cl := b.Header.Get("Content-Length"); cl == "" || cl != strconv.Itoa(len(b.Body)) {
		t.Errorf("Content-Length = %q for %d bytes", cl, len(b.Body))
	}
	files := untar(t, b.Body)
	want := map[string]int64{"demo": 0o755, "license.yaml": 0o600, "k0s-join-token": 0o600, "cluster-seed.json": 0o644, "SHA256SUMS": 0o644}
	for name, mode := range want {
		h, ok := files[name]
		if !ok {
			t.Fatalf("bundle lacks %s; has %v", name, names(files))
		}
		if h.Mode&0o777 != mode {
			t.Errorf("%s mode = %o, want %o", name, h.Mode&0o777, mode)
		}
	}
	if _, ok := files["embedded-cluster/images/images-amd64.tar"]; !ok {
		t.Errorf("bundle lacks the EC images: %v", names(files))
	}
	var seed map[string]any
	if err := json.Unmarshal(fileData(files["cluster-seed.json"]), &seed); err != nil {
		t.Fatal(err)
	}
	labels, _ := seed["nodeLabels"].(map[string]any)
	if labels["kots.io/embedded-cluster-role"] != "total-2" || labels["kots.io/embedded-cluster-role-1"] != "web-frontend" || labels["example.com/tier"] != "web" || labels["example.com/disk"] != "ssd" {
		t.Errorf("seed labels = %v", labels)
	}

	// The worker token authenticates against the real kube-apiserver.
	raw, err := base64.StdEncoding.DecodeString(string(fileData(files["k0s-join-token"])))
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
	user := kc.AuthInfos["kubelet-bootstrap"]
	cluster := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
	if user == nil || !strings.HasPrefix(user.Token, resp.TokenID+".") || cluster.Server != "https://127.0.0.1:6443" {
		t.Fatalf("worker kubeconfig: user %+v server %q", user, cluster.Server)
	}
	cfg := &rest.Config{Host: env.Config.Host, BearerToken: user.Token, TLSClientConfig: rest.TLSClientConfig{CAData: cluster.CertificateAuthorityData}}
	bootstrapClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := testenv.Ctx()
	defer cancel()
	review, err := bootstrapClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bootstrap token does not authenticate: %v", err)
	}
	if got := review.Status.UserInfo.Username; got != "system:bootstrap:"+resp.TokenID {
		t.Fatalf("authenticated as %q", got)
	}
}

func TestJoinTokenRevocationAcrossControllers(t *testing.T) {
	a, b := startDaemon(t, env), startDaemon(t, env)
	token := a.login(t, password)
	_, resp := a.createJoin(t, token, `{"roles":["controller"]}`)
	jt := joinToken(t, resp)
	if r := b.do(t, "GET", "/v1/join-bundle?roles=controller", jt, ""); r.Status != 200 {
		t.Fatalf("download from the other controller before revocation: %d %s", r.Status, r.Body)
	}
	list := a.do(t, "GET", api.PathJoinTokens, token, "")
	var tokens api.JoinTokensResponse
	mustDecode(t, list.Body, &tokens)
	if !slices.ContainsFunc(tokens.Tokens, func(j api.JoinToken) bool { return j.ID == resp.TokenID && j.Roles[0] == "controller" }) {
		t.Fatalf("token %s not listed: %s", resp.TokenID, list.Body)
	}
	if r := a.do(t, "DELETE", api.PathJoinTokens+"/"+resp.TokenID, token, ""); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	wantError(t, b.do(t, "GET", "/v1/join-bundle?roles=controller", jt, ""), 401, "revoked")
	wantError(t, a.do(t, "DELETE", api.PathJoinTokens+"/"+resp.TokenID, token, ""), 404, "no join token")
	wantError(t, a.do(t, "DELETE", api.PathJoinTokens+"/NOT-AN-ID", token, ""), 400, "invalid token id")
}

func TestJoinBundleWithLoginToken(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	// The spec's direct example: a login token downloads a bundle too.
	b := d.do(t, "GET", "/v1/join-bundle?roles=controller", token, "")
	if b.Status != 200 {
		t.Fatalf("bundle with login token: %d %s", b.Status, b.Body)
	}
	if _, ok := untar(t, b.Body)["k0s-join-token"]; !ok {
		t.Fatal("no k0s join token in the bundle")
	}
	wantError(t, d.do(t, "GET", "/v1/join-bundle", token, ""), 400, "roles")
	wantError(t, d.do(t, "GET", "/v1/join-bundle?roles=controller", "", ""), 401, "bearer")
}

func TestJoinNeedsReadyController(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	ctx, cancel := testenv.Ctx()
	defer cancel()
	if err := testenv.SetNodeReady(ctx, env.Client, "controller-0", false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testenv.SetNodeReady(context.Background(), env.Client, "controller-0", true); err != nil {
			t.Error(err)
		}
	})
	eventually(t, 5*time.Second, "409 without a Ready controller", func() bool {
		return d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller"]}`, jsonCT).Status == 409
	})
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller"]}`, jsonCT), 409, "no Ready controller yet: poll GET /v1/nodes")
	wantError(t, d.do(t, "GET", "/v1/join-bundle?roles=controller", token, ""), 409, "no Ready controller")
	if err := testenv.SetNodeReady(ctx, env.Client, "controller-0", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "200 once the controller is Ready", func() bool {
		return d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller"]}`, jsonCT).Status == 200
	})
}

func TestJoinNeedsMultiNodeLicense(t *testing.T) {
	d := startDaemon(t, env, func(o *ServeOptions) {
		if err := testenv.WriteSampleDataDir(o.DataDir, "demo", false); err != nil {
			t.Fatal(err)
		}
	})
	token := d.login(t, password)
	wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller"]}`, jsonCT), 403, "multi-node")
	wantError(t, d.do(t, "GET", "/v1/join-bundle?roles=controller", token, ""), 403, "multi-node")
}

func names(files map[string]*tar.Header) []string {
	out := []string{}
	for n := range files {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
