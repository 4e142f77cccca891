package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often a handshake looks at the files.
const checkEvery = time.Second

// Reloader serves a certificate pair from disk and picks up new files on the
// next handshake after they change, without a restart and without touching
// established connections.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	lastCheck time.Time
}

// NewReloader loads the pair once; a broken pair at start is an error.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: logger}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is the tls.Config hook.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= checkEvery {
		r.lastCheck = time.Now()
		if r.fileStamp() != r.stamp {
			if err := r.loadLocked(); err != nil {
				// Keep serving the old pair: a half-copied file must not take the API down.
				r.logger.Warn("certificate reload failed, keeping the current one", "err", err)
			}
		}
	}
	return r.cert, nil
}

// Leaf is the certificate currently served.
func (r *Reloader) Leaf() *x509.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert.Leaf
}

// Pin is the SPKI pin of the certificate currently served.
func (r *Reloader) Pin() string { return SPKIPin(r.Leaf()) }

func (r *Reloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *Reloader) loadLocked() error {
	stamp := r.fileStamp()
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("parse TLS certificate %s: %w", r.certFile, err)
		}
	}
	if r.cert != nil {
		r.logger.Info("TLS certificate reloaded", "pin", SPKIPin(pair.Leaf), "notAfter", pair.Leaf.NotAfter)
	}
	r.cert, r.stamp = &pair, stamp
	return nil
}

func (r *Reloader) fileStamp() string {
	s := ""
	for _, f := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}
