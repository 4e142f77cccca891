package fetchbundle

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// pendingFile is a download that becomes visible under its name only once
// complete. Where the system allows (Linux, O_TMPFILE), it has no name at
// all until then, so even a SIGKILL leaves nothing behind; elsewhere it is
// a hidden ".NAME.partial-*" file removed on failure or interrupt.
type pendingFile struct {
	*os.File
	dir  string
	base string
	// path is the file's hidden name; empty while it has none.
	path string
}

func createPending(dest string) (*pendingFile, error) {
	dir, base := filepath.Dir(dest), filepath.Base(dest)
	if f, err := openAnonymous(dir); err == nil {
		return &pendingFile{File: f, dir: dir, base: base}, nil
	}
	f, err := os.CreateTemp(dir, "."+base+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	return &pendingFile{File: f, dir: dir, base: base, path: f.Name()}, nil
}

// commit syncs and closes the file and moves it to dir/base, replacing any
// file there atomically.
func (p *pendingFile) commit() error {
	if err := p.Sync(); err != nil {
		return fmt.Errorf("sync download: %w", err)
	}
	if p.path == "" {
		// Give the anonymous file a hidden name first: linkat cannot
		// replace an existing file, rename can.
		tmp := filepath.Join(p.dir, "."+p.base+".partial-"+randomSuffix())
		if err := linkAnonymous(p.File, tmp); err != nil {
			return fmt.Errorf("link download into %s: %w", p.dir, err)
		}
		p.path = tmp
	}
	if err := p.Close(); err != nil {
		return err
	}
	if err := os.Rename(p.path, filepath.Join(p.dir, p.base)); err != nil {
		return fmt.Errorf("rename download into place: %w", err)
	}
	return nil
}

// discard drops an unfinished download.
func (p *pendingFile) discard() {
	_ = p.Close()
	if p.path != "" {
		_ = os.Remove(p.path)
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
