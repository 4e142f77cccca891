package e2e

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
)

// bundleFiles are what every extracted join bundle holds at its top.
var bundleFiles = []string{"demo", "license.yaml", "k0s-join-token", "cluster-seed.json", "SHA256SUMS"}

// TestJoinCommandShellScript runs the -o shell output with sh on a "new
// host" (an empty directory): it downloads the bundle with curl, extracts
// it and runs the sample installer's node join.
func TestJoinCommandShellScript(t *testing.T) {
	t.Parallel()
	s := startServe(t, env, nil)
	r := ecapi(t, baseEnv(t, s.clientEnv()...), "", "join-command", "--roles", "controller", "-o", "shell")
	wantExit(t, r, 0, "join-command -o shell")
	script := filepath.Join(t.TempDir(), "join.sh")
	if err := os.WriteFile(script, []byte(r.Stdout), 0o600); err != nil {
		t.Fatal(err)
	}

	host := t.TempDir()
	res := run(t, hostEnv(t), "", host, "sh", script)
	wantExit(t, res, 0, "sh join.sh")
	if !strings.Contains(res.Stdout, "demo installer (sample): node join") {
		t.Errorf("the script did not run the installer's node join:\n%s", res)
	}
	checkExtractedBundle(t, host)
}

// TestREADMECIRecipe runs the README's two-line CI recipe verbatim, with
// an ssh stand-in that runs its command here on the script it is piped.
func TestREADMECIRecipe(t *testing.T) {
	t.Parallel()
	recipe := readmeRecipe(t)
	s := startServe(t, env, nil)
	host := t.TempDir()
	res := run(t, hostEnv(t, s.clientEnv()...), "", host, "sh", "-c", recipe)
	t.Logf("%s\n%s", recipe, res)
	wantExit(t, res, 0, "the README recipe")
	if !strings.HasPrefix(res.Stdout, "condition met\n") {
		t.Errorf("wait-ready did not report the condition first:\n%s", res)
	}
	if !strings.Contains(res.Stdout, "demo installer (sample): node join") {
		t.Errorf("the piped script did not run the installer's node join:\n%s", res)
	}
	piped, err := os.ReadFile(filepath.Join(host, sshReceived))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(piped), "#!/bin/sh\n") {
		t.Errorf("join-command -o shell piped to ssh does not start with #!/bin/sh:\n%s", piped)
	}
	checkExtractedBundle(t, host)
}

// readmeRecipe is the README's line that starts with `ecapi wait-ready &&`.
func readmeRecipe(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "ecapi wait-ready && ") {
			if !strings.Contains(line, "| ssh new-host sudo sh") {
				t.Fatalf("README recipe %q no longer pipes to `ssh new-host sudo sh`; update this test's ssh stand-in", line)
			}
			return line
		}
	}
	t.Fatal("README.md has no line starting with `ecapi wait-ready && `")
	return ""
}

// sshReceived is where the ssh stand-in keeps the script it was piped.
const sshReceived = "ssh-received.sh"

// hostEnv is the environment of a fake new host: sudo and ssh stand-ins
// first in PATH (then ecapi and the system's curl, tar, sha256sum).
func hostEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	shims := t.TempDir()
	for name, body := range map[string]string{
		// sudo COMMAND...: run it as we are.
		"sudo": "#!/bin/sh\nexec \"$@\"\n",
		// ssh HOST COMMAND...: run COMMAND here on what ssh would send.
		"ssh": "#!/bin/sh\nshift\ncat > " + sshReceived + "\nexec \"$@\" < " + sshReceived + "\n",
	} {
		if err := os.WriteFile(filepath.Join(shims, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	envv := baseEnv(t, extra...)
	for i, kv := range envv {
		if strings.HasPrefix(kv, "PATH=") {
			envv[i] = "PATH=" + shims + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	return envv
}

// checkExtractedBundle checks dir holds a bundle's files and that
// coreutils' sha256sum agrees with its SHA256SUMS.
func checkExtractedBundle(t *testing.T, dir string) {
	t.Helper()
	for _, name := range bundleFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("bundle file %s missing from %s: %v", name, dir, err)
		}
	}
	r := run(t, []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}, "", dir, "sha256sum", "-c", "--strict", "SHA256SUMS")
	wantExit(t, r, 0, "sha256sum -c SHA256SUMS")
	if n := strings.Count(r.Stdout, ": OK\n"); n < len(bundleFiles)-1 {
		t.Errorf("sha256sum checked only %d files:\n%s", n, r)
	}
}

// TestFetchBundle downloads and extracts a bundle with fetch-bundle.
func TestFetchBundle(t *testing.T) {
	t.Parallel()
	s := startServe(t, env, nil)
	out, extract := t.TempDir(), filepath.Join(t.TempDir(), "extracted")
	r := ecapi(t, baseEnv(t, s.clientEnv()...), "", "fetch-bundle", "--roles", "controller", "--output-dir", out, "--extract", extract)
	wantExit(t, r, 0, "fetch-bundle --extract")
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "demo-join-controller-") || !strings.HasSuffix(entries[0].Name(), ".tar.gz") {
		t.Fatalf("output dir holds %v, want one demo-join-controller-*.tar.gz\n%s", entries, r)
	}
	if got, want := strings.TrimSpace(r.Stdout), filepath.Join(out, entries[0].Name()); got != want {
		t.Errorf("stdout = %q, want the archive's path %q", got, want)
	}
	if !strings.Contains(r.Stderr, "verified") {
		t.Errorf("stderr does not report the SHA256SUMS check:\n%s", r)
	}
	checkExtractedBundle(t, extract)
}

// bigImageSize makes the bundle large enough that a download is still
// running when the test kills it.
const bigImageSize = 300 << 20

// TestFetchBundleKilledLeavesNothing SIGKILLs fetch-bundle while it writes
// a large bundle: the output directory must stay empty, hidden files too.
func TestFetchBundleKilledLeavesNothing(t *testing.T) {
	t.Parallel()
	s := startServe(t, env, func(dataDir string) {
		// Compressed-looking, so the server streams it as is: the bundle
		// is large without minutes of gzip.
		writeIncompressible(t, filepath.Join(dataDir, "images", "e2e-big-images.tar.zst"), bigImageSize)
	})
	out := t.TempDir()
	f := startBackground(t, baseEnv(t, s.clientEnv()...), ecapiBin, "fetch-bundle", "--roles", "controller", "--output-dir", out)
	// Kill it as soon as bundle bytes reach its file in out.
	var written int64
	f.waitFor(t, 30*time.Second, "fetch-bundle writes into "+out, func() bool {
		written = bytesWrittenUnder(f.cmd.Process.Pid, out)
		return written > 0
	})
	if err := f.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL fetch-bundle: %v (done already? raise bigImageSize)", err)
	}
	<-f.done
	if ws, _ := f.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("fetch-bundle finished before the SIGKILL landed (%v); raise bigImageSize", f.cmd.ProcessState)
	}
	t.Logf("killed fetch-bundle after it wrote %d of about %d bytes", written, bigImageSize)

	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		t.Errorf("a killed download left %v in the output directory", names)
	}
}

// bytesWrittenUnder is how far process pid has written into any file it
// holds open in dir (named, hidden or unnamed O_TMPFILE), read from /proc.
func bytesWrittenUnder(pid int, dir string) int64 {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return 0
	}
	var most int64
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil || !strings.HasPrefix(target, dir+string(os.PathSeparator)) {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "pos:"); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > most {
					most = n
				}
			}
		}
	}
	return most
}

// writeIncompressible writes size bytes of one random MiB repeated: no
// holes, and nothing gzip can shrink within its 32 KiB window.
func writeIncompressible(t *testing.T, path string, size int) {
	t.Helper()
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for left := size; left > 0; left -= len(block) {
		if _, err := f.Write(block[:min(left, len(block))]); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
