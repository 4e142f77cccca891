package serve

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecapi/ecapi/pkg/api"
)

// testHost is a second host: a network namespace joined to this one by a
// veth pair with link-local addresses, removed when the test ends.
type testHost struct {
	name   string
	hostIP string // this side
	peerIP string // inside the namespace
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes a network namespace and needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("this test needs ip from iproute2: apt-get install iproute2")
	}
	id := os.Getpid() % 50000
	h := &testHost{
		name:   fmt.Sprintf("ecapi-e2e-%d", id),
		hostIP: fmt.Sprintf("169.254.%d.%d", 100+id%100, 1+4*(id/100%60)),
	}
	h.peerIP = h.hostIP[:strings.LastIndex(h.hostIP, ".")+1] + fmt.Sprint(2+4*(id/100%60))
	hostIf, peerIf := fmt.Sprintf("ecv%dh", id), fmt.Sprintf("ecv%dp", id)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", h.name)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostIf).Run()
		exec.Command("ip", "netns", "del", h.name).Run()
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", peerIf)
	run("link", "set", peerIf, "netns", h.name)
	run("addr", "add", h.hostIP+"/30", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("-n", h.name, "addr", "add", h.peerIP+"/30", "dev", peerIf)
	run("-n", h.name, "link", "set", peerIf, "up")
	run("-n", h.name, "link", "set", "lo", "up")
	return h
}

// sh runs a command line inside the namespace, in dir.
func (h *testHost) sh(t *testing.T, dir, command string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", h.name, "sh", "-c", command)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("on the test host: %s: %v\n%s", command, err, out)
	}
	return string(out)
}

// TestJoinStepsFromSecondHost runs steps 1 and 2 of a real join command,
// verbatim, with the system's curl and tar on another host.
func TestJoinStepsFromSecondHost(t *testing.T) {
	host := newTestHost(t)
	d := startDaemon(t, env, func(o *ServeOptions) { o.BindAddress = host.hostIP })
	token := d.login(t, password)
	r, resp := d.createJoin(t, token, `{"roles":["controller"]}`)
	if r.Status != 200 {
		t.Fatalf("create-join-command: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(resp.JoinSteps[0].Command, "https://"+host.hostIP+":") {
		t.Fatalf("download step does not use the advertise address %s: %s", host.hostIP, resp.JoinSteps[0].Command)
	}
	dir := t.TempDir()
	host.sh(t, dir, resp.JoinSteps[0].Command)
	host.sh(t, dir, resp.JoinSteps[1].Command)

	if out := host.sh(t, dir, "sha256sum -c SHA256SUMS"); strings.Contains(out, "FAILED") {
		t.Fatalf("sha256sum: %s", out)
	}
	for name, mode := range map[string]os.FileMode{"demo": 0o755, "license.yaml": 0o600, "k0s-join-token": 0o600, "cluster-seed.json": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	verifySeed(t, dir, resp)

	// Step 3 runs the binary that step 2 extracted.
	if resp.JoinSteps[2].Command != "sudo ./demo node join" {
		t.Fatalf("step 3 = %q", resp.JoinSteps[2].Command)
	}
	if out := host.sh(t, dir, strings.TrimPrefix(resp.JoinSteps[2].Command, "sudo ")); !strings.Contains(out, "node join") {
		t.Errorf("./demo node join printed %q", out)
	}
}

// verifySeed checks the seed's Ed25519 signature with the shipped key and
// that the key is the one create-join-command announced.
func verifySeed(t *testing.T, dir string, resp api.CreateJoinCommandResponse) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block, _ := pem.Decode(read("cluster-seed.pub"))
	if block == nil {
		t.Fatal("cluster-seed.pub is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(read("cluster-seed.json.sig"))))
	if err != nil {
		t.Fatal(err)
	}
	doc := read("cluster-seed.json")
	if !ed25519.Verify(pub.(ed25519.PublicKey), doc, sig) {
		t.Fatal("cluster seed signature does not verify")
	}
	tampered := append([]byte{}, doc...)
	tampered[len(tampered)/2] ^= 1
	if ed25519.Verify(pub.(ed25519.PublicKey), tampered, sig) {
		t.Fatal("a tampered seed verifies")
	}
	if !strings.Contains(string(doc), `"tokenID": "`+resp.TokenID+`"`) || !strings.Contains(string(doc), `"apiPin": "`+resp.Pin+`"`) {
		t.Errorf("seed does not name the token and pin: %s", doc)
	}
	fp := sha256Hex(block.Bytes)
	if resp.SeedKeyFingerprint != "sha256:"+fp {
		t.Errorf("seedKeyFingerprint %s != fingerprint of the shipped key sha256:%s", resp.SeedKeyFingerprint, fp)
	}
}
