package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// SampleECConfig declares the controller role and two custom roles.
const SampleECConfig = `apiVersion: embeddedcluster.replicated.com/v1beta1
kind: Config
spec:
  roles:
    controller:
      name: controller
      labels:
        example.com/tier: control
    custom:
    - name: database
      labels:
        example.com/tier: data
        example.com/disk: ssd
    - name: web frontend
      labels:
        example.com/tier: web
`

// SampleLicense is a multi-node license for app slug "demo" when multiNode.
func SampleLicense(slug string, multiNode bool) string {
	return fmt.Sprintf(`apiVersion: kots.io/v1beta1
kind: License
metadata:
  name: %[1]s-license
spec:
  appSlug: %[1]s
  licenseID: 2bGzTfakeLicenseID0000000000
  customerName: Example Customer
  isEmbeddedClusterMultiNodeEnabled: %[2]t
`, slug, multiNode)
}

// WriteSampleDataDir lays out a data dir as an EC controller has it: the
// EC config, a license, bin/<slug>, a helper binary, charts/ and images/.
func WriteSampleDataDir(dir, slug string, multiNode bool) error {
	files := []struct {
		path string
		mode os.FileMode
		data []byte
	}{
		{"ec-config.yaml", 0o644, []byte(SampleECConfig)},
		{"license.yaml", 0o400, []byte(SampleLicense(slug, multiNode))},
		{filepath.Join("bin", slug), 0o755, []byte("#!/bin/sh\necho \"" + slug + " installer (sample): $*\"\n")},
		{filepath.Join("bin", "kubectl-preflight"), 0o755, []byte("#!/bin/sh\necho preflight ok\n")},
		{filepath.Join("charts", slug+"-1.0.0.tgz"), 0o644, pseudoRandom(256<<10, 1)},
		{filepath.Join("images", "images-amd64.tar"), 0o644, pseudoRandom(1<<20, 2)},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("sample data dir: %w", err)
		}
		_ = os.Chmod(p, 0o600) // license.yaml is 0400 from an earlier run
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return fmt.Errorf("sample data dir: %w", err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return fmt.Errorf("sample data dir: %w", err)
		}
	}
	return nil
}

// pseudoRandom is incompressible, reproducible filler for sample archives.
func pseudoRandom(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
