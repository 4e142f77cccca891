package bundle

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/ecapi/ecapi/internal/bundle/bundletest"
)

// BenchmarkJoinBundle streams a 128 MiB synthetic bundle (mostly image
// tarballs, plus a compressible binary) with a warm cache, beside two
// references on the same data: reading the same bytes prebuilt in one file
// (what http.ServeContent of a file costs before TLS) and the naive design
// that tars and gzips every byte per request.
func BenchmarkJoinBundle(b *testing.B) {
	dataDir := b.TempDir()
	if err := bundletest.Write(dataDir, bundletest.Large(slug, 128<<20)); err != nil {
		b.Fatal(err)
	}
	s := NewStore(dataDir, slug, b.TempDir(), nil)
	if err := s.Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	prebuilt := filepath.Join(b.TempDir(), "bundle.tar.gz")
	size := writeBundle(b, s, prebuilt)

	buf := make([]byte, 32<<10) // the buffer size net/http copies with
	b.Run("cached-members", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			bundle, err := s.Open(context.Background(), dynamicFiles(), modTime)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{bundle}, buf); err != nil {
				b.Fatal(err)
			}
			bundle.Close()
		}
	})
	b.Run("prebuilt-file", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Open(prebuilt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("naive-tar-gzip", func(b *testing.B) {
		srcs, err := s.scan()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			cw := &countingWriter{w: io.Discard}
			zw := gzip.NewWriter(cw)
			tw := tar.NewWriter(zw)
			for _, src := range srcs {
				if err := tw.WriteHeader(&tar.Header{Name: src.name, Mode: src.mode, Size: src.id.size, ModTime: src.mtime}); err != nil {
					b.Fatal(err)
				}
				f, err := os.Open(src.path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(tw, f, buf); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			if err := tw.Close(); err != nil {
				b.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpen is the per-request work before the first byte: scanning the
// data dir, looking members up and building the in-memory members.
func BenchmarkOpen(b *testing.B) {
	s := NewStore(makeDataDir(b), slug, b.TempDir(), nil)
	if err := s.Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		bundle, err := s.Open(context.Background(), dynamicFiles(), modTime)
		if err != nil {
			b.Fatal(err)
		}
		bundle.Close()
	}
}

func writeBundle(b *testing.B, s *Store, path string) int64 {
	bundle, err := s.Open(context.Background(), dynamicFiles(), modTime)
	if err != nil {
		b.Fatal(err)
	}
	defer bundle.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(f, bundle)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
