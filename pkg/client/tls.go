package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// PinPrefix starts every SPKI pin, as in curl's --pinnedpubkey.
const PinPrefix = "sha256//"

// PinFromCert returns the certificate's public key pin:
// "sha256//" + base64(SHA-256(SubjectPublicKeyInfo)).
func PinFromCert(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return PinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// Fingerprint returns the SHA-256 fingerprint of the whole certificate in
// the colon-separated hex form openssl prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// ParsePins validates a pin list ("sha256//…;sha256//…") and returns the
// decoded SHA-256 digests.
func ParsePins(pins string) ([][]byte, error) {
	var out [][]byte
	for _, p := range strings.Split(pins, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		b64, ok := strings.CutPrefix(p, PinPrefix)
		if !ok {
			return nil, fmt.Errorf("invalid pin %q: want %s<base64 of a SHA-256>", p, PinPrefix)
		}
		sum, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("invalid pin %q: want %s<base64 of a SHA-256>", p, PinPrefix)
		}
		out = append(out, sum)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("invalid pin %q: empty", pins)
	}
	return out, nil
}

// FetchPin connects to server without verifying its certificate and
// returns the leaf's pin and fingerprint, for trust on first use: show
// them to a human, then pass the pin as Config.Pin.
func FetchPin(ctx context.Context, server string) (pin, fingerprint string, err error) {
	base, err := NormalizeServer(server)
	if err != nil {
		return "", "", err
	}
	u, _ := url.Parse(base) // NormalizeServer produced it
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: dialTimeout},
		// Nothing is sent over this connection: it only reads the certificate.
		Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return "", "", &ConnectionError{Server: base, Err: err}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", "", &TLSError{Server: base, Err: errors.New("server presented no certificate")}
	}
	return PinFromCert(certs[0]), Fingerprint(certs[0]), nil
}

// verifier checks the server's certificate in tls.Config.VerifyConnection.
// Go's own verification is switched off so that this one function sees
// every certificate, and so can report the pin of one it rejects.
type verifier struct {
	host     string         // host name or IP the certificate must name
	pins     [][]byte       // accepted SPKI digests; none: no pinning
	roots    *x509.CertPool // nil: the system's roots
	withCA   bool           // roots came from a CA file
	insecure bool           // accept anything
}

func newTLSConfig(cfg Config, host string) (*tls.Config, error) {
	v := &verifier{host: host, insecure: cfg.InsecureSkipVerify}
	if cfg.Pin != "" {
		pins, err := ParsePins(cfg.Pin)
		if err != nil {
			return nil, err
		}
		v.pins = pins
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		v.roots, v.withCA = pool, true
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // verification is done by VerifyConnection
		VerifyConnection:   v.verifyConnection,
	}, nil
}

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return &TLSError{Err: errors.New("server presented no certificate")}
	}
	leaf := cs.PeerCertificates[0]
	presented := PinFromCert(leaf)
	if v.insecure {
		return nil
	}
	if len(v.pins) > 0 {
		if !v.pinMatches(leaf) {
			return &TLSError{Pin: presented, Cert: leaf, Err: ErrPinMismatch}
		}
		if !v.withCA {
			return nil
		}
	}
	opts := x509.VerifyOptions{Roots: v.roots, DNSName: v.host, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return &TLSError{Pin: presented, Cert: leaf, Err: err}
	}
	return nil
}

func (v *verifier) pinMatches(leaf *x509.Certificate) bool {
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	match := 0
	for _, p := range v.pins {
		match |= subtle.ConstantTimeCompare(sum[:], p)
	}
	return match == 1
}
