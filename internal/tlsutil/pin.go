// Package tlsutil holds the daemon's certificate handling: the self-signed
// certificate made at first start, hot reloading, and SPKI pins.
package tlsutil

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
)

// SPKIPin is the curl --pinnedpubkey form of a certificate's public key:
// sha256//<base64 of SHA-256 of the SubjectPublicKeyInfo>.
func SPKIPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// CAHash is kubeadm's discovery hash of a CA: sha256:<hex of SHA-256 of its SPKI>.
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFirstCertificate parses the first certificate of a PEM bundle.
func ParseFirstCertificate(pemData []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
