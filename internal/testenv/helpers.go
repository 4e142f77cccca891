package testenv

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"
)

// BuildECAPI builds the ecapi binary from this checkout into out, for tests
// that run it as users do.
func BuildECAPI(out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/ecapi")
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/ecapi: %w\n%s", err, b)
	}
	return nil
}

// SyncBuffer collects a server's or subprocess's output while tests read it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
