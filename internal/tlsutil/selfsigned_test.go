package tlsutil_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/tlsutil"
)

var t0 = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readFile(t, path))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no CERTIFICATE block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func ensure(t *testing.T, dir string, hosts []string, now time.Time) (certFile, keyFile string, renewed bool) {
	t.Helper()
	certFile, keyFile, renewed, err := tlsutil.EnsureSelfSigned(dir, hosts, now)
	if err != nil {
		t.Fatalf("EnsureSelfSigned(%v): %v", hosts, err)
	}
	return certFile, keyFile, renewed
}

// verifyFor checks the certificate verifies as its own root for host.
func verifyFor(cert *x509.Certificate, host string, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	_, err := cert.Verify(x509.VerifyOptions{
		DNSName: host, Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestEnsureSelfSignedCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	hosts := []string{"10.0.0.11", "controller-0.example", "", "::1", "127.0.0.1"}
	certFile, keyFile, renewed := ensure(t, dir, hosts, t0)
	if !renewed {
		t.Error("first call reports renewed=false")
	}
	if certFile != filepath.Join(dir, "tls.crt") || keyFile != filepath.Join(dir, "tls.key") {
		t.Errorf("files %s %s", certFile, keyFile)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	if m := mode(t, keyFile); m != 0o600 {
		t.Errorf("key mode %o, want 600", m)
	}
	if m := mode(t, certFile); m != 0o644 {
		t.Errorf("cert mode %o, want 644", m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want only tls.crt and tls.key (no temp files)", len(entries))
	}

	block, _ := pem.Decode(readFile(t, keyFile))
	if block == nil || block.Type != "EC PRIVATE KEY" {
		t.Fatal("key file holds no EC PRIVATE KEY")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if key.Curve != elliptic.P256() {
		t.Errorf("curve %s, want P-256", key.Curve.Params().Name)
	}

	cert := parseCertFile(t, certFile)
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Error("certificate is not a CA")
	}
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Error("certificate is not for the key")
	}
	if !slices.Equal(cert.DNSNames, []string{"controller-0.example"}) {
		t.Errorf("DNS SANs %v", cert.DNSNames)
	}
	wantIPs := []net.IP{net.ParseIP("10.0.0.11"), net.ParseIP("::1"), net.ParseIP("127.0.0.1")}
	if !slices.EqualFunc(cert.IPAddresses, wantIPs, net.IP.Equal) {
		t.Errorf("IP SANs %v, want %v", cert.IPAddresses, wantIPs)
	}
	if !cert.NotAfter.Equal(t0.Add(tlsutil.SelfSignedLifetime)) || cert.NotBefore.After(t0) {
		t.Errorf("validity %v – %v", cert.NotBefore, cert.NotAfter)
	}
	for _, h := range []string{"10.0.0.11", "controller-0.example", "::1", "127.0.0.1"} {
		if err := verifyFor(cert, h, t0); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if err := verifyFor(cert, "other.example", t0); err == nil {
		t.Error("certificate verifies for a host it does not name")
	}
}

func TestEnsureSelfSignedReuseAndRenew(t *testing.T) {
	hosts := []string{"10.0.0.11", "ctrl.example"}
	notAfter := t0.Add(tlsutil.SelfSignedLifetime)
	cases := []struct {
		name        string
		hosts       []string
		now         time.Time
		wantRenewed bool
	}{
		{"same hosts", hosts, t0.Add(time.Hour), false},
		{"subset of hosts", hosts[:1], t0, false},
		{"hosts reordered", []string{"ctrl.example", "10.0.0.11"}, t0, false},
		{"empty host ignored", append([]string{""}, hosts...), t0, false},
		{"no hosts", nil, t0, false},
		{"IP written differently", []string{"10.0.0.11", "::ffff:10.0.0.11"}, t0, false},
		{"new IP", append(hosts, "10.0.0.12"), t0, true},
		{"new DNS name", append(hosts, "api.example"), t0, true},
		{"31 days before expiry", hosts, notAfter.Add(-31 * 24 * time.Hour), false},
		{"10 days before expiry", hosts, notAfter.Add(-10 * 24 * time.Hour), true},
		{"expired", hosts, notAfter.Add(time.Hour), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile, _ := ensure(t, dir, hosts, t0)
			before := parseCertFile(t, certFile)
			certBytes, keyBytes := readFile(t, certFile), readFile(t, keyFile)

			_, _, renewed := ensure(t, dir, tc.hosts, tc.now)
			if renewed != tc.wantRenewed {
				t.Fatalf("renewed=%v, want %v", renewed, tc.wantRenewed)
			}
			if !bytes.Equal(readFile(t, keyFile), keyBytes) {
				t.Fatal("the key changed")
			}
			after := parseCertFile(t, certFile)
			if tlsutil.SPKIPin(after) != tlsutil.SPKIPin(before) {
				t.Error("the pin changed")
			}
			if !tc.wantRenewed {
				if !bytes.Equal(readFile(t, certFile), certBytes) {
					t.Error("certificate rewritten although it was reused")
				}
				return
			}
			if bytes.Equal(after.Raw, before.Raw) {
				t.Fatal("certificate not rewritten")
			}
			if !after.NotAfter.Equal(tc.now.Add(tlsutil.SelfSignedLifetime)) {
				t.Errorf("NotAfter %v, want %v", after.NotAfter, tc.now.Add(tlsutil.SelfSignedLifetime))
			}
			for _, h := range tc.hosts {
				if h == "" {
					continue
				}
				if err := verifyFor(after, h, tc.now); err != nil {
					t.Errorf("renewed certificate for %s: %v", h, err)
				}
			}
			// A renewal is stable: the next call reuses it.
			if _, _, again := ensure(t, dir, tc.hosts, tc.now); again {
				t.Error("renewed twice in a row")
			}
		})
	}
}

func TestEnsureSelfSignedRepairs(t *testing.T) {
	hosts := []string{"127.0.0.1"}
	t.Run("garbage certificate is replaced with the same key", func(t *testing.T) {
		dir := t.TempDir()
		certFile, _, _ := ensure(t, dir, hosts, t0)
		pin := tlsutil.SPKIPin(parseCertFile(t, certFile))
		if err := os.WriteFile(certFile, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, renewed := ensure(t, dir, hosts, t0); !renewed {
			t.Error("garbage certificate was kept")
		}
		if got := tlsutil.SPKIPin(parseCertFile(t, certFile)); got != pin {
			t.Errorf("pin %s, want %s", got, pin)
		}
	})
	t.Run("certificate for another key is replaced", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		_, keyFile, _ := ensure(t, dir, hosts, t0)
		otherCert, _, _ := ensure(t, other, hosts, t0)
		certFile := filepath.Join(dir, "tls.crt")
		if err := os.WriteFile(certFile, readFile(t, otherCert), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, renewed := ensure(t, dir, hosts, t0); !renewed {
			t.Fatal("certificate of another key was kept")
		}
		block, _ := pem.Decode(readFile(t, keyFile))
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if !parseCertFile(t, certFile).PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
			t.Error("certificate does not match the kept key")
		}
	})
	t.Run("corrupt key is an error, not silently replaced", func(t *testing.T) {
		dir := t.TempDir()
		_, keyFile, _ := ensure(t, dir, hosts, t0)
		for _, content := range []string{"not pem", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"} {
			if err := os.WriteFile(keyFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := tlsutil.EnsureSelfSigned(dir, hosts, t0); err == nil {
				t.Errorf("key %q accepted", content)
			}
			if got := string(readFile(t, keyFile)); got != content {
				t.Error("corrupt key was overwritten")
			}
		}
	})
	t.Run("dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := tlsutil.EnsureSelfSigned(file, hosts, t0); err == nil {
			t.Error("EnsureSelfSigned into a file succeeded")
		}
	})
}

func TestPins(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := &x509.Certificate{RawSubjectPublicKeyInfo: spki}
	sum := sha256.Sum256(spki)

	pin := tlsutil.SPKIPin(cert)
	if want := "sha256//" + base64.StdEncoding.EncodeToString(sum[:]); pin != want {
		t.Errorf("SPKIPin %q, want %q", pin, want)
	}
	if !regexp.MustCompile(`^sha256//[A-Za-z0-9+/]{43}=$`).MatchString(pin) {
		t.Errorf("SPKIPin %q is not curl's form", pin)
	}
	hash := tlsutil.CAHash(cert)
	if want := "sha256:" + hex.EncodeToString(sum[:]); hash != want {
		t.Errorf("CAHash %q, want %q", hash, want)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(hash) {
		t.Errorf("CAHash %q is not kubeadm's form", hash)
	}

	// A real certificate: the pin is over its SPKI, not the whole certificate.
	certFile, _, _ := ensure(t, t.TempDir(), []string{"127.0.0.1"}, t0)
	c := parseCertFile(t, certFile)
	sum = sha256.Sum256(c.RawSubjectPublicKeyInfo)
	if tlsutil.SPKIPin(c) != "sha256//"+base64.StdEncoding.EncodeToString(sum[:]) {
		t.Error("pin of a real certificate is not over its SPKI")
	}
	whole := sha256.Sum256(c.Raw)
	if tlsutil.CAHash(c) == "sha256:"+hex.EncodeToString(whole[:]) {
		t.Error("CAHash hashes the whole certificate")
	}
}
