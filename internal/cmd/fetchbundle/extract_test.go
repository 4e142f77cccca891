package fetchbundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// entry is one tar entry of a test archive.
type entry struct {
	name     string
	body     string
	mode     int64
	typeflag byte // default: regular file
	linkname string
}

// makeArchive builds a gzip'd tar of entries; with sums, it appends a
// SHA256SUMS of every regular file, as the server does.
func makeArchive(t *testing.T, sums bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	var lines []string
	write := func(e entry) {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typeflag, Linkname: e.linkname}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range entries {
		write(e)
		if e.typeflag == 0 || e.typeflag == tar.TypeReg {
			sum := sha256.Sum256([]byte(e.body))
			lines = append(lines, hex.EncodeToString(sum[:])+"  "+strings.TrimPrefix(e.name, "./"))
		}
	}
	if sums {
		sort.Strings(lines)
		write(entry{name: sumsFile, body: strings.Join(lines, "\n") + "\n"})
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goodBundle looks like a real join bundle.
func goodBundle(t *testing.T) []byte {
	return makeArchive(t, true,
		entry{name: "demo", body: "#!/bin/sh\necho join\n", mode: 0o755},
		entry{name: "license.yaml", body: "kind: License\n", mode: 0o600},
		entry{name: "k0s-join-token", body: "H4sIAAAA", mode: 0o600},
		entry{name: "cluster-seed.json", body: `{"clusterID":"x"}`},
		entry{name: "embedded-cluster/", typeflag: tar.TypeDir, mode: 0o755},
		entry{name: "./embedded-cluster/charts/app.tgz", body: "chart"},
		entry{name: "embedded-cluster/bin/helper", body: "helper", mode: 0o4755},
		entry{name: "embedded-cluster/bin/helper-link", typeflag: tar.TypeSymlink, linkname: "helper"},
		entry{name: "embedded-cluster/images/same.tar", typeflag: tar.TypeLink, linkname: "embedded-cluster/charts/app.tgz"},
	)
}

func writeArchive(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExtractAndVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "join")
	sums, err := extractArchive(context.Background(), writeArchive(t, goodBundle(t)), dir)
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	n, err := verifySums(dir, sums)
	if err != nil || n != 6 {
		t.Fatalf("verifySums = %d, %v; want 6 files verified", n, err)
	}
	for name, want := range map[string]os.FileMode{
		"demo": 0o755, "license.yaml": 0o600, "k0s-join-token": 0o600, "cluster-seed.json": 0o644,
		"embedded-cluster/bin/helper": 0o755, // setuid dropped
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode(), want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "embedded-cluster/bin/helper-link")); err != nil || target != "helper" {
		t.Errorf("symlink = %q, %v", target, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "embedded-cluster/images/same.tar")); err != nil || string(data) != "chart" {
		t.Errorf("hard link = %q, %v", data, err)
	}

	// Extracting again over the same directory works.
	if _, err := extractArchive(context.Background(), writeArchive(t, goodBundle(t)), dir); err != nil {
		t.Errorf("second extraction: %v", err)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		entries []entry
	}{
		{"absolute path", "absolute path", []entry{{name: "/tmp/evil", body: "x"}}},
		{"dot dot", "escapes", []entry{{name: "../evil", body: "x"}}},
		{"dot dot inside", "escapes", []entry{{name: "a/../../evil", body: "x"}}},
		{"absolute symlink", "absolute path", []entry{{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}}},
		{"symlink out", "outside the directory", []entry{{name: "a/link", typeflag: tar.TypeSymlink, linkname: "../../evil"}}},
		{"hard link out", "escapes", []entry{{name: "link", typeflag: tar.TypeLink, linkname: "../evil"}}},
		{"write through symlinked directory", "is a symlink", []entry{
			{name: "a", typeflag: tar.TypeSymlink, linkname: "."},
			{name: "a/link", typeflag: tar.TypeSymlink, linkname: "../evil"},
		}},
		{"character device", "device files", []entry{{name: "null", typeflag: tar.TypeChar}}},
		{"block device", "device files", []entry{{name: "sda", typeflag: tar.TypeBlock}}},
		{"fifo", "FIFOs", []entry{{name: "fifo", typeflag: tar.TypeFifo}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "out")
			_, err := extractArchive(context.Background(), writeArchive(t, makeArchive(t, false, tt.entries...)), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it refused with %q", err, tt.want)
			}
			if _, err := os.Lstat(filepath.Join(base, "evil")); !os.IsNotExist(err) {
				t.Errorf("a file was written outside the directory")
			}
		})
	}
}

func TestVerifySumsFailures(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"no SHA256SUMS", []entry{{name: "a", body: "a"}}, "no SHA256SUMS"},
		{"listed file missing", []entry{{name: sumsFile, body: sum("a") + "  a\n" + sum("b") + "  b\n"}, {name: "a", body: "a"}}, "b: missing from the bundle"},
		{"digest differs", []entry{{name: sumsFile, body: sum("a") + "  a\n"}, {name: "a", body: "tampered"}}, "a: checksum differs"},
		{"malformed line", []entry{{name: sumsFile, body: "nonsense\n"}}, "line 1"},
		{"path escapes", []entry{{name: sumsFile, body: sum("a") + "  ../a\n"}}, "escapes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sums, err := extractArchive(context.Background(), writeArchive(t, makeArchive(t, false, tt.entries...)), dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = verifySums(dir, sums)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseSumLine(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for line, want := range map[string]string{sum + "  demo": "demo", sum + " *bin/x": "bin/x", strings.ToUpper(sum) + "  ./a": "a"} {
		got, name, err := parseSumLine(line)
		if err != nil || name != want || got != sum {
			t.Errorf("parseSumLine(%q) = %q, %q, %v", line, got, name, err)
		}
	}
	for _, bad := range []string{"", sum, sum + " demo", "zz" + sum[2:] + "  demo", sum + "  /etc/passwd"} {
		if _, _, err := parseSumLine(bad); err == nil {
			t.Errorf("parseSumLine(%q) accepted", bad)
		}
	}
}
