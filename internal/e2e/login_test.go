package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// TestLoginThenNodes logs in with --password-stdin and a pin, checks what
// is saved, then checks that `nodes -o json` with the saved login is the
// API's node list.
func TestLoginThenNodes(t *testing.T) {
	t.Parallel()
	s := startServe(t, env, nil)
	ctx, cancel := testenv.Ctx()
	defer cancel()
	const worker = "e2e-login-worker"
	if _, err := testenv.CreateNode(ctx, env.Client, testenv.NodeSpec{
		Name: worker, InternalIP: "10.1.0.7", Ready: true,
		Labels:      map[string]string{testenv.LabelRoleTotal: "total-1", testenv.LabelRolePrefix + "0": "database", "example.com/tier": "data"},
		Annotations: map[string]string{"example.com/note": "from the e2e test"},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Client.CoreV1().Nodes().Delete(context.Background(), worker, metav1.DeleteOptions{}) })

	envv := baseEnv(t)
	configDir := envValue(envv, "ECAPI_CONFIG_DIR")
	r := ecapi(t, envv, password+"\n", "login", "--server", s.URL, "--pin", s.Pin, "--password-stdin")
	wantExit(t, r, 0, "login")
	if !strings.Contains(r.Stdout, "Logged in to "+s.URL) {
		t.Errorf("login output does not say where:\n%s", r)
	}

	dirInfo, err := os.Stat(configDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := dirInfo.Mode().Perm(); perm != 0o700 {
		t.Errorf("config dir mode = %o, want 700", perm)
	}
	path := filepath.Join(configDir, "config.yaml")
	fileInfo, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fileInfo.Mode().Perm(); perm != 0o600 {
		t.Errorf("config.yaml mode = %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var saved map[string]any
	if err := yaml.Unmarshal(data, &saved); err != nil {
		t.Fatalf("config.yaml: %v\n%s", err, data)
	}
	if saved["server"] != s.URL || saved["pin"] != s.Pin {
		t.Errorf("config.yaml server/pin = %v/%v, want %s/%s", saved["server"], saved["pin"], s.URL, s.Pin)
	}
	if tok, _ := saved["token"].(string); len(strings.Split(tok, ".")) != 3 {
		t.Errorf("config.yaml token %q is not a JWT", tok)
	}
	if strings.Contains(string(data), password) {
		t.Error("config.yaml holds the password")
	}

	// The API lists the new node once the informer has seen it; the CLI
	// must then print the same list.
	token := s.apiLogin(t)
	var fromAPI api.NodesResponse
	deadline := time.Now().Add(10 * time.Second)
	for !hasNode(fromAPI, worker) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not listed by GET /v1/nodes within 10s", worker)
		}
		time.Sleep(50 * time.Millisecond)
		if err := json.Unmarshal(s.apiGet(t, api.PathNodes, token), &fromAPI); err != nil {
			t.Fatal(err)
		}
	}
	apiNodes := genericNodes(t, s.apiGet(t, api.PathNodes, token))

	r = ecapi(t, envv, "", "nodes", "-o", "json")
	wantExit(t, r, 0, "nodes -o json")
	var list struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Nodes      json.RawMessage `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("nodes -o json is not JSON: %v\n%s", err, r)
	}
	if list.APIVersion != "ecapi/v1" || list.Kind != "NodeList" {
		t.Errorf("apiVersion/kind = %q/%q, want ecapi/v1/NodeList", list.APIVersion, list.Kind)
	}
	cliNodes := genericNodes(t, []byte(`{"nodes":`+string(list.Nodes)+`}`))
	if !reflect.DeepEqual(cliNodes, apiNodes) {
		t.Errorf("nodes -o json differs from GET /v1/nodes:\nCLI: %s\nAPI: %v", list.Nodes, apiNodes)
	}
	if len(apiNodes) < 2 {
		t.Errorf("want controller-0 and %s, got %v", worker, apiNodes)
	}
}

func hasNode(l api.NodesResponse, name string) bool {
	for _, n := range l.Nodes {
		if n.Name == name {
			return true
		}
	}
	return false
}

// genericNodes decodes a {"nodes": [...]} body without a schema, so fields
// the typed structs would drop still count in the comparison.
func genericNodes(t *testing.T, body []byte) []any {
	t.Helper()
	var v struct {
		Nodes []any `json:"nodes"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode nodes: %v\n%s", err, body)
	}
	return v.Nodes
}

// TestLoginFailures covers exit 4 (wrong password) and exit 5 (wrong pin,
// and no pin when not on a terminal).
func TestLoginFailures(t *testing.T) {
	t.Parallel()
	s := startServe(t, env, nil)

	t.Run("wrong password exits 4", func(t *testing.T) {
		r := ecapi(t, baseEnv(t), "not the password\n", "login", "--server", s.URL, "--pin", s.Pin, "--password-stdin")
		wantExit(t, r, 4, "login with a wrong password")
		if strings.Contains(r.Stderr, "not the password") {
			t.Errorf("stderr echoes the password:\n%s", r)
		}
	})

	t.Run("wrong pin exits 5", func(t *testing.T) {
		r := ecapi(t, baseEnv(t), password+"\n", "login", "--server", s.URL, "--pin", otherKeyPin(t), "--password-stdin")
		wantExit(t, r, 5, "login with the pin of another key")
	})

	t.Run("no pin off a terminal exits 5 and prints the pin", func(t *testing.T) {
		envv := baseEnv(t)
		r := ecapi(t, envv, password+"\n", "login", "--server", s.URL, "--password-stdin")
		wantExit(t, r, 5, "login without a pin, not on a terminal")
		if !strings.Contains(r.Stderr, s.Pin) {
			t.Errorf("stderr does not show the server's pin %s:\n%s", s.Pin, r)
		}
		if _, err := os.Stat(filepath.Join(envValue(envv, "ECAPI_CONFIG_DIR"), "config.yaml")); err == nil {
			t.Error("an untrusted login saved a config file")
		}
	})
}

// otherKeyPin is a well-formed pin of a key the server does not have.
func otherKeyPin(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestVersionAndUsage: version with a server shows both sides; usage
// errors exit 2.
func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	s := startServe(t, env, nil)

	r := ecapi(t, baseEnv(t, "ECAPI_SERVER="+s.URL, "ECAPI_PIN="+s.Pin), "", "version", "-o", "json")
	wantExit(t, r, 0, "version -o json")
	var v struct {
		Client *api.VersionResponse `json:"client"`
		Server *api.VersionResponse `json:"server"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r)
	}
	if v.Client == nil || v.Client.Version == "" || v.Server == nil || v.Server.Version == "" {
		t.Fatalf("want client and server blocks with versions:\n%s", r)
	}
	if *v.Server != *v.Client {
		t.Errorf("server %+v and client %+v are the same binary but report different builds", *v.Server, *v.Client)
	}

	for _, args := range [][]string{{"nosuchverb"}, {"join-command"}} {
		r := ecapi(t, baseEnv(t, s.clientEnv()...), "", args...)
		wantExit(t, r, 2, "ecapi "+strings.Join(args, " "))
		if !strings.HasPrefix(r.Stderr, "Error: ") {
			t.Errorf("ecapi %s: stderr is not one error line:\n%s", strings.Join(args, " "), r)
		}
	}
}
