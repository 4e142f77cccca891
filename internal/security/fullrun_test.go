package security

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/auth"
	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/join"
	"github.com/ecapi/ecapi/pkg/api"
)

// ecapiNamespace is where serve keeps its keys (the --namespace default).
const ecapiNamespace = "embedded-cluster"

var bearerInCommand = regexp.MustCompile(`Authorization: Bearer ([A-Za-z0-9._-]+)`)

// TestFullRun drives every endpoint and the CLI against `ecapi serve
// --log-level debug`, then checks the logs for secrets and the modes of
// every file ecapi wrote.
func TestFullRun(t *testing.T) {
	d := startServe(t)
	if want := certPin(t, filepath.Join(d.DataDir, "ecapi", "tls.crt")); d.Pin != want {
		t.Fatalf("logged pin %s is not the pin of tls.crt, %s", d.Pin, want)
	}

	// Every endpoint, the failures included.
	d.mustCall(t, http.StatusOK, http.MethodGet, api.PathHealth, "", "")
	d.mustCall(t, http.StatusOK, http.MethodGet, api.PathVersion, "", "")
	d.mustCall(t, http.StatusUnauthorized, http.MethodPost, api.PathAuthToken, "", `{"password":"`+password+`-wrong"}`)
	var login api.TokenResponse
	mustJSON(t, d.mustCall(t, http.StatusOK, http.MethodPost, api.PathAuthToken, "", `{"password":"`+password+`"}`), &login)
	d.mustCall(t, http.StatusOK, http.MethodGet, api.PathNodes, login.Token, "")
	d.mustCall(t, http.StatusUnauthorized, http.MethodGet, api.PathNodes, login.Token+"x", "")
	var created api.CreateJoinCommandResponse
	mustJSON(t, d.mustCall(t, http.StatusOK, http.MethodPost, api.PathCreateJoinCommand, login.Token, `{"roles":["controller"]}`), &created)
	if len(created.JoinSteps) == 0 {
		t.Fatal("create-join-command returned no steps")
	}
	m := bearerInCommand.FindStringSubmatch(created.JoinSteps[0].Command)
	if m == nil {
		t.Fatalf("no bearer token in the download step %q", created.JoinSteps[0].Command)
	}
	joinToken := m[1]
	bundle := d.mustCall(t, http.StatusOK, http.MethodGet, api.PathJoinBundle+"?roles=controller", joinToken, "")
	if len(bundle) == 0 {
		t.Fatal("empty join bundle")
	}
	d.mustCall(t, http.StatusUnauthorized, http.MethodGet, api.PathJoinBundle+"?roles=controller", joinToken+"x", "")
	d.mustCall(t, http.StatusOK, http.MethodGet, api.PathJoinTokens, login.Token, "")

	// Read the cluster's secrets before the revocation deletes one.
	secrets := clusterSecrets(t, created.TokenID)
	d.mustCall(t, http.StatusNoContent, http.MethodDelete, api.PathJoinTokens+"/"+created.TokenID, login.Token, "")
	d.mustCall(t, http.StatusUnauthorized, http.MethodGet, api.PathJoinBundle+"?roles=controller", joinToken, "")

	// The CLI: a saved login and a bundle download.
	home := t.TempDir()
	configDir := filepath.Join(home, "ecapi-config")
	cliEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "ECAPI_CONFIG_DIR=" + configDir, "LANG=C.UTF-8"}
	loginOut, loginErr := runCLI(t, cliEnv, password+"\n", "login", "--server", d.URL, "--pin", d.Pin, "--password-stdin")
	bundleFile := filepath.Join(home, "bundle.tar.gz")
	fetchOut, fetchErr := runCLI(t, cliEnv, "", "fetch-bundle", "--roles", "controller", "-O", bundleFile)
	savedToken := savedLoginToken(t, configDir)

	d.stop(t)
	logs := d.out.String()
	if !strings.Contains(logs, `"msg":"login"`) || !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("the captured log lacks the login audit or debug lines; is it the daemon's log?\n%s", logs)
	}

	t.Run("no secrets in the serve log", func(t *testing.T) {
		named := map[string]string{
			"password":              password,
			"login token":           login.Token,
			"login token signature": signature(login.Token),
			"join token":            joinToken,
			"join token signature":  signature(joinToken),
			"CLI login token":       savedToken,
		}
		for k, v := range secrets {
			named[k] = v
		}
		for what, secret := range named {
			if secret == "" {
				t.Errorf("%s is empty: the test lost track of it", what)
				continue
			}
			if strings.Contains(logs, secret) {
				t.Errorf("the serve log contains the %s", what)
			}
		}
	})

	t.Run("no secrets in the CLI's output", func(t *testing.T) {
		out := loginOut + loginErr + fetchOut + fetchErr
		for what, secret := range map[string]string{"password": password, "login token": savedToken} {
			if strings.Contains(out, secret) {
				t.Errorf("the CLI printed the %s:\n%s", what, out)
			}
		}
	})

	t.Run("modes of the data dir", func(t *testing.T) {
		checkDataDirModes(t, filepath.Join(d.DataDir, "ecapi"))
	})

	t.Run("modes of the CLI's files", func(t *testing.T) {
		wantMode(t, configDir, fs.ModeDir|0o700)
		wantMode(t, filepath.Join(configDir, "config.yaml"), 0o600)
		wantMode(t, bundleFile, 0o600)
	})
}

// clusterSecrets are the secrets a full run creates in the cluster, in the
// forms a log line could carry them: the bootstrap token secret, and the
// signing and seed keys as base64 and hex (raw bytes cannot survive a JSON
// or text log line unescaped, their encodings can).
func clusterSecrets(t *testing.T, tokenID string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	bt, err := env.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+tokenID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("bootstrap token secret: %v", err)
	}
	out["bootstrap token secret"] = string(bt.Data["token-secret"])
	for _, name := range []string{auth.SigningKeySecret, join.SeedKeySecret} {
		s, err := env.Client.CoreV1().Secrets(ecapiNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("secret %s/%s: %v", ecapiNamespace, name, err)
		}
		keys := 0
		for k, v := range s.Data {
			if k == "kid" {
				continue // the key id is public: it travels in every JWT header
			}
			keys++
			out[name+"/"+k+" (base64)"] = base64.StdEncoding.EncodeToString(v)
			out[name+"/"+k+" (base64url)"] = base64.RawURLEncoding.EncodeToString(v)
			out[name+"/"+k+" (hex)"] = hex.EncodeToString(v)
		}
		if keys == 0 {
			t.Fatalf("secret %s/%s holds no key", ecapiNamespace, name)
		}
	}
	return out
}

// signature is a JWT's signature segment: a log that cut a token short
// would still leak it if it kept this part.
func signature(jwt string) string {
	i := strings.LastIndexByte(jwt, '.')
	if i < 0 || len(jwt)-i < 20 {
		return jwt
	}
	return jwt[i+1:]
}

func savedLoginToken(t *testing.T, configDir string) string {
	t.Helper()
	l, err := cmdutil.LoadSavedLogin(configDir)
	if err != nil {
		t.Fatalf("saved login: %v", err)
	}
	if l.Token == "" {
		t.Fatalf("no token in the saved login under %s", configDir)
	}
	return l.Token
}

// checkDataDirModes walks what serve wrote under <data-dir>/ecapi: no
// directory open to group or others, the private key 0600, and nothing
// writable by group or others.
func checkDataDirModes(t *testing.T, root string) {
	t.Helper()
	wantMode(t, filepath.Join(root, "tls.key"), 0o600)
	files := 0
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		perm := info.Mode().Perm()
		switch {
		case info.IsDir():
			if perm&0o077 != 0 {
				t.Errorf("directory %s has mode %v, want 0700 or stricter", path, perm)
			}
		case info.Mode().IsRegular():
			files++
			if perm&0o022 != 0 {
				t.Errorf("file %s has mode %v: writable by group or others", path, perm)
			}
		default:
			t.Errorf("%s is neither a file nor a directory (%v)", path, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// tls.crt, tls.key and at least one cached bundle member.
	if files < 3 {
		t.Errorf("only %d files under %s: the walk missed the bundle cache", files, root)
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func mustJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %.300s: %v", body, err)
	}
}
