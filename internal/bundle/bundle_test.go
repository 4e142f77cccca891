package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/bundle/bundletest"
)

const slug = "demo"

var modTime = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func dynamicFiles() []File {
	return []File{
		{Name: "license.yaml", Mode: 0o600, Data: []byte("apiVersion: kots.io/v1beta1\nkind: License\n")},
		{Name: "k0s-join-token", Mode: 0o600, Data: []byte("H4sIAAAAAAAA/token")},
		{Name: "cluster-seed.json", Mode: 0o644, Data: []byte(`{"clusterID":"abc"}`)},
		{Name: "cluster-seed.json.sig", Mode: 0o644, Data: []byte("sig")},
		{Name: "cluster-seed.pub", Mode: 0o644, Data: []byte("pub")},
	}
}

// fileSpec is one file of the test data dir and what the bundle must hold.
type fileSpec struct {
	rel  string // path under the data dir
	name string // path in the archive
	mode fs.FileMode
}

var dataDirFiles = []fileSpec{
	{"bin/demo", "demo", 0o755},
	{"bin/helper", "embedded-cluster/bin/helper", 0o755},
	{"charts/app-1.0.0.tgz", "embedded-cluster/charts/app-1.0.0.tgz", 0o644},
	{"charts/sub/values.yaml", "embedded-cluster/charts/sub/values.yaml", 0o644},
	{"images/ec-images-amd64.tar", "embedded-cluster/images/ec-images-amd64.tar", 0o644},
	{"images/empty.txt", "embedded-cluster/images/empty.txt", 0o644},
	{"images/extra.tar.gz", "embedded-cluster/images/extra.tar.gz", 0o644},
}

// makeDataDir writes a small data dir with compressible and incompressible
// members, a multi-block stored member, an empty file and refused symlinks.
func makeDataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	gen := map[string]func(io.Writer) error{
		"bin/demo": func(w io.Writer) error { return bundletest.BinaryLike(w, rng, 300<<10) },
		"bin/helper": func(w io.Writer) error {
			_, err := io.WriteString(w, strings.Repeat("#!/bin/sh\necho hi\n", 50))
			return err
		},
		"charts/app-1.0.0.tgz":       func(w io.Writer) error { return bundletest.Random(w, rng, 100_000) },
		"charts/sub/values.yaml":     func(w io.Writer) error { _, err := io.WriteString(w, "replicas: 1\n"); return err },
		"images/ec-images-amd64.tar": func(w io.Writer) error { return bundletest.ImageTar(w, rng, 1_200_000) },
		"images/empty.txt":           func(io.Writer) error { return nil },
		"images/extra.tar.gz":        func(w io.Writer) error { return bundletest.Random(w, rng, 140_001) },
	}
	for _, f := range dataDirFiles {
		var buf bytes.Buffer
		if err := gen[f.rel](&buf); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f.rel), buf.Bytes(), time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC))
	}
	for link, target := range map[string]string{
		"bin/link":     "helper",
		"images/evil":  "/etc/passwd",
		"charts/outer": "../../",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t testing.TB, p string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func openBytes(t testing.TB, s *Store, dynamic []File) ([]byte, string) {
	t.Helper()
	b, err := s.Open(context.Background(), dynamic, modTime)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read bundle: %v", err)
	}
	if int64(len(data)) != b.Size() {
		t.Fatalf("read %d bytes, Size() = %d", len(data), b.Size())
	}
	return data, b.ETag()
}

func TestBundleExtractsWithTarAndVerifiesWithSha256sum(t *testing.T) {
	dataDir := makeDataDir(t)
	s := NewStore(dataDir, slug, filepath.Join(t.TempDir(), "cache"), nil)
	data, _ := openBytes(t, s, dynamicFiles())

	work := t.TempDir()
	archive := filepath.Join(work, "demo-join.tar.gz")
	if err := os.WriteFile(archive, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, out, "tar", "xzf", archive)
	run(t, out, "sha256sum", "--strict", "-c", "SHA256SUMS")

	for _, f := range dataDirFiles {
		checkExtracted(t, out, f.name, f.mode, mustRead(t, filepath.Join(dataDir, f.rel)))
	}
	for _, f := range dynamicFiles() {
		checkExtracted(t, out, f.Name, fs.FileMode(f.Mode), f.Data)
	}
	sums := string(mustRead(t, filepath.Join(out, "SHA256SUMS")))
	checkExtracted(t, out, "SHA256SUMS", 0o644, []byte(sums))
	if got, want := strings.Count(sums, "\n"), len(dataDirFiles)+len(dynamicFiles()); got != want {
		t.Errorf("SHA256SUMS has %d lines, want %d:\n%s", got, want, sums)
	}
	for _, refused := range []string{"embedded-cluster/bin/link", "embedded-cluster/images/evil", "embedded-cluster/charts/outer"} {
		if _, err := os.Lstat(filepath.Join(out, refused)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("symlink %s was not refused (lstat: %v)", refused, err)
		}
	}
	for _, d := range []string{"embedded-cluster", "embedded-cluster/charts/sub", "embedded-cluster/images"} {
		fi, err := os.Stat(filepath.Join(out, d))
		if err != nil || fi.Mode() != fs.ModeDir|0o755 {
			t.Errorf("directory %s: %v, mode %v; want drwxr-xr-x", d, err, fi.Mode())
		}
	}

	listing := run(t, work, "tar", "tzvf", archive)
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		if !strings.Contains(line, " root/root ") {
			t.Errorf("entry not owned by root/root: %s", line)
		}
	}
}

func checkExtracted(t *testing.T, root, name string, mode fs.FileMode, want []byte) {
	t.Helper()
	p := filepath.Join(root, name)
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s not extracted: %v", name, err)
		return
	}
	if fi.Mode() != mode {
		t.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
	}
	if got := mustRead(t, p); !bytes.Equal(got, want) {
		t.Errorf("%s: content differs from its source (%d bytes, want %d)", name, len(got), len(want))
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBundleReadsWithGoGzipAndTar(t *testing.T) {
	dataDir := makeDataDir(t)
	s := NewStore(dataDir, slug, t.TempDir(), nil)
	data, _ := openBytes(t, s, dynamicFiles())

	zr, err := gzip.NewReader(bytes.NewReader(data)) // multistream by default
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	sums := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		names = append(names, hdr.Name)
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "root" || hdr.Gname != "root" {
			t.Errorf("%s: owner %d/%d %s/%s, want 0/0 root/root", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			sum := sha256.Sum256(body)
			sums[hdr.Name] = hex.EncodeToString(sum[:])
		}
		wantTime := modTime
		if src := sourceOf(hdr.Name); src != "" {
			fi, err := os.Stat(filepath.Join(dataDir, src))
			if err != nil {
				t.Fatal(err)
			}
			wantTime = fi.ModTime().Truncate(time.Second)
		}
		if !hdr.ModTime.Equal(wantTime) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, wantTime)
		}
	}
	if _, err := zr.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("data after the tar trailer: %v", err)
	}

	want := []string{"demo", "license.yaml", "k0s-join-token", "cluster-seed.json", "cluster-seed.json.sig", "cluster-seed.pub",
		"embedded-cluster/", "embedded-cluster/bin/", "embedded-cluster/bin/helper",
		"embedded-cluster/charts/", "embedded-cluster/charts/app-1.0.0.tgz",
		"embedded-cluster/charts/sub/", "embedded-cluster/charts/sub/values.yaml",
		"embedded-cluster/images/", "embedded-cluster/images/ec-images-amd64.tar",
		"embedded-cluster/images/empty.txt", "embedded-cluster/images/extra.tar.gz", "SHA256SUMS"}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}

	var wantSums strings.Builder
	for _, n := range want {
		if n != "SHA256SUMS" && !strings.HasSuffix(n, "/") {
			fmt.Fprintf(&wantSums, "%s  %s\n", sums[n], n)
		}
	}
	if got := sumsFile(t, data); got != wantSums.String() {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", got, wantSums.String())
	}
}

func sourceOf(name string) string {
	for _, f := range dataDirFiles {
		if f.name == name {
			return f.rel
		}
	}
	return ""
}

func sumsFile(t *testing.T, data []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no SHA256SUMS: %v", err)
		}
		if hdr.Name == "SHA256SUMS" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

func TestStaticMembersAreCompressedOrStoredByContent(t *testing.T) {
	dataDir := makeDataDir(t)
	cache := t.TempDir()
	s := NewStore(dataDir, slug, cache, nil)
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range s.members {
		stored[m.src.name] = m.meta.Stored
	}
	for name, want := range map[string]bool{
		"demo":                        false, // compressible binary
		"embedded-cluster/bin/helper": false,
		"embedded-cluster/images/ec-images-amd64.tar": true, // no extension hint: sampled
		"embedded-cluster/images/extra.tar.gz":        true, // by extension
		"embedded-cluster/charts/app-1.0.0.tgz":       true,
	} {
		if got, ok := stored[name]; !ok || got != want {
			t.Errorf("%s: stored=%v (known %v), want stored=%v", name, got, ok, want)
		}
	}
	gz, err := filepath.Glob(filepath.Join(cache, "*.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(gz) != 4 { // demo, helper, values.yaml, empty.txt
		t.Errorf("%d gzip cache files, want 4: %v", len(gz), gz)
	}
	for _, m := range s.members {
		if m.src.name == "demo" {
			if m.part.size() >= m.src.id.size/2 {
				t.Errorf("binary member is %d bytes for %d bytes of source: not compressed", m.part.size(), m.src.id.size)
			}
		}
	}
	fi, err := os.Stat(cache)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("cache file %s mode %v (%v), want 0600", e.Name(), info.Mode().Perm(), err)
		}
	}
}

func TestBundleIsDeterministic(t *testing.T) {
	dataDir := makeDataDir(t)
	cache := t.TempDir()
	first, etag1 := openBytes(t, NewStore(dataDir, slug, cache, nil), dynamicFiles())
	again, etag2 := openBytes(t, NewStore(dataDir, slug, cache, nil), dynamicFiles())
	fresh, etag3 := openBytes(t, NewStore(dataDir, slug, t.TempDir(), nil), dynamicFiles())
	if !bytes.Equal(first, again) || !bytes.Equal(first, fresh) {
		t.Fatal("identical inputs gave different bundle bytes")
	}
	if etag1 != etag2 || etag1 != etag3 {
		t.Fatalf("ETags differ for identical inputs: %s %s %s", etag1, etag2, etag3)
	}
	if !strings.HasPrefix(etag1, `"`) || !strings.HasSuffix(etag1, `"`) || strings.HasPrefix(etag1, `W/`) {
		t.Errorf("ETag %s is not a strong quoted tag", etag1)
	}

	other := dynamicFiles()
	other[1].Data = []byte("another token")
	changed, etag4 := openBytes(t, NewStore(dataDir, slug, cache, nil), other)
	if bytes.Equal(first, changed) || etag4 == etag1 {
		t.Error("a different dynamic file gave the same bundle or ETag")
	}
}

func TestSeekingGivesTheSuffixOfTheFullRead(t *testing.T) {
	s := NewStore(makeDataDir(t), slug, t.TempDir(), nil)
	full, _ := openBytes(t, s, dynamicFiles())
	b, err := s.Open(context.Background(), dynamicFiles(), modTime)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	size := int64(len(full))
	offsets := []int64{0, 1, 9, 10, 11, 511, 512, 513, 65545, 65546, size/3 + 7, size / 2, size - 1025, size - 8, size - 1, size}
	for _, start := range b.body.starts { // every member boundary and its neighbours
		offsets = append(offsets, start-1, start, start+1, start+14, start+15, start+16)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		offsets = append(offsets, rng.Int64N(size))
	}
	for _, off := range offsets {
		if off < 0 {
			continue
		}
		if _, err := b.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		// Odd buffer sizes make reads straddle stored-block and member edges.
		got, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{b}, size))
		if err != nil {
			t.Fatalf("read from %d: %v", off, err)
		}
		if !bytes.Equal(got, full[off:]) {
			t.Fatalf("read from offset %d: %d bytes that differ from the full read's suffix (%d bytes)", off, len(got), len(full[off:]))
		}
	}
	for _, tc := range []struct {
		off    int64
		whence int
		want   int64
	}{{-10, io.SeekEnd, size - 10}, {5, io.SeekCurrent, size - 5}, {size + 5, io.SeekStart, size + 5}} {
		pos, err := b.Seek(tc.off, tc.whence)
		if err != nil || pos != tc.want {
			t.Errorf("Seek(%d, %d) = %d, %v; want %d", tc.off, tc.whence, pos, err, tc.want)
		}
	}
	if n, err := b.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("read past the end: %d, %v; want 0, EOF", n, err)
	}
	if _, err := b.Seek(-1, io.SeekStart); err == nil {
		t.Error("seek to a negative position succeeded")
	}
}

func TestMissingBinary(t *testing.T) {
	dataDir := makeDataDir(t)
	if err := os.Remove(filepath.Join(dataDir, "bin", slug)); err != nil {
		t.Fatal(err)
	}
	s := NewStore(dataDir, slug, t.TempDir(), nil)
	if _, err := s.Open(context.Background(), dynamicFiles(), modTime); !errors.Is(err, ErrMissingBinary) {
		t.Errorf("Open without the binary: %v, want ErrMissingBinary", err)
	}
	if err := os.Symlink("helper", filepath.Join(dataDir, "bin", slug)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background(), dynamicFiles(), modTime); !errors.Is(err, ErrMissingBinary) {
		t.Errorf("Open with a symlinked binary: %v, want ErrMissingBinary", err)
	}
	if err := s.Warm(context.Background()); !errors.Is(err, ErrMissingBinary) {
		t.Errorf("Warm without the binary: %v, want ErrMissingBinary", err)
	}
}

func TestDynamicFilesAreValidated(t *testing.T) {
	s := NewStore(makeDataDir(t), slug, t.TempDir(), nil)
	for _, f := range []File{
		{Name: "../escape", Mode: 0o644},
		{Name: "/abs", Mode: 0o644},
		{Name: "", Mode: 0o644},
		{Name: "a\\b", Mode: 0o644},
		{Name: "line\nbreak", Mode: 0o644},
		{Name: slug, Mode: 0o644},
		{Name: "SHA256SUMS", Mode: 0o644},
		{Name: "embedded-cluster/bin/x", Mode: 0o644},
		{Name: "license.yaml", Mode: 0o644}, // duplicate of the first
		{Name: "setuid", Mode: 0o4755},
	} {
		files := []File{{Name: "license.yaml", Mode: 0o600}, f}
		if b, err := s.Open(context.Background(), files, modTime); err == nil {
			b.Close()
			t.Errorf("dynamic file %q mode %o accepted", f.Name, f.Mode)
		}
	}
}

func TestCacheIsReusedAndRebuiltAfterChange(t *testing.T) {
	dataDir := makeDataDir(t)
	cache := t.TempDir()
	s := NewStore(dataDir, slug, cache, nil)
	before, _ := openBytes(t, s, dynamicFiles())
	built := s.builds.Load()
	if built != int64(len(dataDirFiles)) {
		t.Fatalf("first Open built %d members, want %d", built, len(dataDirFiles))
	}
	openBytes(t, s, dynamicFiles())
	if got := s.builds.Load(); got != built {
		t.Errorf("second Open built %d more members, want 0", got-built)
	}
	restarted := NewStore(dataDir, slug, cache, nil)
	if err := restarted.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := restarted.builds.Load(); got != 0 {
		t.Errorf("a new Store on the same cache built %d members, want 0", got)
	}

	cacheFiles := func() []string {
		names, err := filepath.Glob(filepath.Join(cache, "*"))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	oldFiles := cacheFiles()

	// A new version of the binary: same size, new content and mtime.
	binPath := filepath.Join(dataDir, "bin", slug)
	newBin := bytes.Repeat([]byte("new binary "), len(mustRead(t, binPath))/11)
	writeFile(t, binPath, newBin, time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC))
	after, _ := openBytes(t, s, dynamicFiles())
	if got := s.builds.Load() - built; got != 1 {
		t.Errorf("after changing one source %d members were built, want 1", got)
	}
	if bytes.Equal(before, after) {
		t.Fatal("bundle unchanged after its binary changed")
	}
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "b.tgz"), after, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, out, "tar", "xzf", "b.tgz", slug)
	if !bytes.Equal(mustRead(t, filepath.Join(out, slug)), newBin) {
		t.Error("bundle does not carry the new binary")
	}

	// Warm drops the old version's cache files and keeps the current ones.
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := cacheFiles()
	if len(now) != len(oldFiles) {
		t.Errorf("cache holds %d files after Warm, want %d (stale ones removed)", len(now), len(oldFiles))
	}
	openBytes(t, s, dynamicFiles())
	if got := s.builds.Load() - built; got != 1 {
		t.Errorf("Warm's garbage collection removed a current member: %d builds, want 1", got)
	}
}

func TestGarbageCollectionKeepsFilesOfOpenBundles(t *testing.T) {
	dataDir := makeDataDir(t)
	s := NewStore(dataDir, slug, t.TempDir(), nil)
	want, _ := openBytes(t, s, dynamicFiles())
	b, err := s.Open(context.Background(), dynamicFiles(), modTime)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The helper changes and Warm collects its old member while b still
	// needs it: b must keep serving the version it was opened with.
	helper := filepath.Join(dataDir, "bin", "helper")
	old := mustRead(t, helper)
	writeFile(t, helper, []byte("changed"), time.Now())
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, helper, old, time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)) // the stored sources must match again
	// Restoring the old mtime gives a new ctime: the old key is gone for good
	// and only b's pin kept its cache file alive.
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("open bundle broke after garbage collection: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("open bundle changed after garbage collection")
	}
}

func TestSourceChangedMidDownloadFailsCleanly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 1000); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewritten with the same size", func(t *testing.T, p string) {
			data := mustRead(t, p)
			data[len(data)/2] ^= 0xff
			writeFile(t, p, data, time.Now())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := makeDataDir(t)
			s := NewStore(dataDir, slug, t.TempDir(), nil)
			b, err := s.Open(context.Background(), dynamicFiles(), modTime)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			// Read into the stored image member, then change its source.
			if _, err := io.ReadFull(b, make([]byte, 200_000)); err != nil {
				t.Fatal(err)
			}
			tc.change(t, filepath.Join(dataDir, "images", "ec-images-amd64.tar"))
			_, err = io.Copy(io.Discard, b)
			if !errors.Is(err, ErrSourceChanged) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("download after the source changed: %v, want an ErrSourceChanged or short-read error", err)
			}
		})
	}
}

func TestConcurrentOpensShareOneBuild(t *testing.T) {
	dataDir := makeDataDir(t)
	s := NewStore(dataDir, slug, t.TempDir(), nil)
	const n = 8
	results := make([][]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	wg.Go(func() {
		if err := s.Warm(context.Background()); err != nil {
			errs <- err
		}
	})
	for i := range n {
		wg.Go(func() {
			b, err := s.Open(context.Background(), dynamicFiles(), modTime)
			if err != nil {
				errs <- err
				return
			}
			defer b.Close()
			results[i], err = io.ReadAll(b)
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if !bytes.Equal(results[i], results[0]) {
			t.Fatalf("concurrent download %d differs from download 0", i)
		}
	}
	if got := s.builds.Load(); got != int64(len(dataDirFiles)) {
		t.Errorf("%d members built for %d sources: concurrent callers did not share builds", got, len(dataDirFiles))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.members {
		if m.pins != 0 {
			t.Errorf("%s still pinned %d times after every bundle was closed", m.src.name, m.pins)
		}
	}
}

func TestOpenWaitingForABuildHonoursContext(t *testing.T) {
	dataDir := makeDataDir(t)
	s := NewStore(dataDir, slug, t.TempDir(), nil)
	s.slots <- struct{}{} // every build slot busy: builds cannot start
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Open(ctx, dynamicFiles(), modTime); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context while builds wait: %v, want context.Canceled", err)
	}
	<-s.slots
	openBytes(t, s, dynamicFiles()) // the pending build finishes and serves later callers
}

func TestStoredMemberFraming(t *testing.T) {
	for _, n := range []int{0, 1, storedBlockMax - 1, storedBlockMax, storedBlockMax + 1, 3*storedBlockMax + 17} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		m := newStoredBytes(payload)
		b := &Bundle{body: newConcat([]part{m, newStoredBytes([]byte("second member"))})}
		data, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr) // checks CRC-32 and ISIZE of both members
		if err != nil {
			t.Fatalf("payload of %d bytes: %v", n, err)
		}
		if !bytes.Equal(got, append(payload, "second member"...)) {
			t.Errorf("payload of %d bytes did not round-trip", n)
		}
	}
}

func TestCacheDirHousekeeping(t *testing.T) {
	dataDir := makeDataDir(t)
	// A cache inside the data dir is never bundled, and garbage collection
	// only touches what the Store wrote.
	cache := filepath.Join(dataDir, "images", "cache")
	writeFile(t, filepath.Join(cache, "server.crt"), []byte("not ours"), time.Now())
	writeFile(t, filepath.Join(cache, tempPrefix+"12345"), []byte("left by a crash"), time.Now())
	s := NewStore(dataDir, slug, cache, nil)
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "server.crt")); err != nil {
		t.Errorf("garbage collection removed a foreign file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, tempPrefix+"12345")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file survived garbage collection: %v", err)
	}
	data, _ := openBytes(t, s, nil)
	if sums := sumsFile(t, data); strings.Contains(sums, "images/cache") {
		t.Errorf("the cache dir was bundled:\n%s", sums)
	}
}

func TestDamagedCacheEntriesAreRebuilt(t *testing.T) {
	dataDir := makeDataDir(t)
	cache := t.TempDir()
	want, _ := openBytes(t, NewStore(dataDir, slug, cache, nil), dynamicFiles())

	members, err := filepath.Glob(filepath.Join(cache, "*.gz"))
	if err != nil || len(members) == 0 {
		t.Fatalf("no cached members: %v", err)
	}
	if err := os.Truncate(members[0], 10); err != nil {
		t.Fatal(err)
	}
	metas, err := filepath.Glob(filepath.Join(cache, "*.json"))
	if err != nil || len(metas) < 2 {
		t.Fatalf("no cache metadata: %v", err)
	}
	if err := os.WriteFile(metas[1], []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := NewStore(dataDir, slug, cache, nil)
	got, _ := openBytes(t, s, dynamicFiles())
	if !bytes.Equal(got, want) {
		t.Error("bundle from a damaged cache differs from the original")
	}
	if n := s.builds.Load(); n < 1 || n > 2 {
		t.Errorf("%d members rebuilt, want the damaged ones (1 or 2)", n)
	}
}
