// Package bundle assembles join bundles: gzip'd tarballs holding the app
// binary, per-request files (license, k0s join token, signed seed) and the
// rest of the Embedded Cluster data dir.
//
// Gzip allows concatenated members and tar entries concatenate, so a bundle is
// a run of gzip members, each holding whole tar entries. Static files are
// compressed once into members cached on disk; already-compressed ones (image
// archives, charts) are framed as "stored" deflate blocks read straight from
// the source. Per request only a few KiB are built in memory: the dynamic
// files, directory entries, SHA256SUMS and the end-of-archive trailer. The
// size is known before the first byte is sent, the bytes are deterministic,
// and a Bundle is an io.ReadSeeker suitable for http.ServeContent.
package bundle

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrMissingBinary reports that <data-dir>/bin/<slug> is absent or not a
// regular file, so no usable bundle can be built.
var ErrMissingBinary = errors.New("app binary missing from the data dir")

// File is a small per-request member built in memory.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// Archive layout names.
const (
	ecDir       = "embedded-cluster"
	sumsName    = "SHA256SUMS"
	binaryMode  = 0o755
	regularMode = 0o644
	dirMode     = 0o755
)

// Store serves bundles for one data dir and app slug, caching compressed
// members under its cache dir. It is safe for concurrent use.
type Store struct {
	dataDir  string
	slug     string
	cacheDir string
	log      *slog.Logger
	builder  builder
	slots    chan struct{} // bounds concurrent builds: compression is CPU-bound

	mu       sync.Mutex
	members  map[string]*member // by cache key
	inflight map[string]*buildCall
	warned   map[string]bool // paths already logged as skipped

	builds  atomic.Int64   // members built (not loaded from the cache); for tests
	running sync.WaitGroup // build goroutines, for Wait
}

type buildCall struct {
	done    chan struct{}
	m       *member
	err     error
	waiters int // each waiter is handed one pin when the build succeeds
}

// Wait blocks until the cache builds under way have finished; call it at
// shutdown, after the last Open and Warm.
func (s *Store) Wait() { s.running.Wait() }

// NewStore returns a Store for dataDir/bin/<appSlug> and dataDir's bin/,
// charts/ and images/, caching members under cacheDir (created 0700 when
// first needed).
func NewStore(dataDir, appSlug, cacheDir string, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		dataDir:  filepath.Clean(dataDir),
		slug:     appSlug,
		cacheDir: filepath.Clean(cacheDir),
		log:      logger,
		slots:    make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		members:  map[string]*member{},
		inflight: map[string]*buildCall{},
		warned:   map[string]bool{},
	}
	s.builder = builder{dir: s.cacheDir}
	return s
}

// Warm builds every missing cache member now and removes cache files that no
// longer belong to any source. Call it at start-up (in the background) and
// whenever the data dir is known to have changed; Open builds what is
// missing by itself, so Warm only moves the cost off the first download.
func (s *Store) Warm(ctx context.Context) error {
	started := time.Now()
	srcs, err := s.scan()
	if err != nil {
		return err
	}
	keep := make(map[string]bool, len(srcs))
	var errs []error
	for _, src := range srcs {
		keep[src.key()] = true
		m, err := s.member(ctx, src)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		s.unpin([]*member{m})
	}
	if err := s.collectGarbage(keep); err != nil {
		errs = append(errs, err)
	}
	s.log.Info("join bundle cache warm", "files", len(srcs), "duration", time.Since(started).Round(time.Millisecond))
	return errors.Join(errs...)
}

// Open assembles one bundle from the current data dir, the dynamic files (in
// order, right after the app binary) and modTime (for dynamic entries).
// The caller must Close the Bundle.
func (s *Store) Open(ctx context.Context, dynamic []File, modTime time.Time) (*Bundle, error) {
	if err := s.checkDynamic(dynamic); err != nil {
		return nil, err
	}
	srcs, err := s.scan()
	if err != nil {
		return nil, err
	}
	members := make([]*member, 0, len(srcs))
	for _, src := range srcs {
		m, err := s.member(ctx, src)
		if err != nil {
			s.unpin(members)
			return nil, fmt.Errorf("prepare %s: %w", src.name, err)
		}
		members = append(members, m)
	}
	b, err := assemble(members, dynamic, modTime)
	if err != nil {
		s.unpin(members)
		return nil, err
	}
	b.release = func() { s.unpin(members) }
	return b, nil
}

func (s *Store) checkDynamic(files []File) error {
	seen := map[string]bool{s.slug: true, sumsName: true}
	for _, f := range files {
		if err := checkMemberName(f.Name); err != nil {
			return fmt.Errorf("dynamic file: %w", err)
		}
		if seen[f.Name] || f.Name == ecDir || strings.HasPrefix(f.Name, ecDir+"/") {
			return fmt.Errorf("dynamic file %q clashes with another bundle entry", f.Name)
		}
		if f.Mode&^int64(fs.ModePerm) != 0 {
			return fmt.Errorf("dynamic file %q: mode %o is not a permission mode", f.Name, f.Mode)
		}
		seen[f.Name] = true
	}
	return nil
}

// scan lists the static sources in archive order: the app binary, then
// bin/ (other files), charts/ and images/, each walked in lexical order.
func (s *Store) scan() ([]source, error) {
	if err := checkMemberName(s.slug); err != nil || strings.Contains(s.slug, "/") || s.slug == sumsName || s.slug == ecDir {
		return nil, fmt.Errorf("invalid app slug %q", s.slug)
	}
	binDir := filepath.Join(s.dataDir, "bin")
	binPath := filepath.Join(binDir, s.slug)
	fi, err := os.Lstat(binPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrMissingBinary, binPath)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrMissingBinary, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file (symlinks are refused)", ErrMissingBinary, binPath)
	}
	srcs := []source{newSource(binPath, s.slug, binaryMode, fi)}
	for _, root := range []struct {
		dir  string
		mode int64
	}{{"bin", binaryMode}, {"charts", regularMode}, {"images", regularMode}} {
		found, err := s.walk(root.dir, root.mode, binPath)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, found...)
	}
	return srcs, nil
}

func (s *Store) walk(dir string, mode int64, skip string) ([]source, error) {
	root := filepath.Join(s.dataDir, dir)
	fi, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // a data dir without charts/ or images/ is fine
	}
	if err != nil {
		return nil, fmt.Errorf("scan data dir: %w", err)
	}
	if !fi.IsDir() {
		s.skip(root, "not a directory (symlinks are refused)")
		return nil, nil
	}
	var srcs []source
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scan data dir: %w", err)
		}
		if p == root || p == skip {
			return nil
		}
		if p == s.cacheDir {
			return filepath.SkipDir // a cache kept inside the data dir is not content
		}
		rel, err := filepath.Rel(s.dataDir, p)
		if err != nil {
			return err
		}
		name := path.Join(ecDir, filepath.ToSlash(rel))
		if err := checkMemberName(name); err != nil {
			s.skip(p, err.Error())
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			// WalkDir does not follow symlinks; refusing them keeps every
			// byte of the bundle inside the data dir.
			s.skip(p, "not a regular file (symlinks are refused)")
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("scan data dir: %w", err)
		}
		srcs = append(srcs, newSource(p, name, mode, info))
		return nil
	})
	return srcs, err
}

func newSource(p, name string, mode int64, fi fs.FileInfo) source {
	return source{path: p, name: name, mode: mode, mtime: fi.ModTime(), id: fileIDOf(fi)}
}

// skip logs a refused data-dir entry once per path, not on every download.
func (s *Store) skip(p, why string) {
	s.mu.Lock()
	seen := s.warned[p]
	s.warned[p] = true
	s.mu.Unlock()
	if !seen {
		s.log.Warn("join bundle: skipping data dir entry", "path", p, "reason", why)
	}
}

// member returns src's cached member, loading it from disk or building it
// (once, however many callers ask at the same time). The member comes
// pinned: its cache files are kept until the caller unpins it.
func (s *Store) member(ctx context.Context, src source) (*member, error) {
	key := src.key()
	s.mu.Lock()
	if m := s.members[key]; m != nil {
		m.pins++
		s.mu.Unlock()
		return m, nil
	}
	call := s.inflight[key]
	if call == nil {
		call = &buildCall{done: make(chan struct{})}
		s.inflight[key] = call
		// The build belongs to the Store, not to this request: a cancelled
		// download must not waste a half-done compression that others need.
		s.running.Add(1)
		go s.runBuild(src, key, call)
	}
	call.waiters++
	s.mu.Unlock()

	select {
	case <-call.done:
		return call.m, call.err // pinned for us by finishBuild
	case <-ctx.Done():
		s.mu.Lock()
		select {
		case <-call.done:
			if call.m != nil {
				call.m.pins--
			}
		default:
			call.waiters--
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (s *Store) runBuild(src source, key string, call *buildCall) {
	defer s.running.Done()
	m, err := loadMember(s.cacheDir, src, key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("join bundle: unusable cache entry, rebuilding", "file", src.path, "err", err)
		}
		m, err = s.buildMember(src)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, key)
	if err == nil {
		m.pins += call.waiters
		s.members[key] = m
	}
	call.m, call.err = m, err
	close(call.done)
}

func (s *Store) buildMember(src source) (*member, error) {
	s.slots <- struct{}{}
	defer func() { <-s.slots }()
	if err := os.MkdirAll(s.cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("create bundle cache dir: %w", err)
	}
	if err := os.Chmod(s.cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict bundle cache dir: %w", err)
	}
	started := time.Now()
	m, err := s.builder.build(src)
	if err != nil {
		s.log.Error("join bundle: caching member failed", "file", src.path, "err", err)
		return nil, err
	}
	s.builds.Add(1)
	how := "compressed"
	if m.meta.Stored {
		how = "stored (already compressed)"
	}
	s.log.Info("join bundle: cached member", "file", src.path, "bytes", src.id.size,
		"member_bytes", m.part.size(), "as", how, "duration", time.Since(started).Round(time.Millisecond))
	return m, nil
}

func (s *Store) unpin(ms []*member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		m.pins--
	}
}

// collectGarbage removes cache files of sources that changed or went away,
// except those still read by open bundles and temp files being written.
func (s *Store) collectGarbage(keep map[string]bool) error {
	entries, err := os.ReadDir(s.cacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list bundle cache: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range entries {
		name := e.Name()
		key, ours := cacheFileKey(name)
		switch {
		case !ours:
			continue // files of others sharing the dir are left alone
		case key == "" && len(s.inflight) > 0:
			continue // a temp file may belong to a build in progress
		case keep[key] || s.inflight[key] != nil:
			continue
		}
		if m := s.members[key]; m != nil {
			if m.pins > 0 {
				continue
			}
			delete(s.members, key)
		}
		if err := os.Remove(filepath.Join(s.cacheDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		s.log.Debug("join bundle: removed stale cache file", "file", name)
	}
	return errors.Join(errs...)
}

// cacheFileKey returns the key of a file this package writes to the cache
// dir ("<key>.json", "<key>.gz", or a temp file, whose key is "").
func cacheFileKey(name string) (string, bool) {
	if strings.HasPrefix(name, tempPrefix) {
		return "", true
	}
	key, ok := strings.CutSuffix(name, ".json")
	if !ok {
		key, ok = strings.CutSuffix(name, ".gz")
	}
	if !ok || len(key) != sha256.Size*2 {
		return "", false
	}
	if _, err := hex.DecodeString(key); err != nil {
		return "", false
	}
	return key, true
}

// assemble lays out the archive: app binary, dynamic files, directory and
// static entries under embedded-cluster/, then SHA256SUMS and the trailer.
func assemble(members []*member, dynamic []File, modTime time.Time) (*Bundle, error) {
	var parts []part
	var sums strings.Builder
	addSum := func(name, sum string) { fmt.Fprintf(&sums, "%s  %s\n", sum, name) }

	// Small in-memory entries accumulate here and become one stored member
	// each time a cached member (or the end) comes.
	var pending []byte
	flush := func() {
		if len(pending) > 0 {
			parts = append(parts, newStoredBytes(pending))
			pending = nil
		}
	}
	addEntry := func(name string, typ byte, mode int64, data []byte) error {
		hdr, err := tarHeader(name, typ, mode, int64(len(data)), modTime)
		if err != nil {
			return err
		}
		pending = append(pending, hdr...)
		pending = append(pending, data...)
		pending = append(pending, make([]byte, tarPadding(int64(len(data))))...)
		return nil
	}
	addStatic := func(m *member) {
		flush()
		parts = append(parts, m.part)
		addSum(m.src.name, m.meta.ContentSHA256)
	}

	addStatic(members[0]) // the app binary
	for _, f := range dynamic {
		if err := addEntry(f.Name, tar.TypeReg, f.Mode, f.Data); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(f.Data)
		addSum(f.Name, hex.EncodeToString(sum[:]))
	}
	dirs := map[string]bool{}
	for _, m := range members[1:] {
		// Parent directories get their own entries (0755) before their files.
		var missing []string
		for d := path.Dir(m.src.name); d != "." && !dirs[d]; d = path.Dir(d) {
			missing = append(missing, d)
			dirs[d] = true
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := addEntry(missing[i]+"/", tar.TypeDir, dirMode, nil); err != nil {
				return nil, err
			}
		}
		addStatic(m)
	}
	if err := addEntry(sumsName, tar.TypeReg, regularMode, []byte(sums.String())); err != nil {
		return nil, err
	}
	pending = append(pending, make([]byte, 2*tarBlock)...) // end-of-archive marker
	flush()

	body := newConcat(parts)
	h := sha256.New()
	h.Write([]byte("ecapi-join-bundle\x00"))
	body.identify(h)
	return &Bundle{body: body, etag: `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`}, nil
}
