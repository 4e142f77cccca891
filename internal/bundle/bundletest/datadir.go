// Package bundletest writes synthetic Embedded Cluster data dirs for the
// bundle package's tests, benchmark and benchmark script.
package bundletest

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Spec describes a synthetic data dir. Sizes are in bytes.
type Spec struct {
	Slug       string
	BinarySize int64   // bin/<slug>: compressible, binary-like
	Helpers    []int64 // bin/helper-<i>: compressible
	Charts     []int64 // charts/chart-<i>.tgz: incompressible
	Images     []int64 // images/images-<i>.tar: tar archives of incompressible "layers"
	Seed       uint64
}

// Large returns a data dir of about total bytes, mostly image tarballs plus a
// compressible binary of 1/8 of the total.
func Large(slug string, total int64) Spec {
	bin := total / 8
	images := total - bin - 4<<20 - 2<<20
	return Spec{
		Slug:       slug,
		BinarySize: bin,
		Helpers:    []int64{2 << 20, 2 << 20},
		Charts:     []int64{700 << 10, 300 << 10, 1 << 20},
		Images:     []int64{images / 2, images / 4, images - images/2 - images/4},
		Seed:       1,
	}
}

// fixedTime keeps generated files' mtimes stable, so a regenerated dir
// reuses the bundle cache of a previous one.
var fixedTime = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// Write creates the data dir under dir (which must exist).
func Write(dir string, spec Spec) error {
	rng := rand.New(rand.NewChaCha8(seed(spec.Seed)))
	write := func(rel string, gen func(w io.Writer) error) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := gen(bw); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Chtimes(p, fixedTime, fixedTime)
	}
	if err := write(filepath.Join("bin", spec.Slug), func(w io.Writer) error {
		return BinaryLike(w, rng, spec.BinarySize)
	}); err != nil {
		return err
	}
	for i, n := range spec.Helpers {
		if err := write(fmt.Sprintf("bin/helper-%d", i), func(w io.Writer) error { return BinaryLike(w, rng, n) }); err != nil {
			return err
		}
	}
	for i, n := range spec.Charts {
		if err := write(fmt.Sprintf("charts/chart-%d.tgz", i), func(w io.Writer) error { return Random(w, rng, n) }); err != nil {
			return err
		}
	}
	for i, n := range spec.Images {
		if err := write(fmt.Sprintf("images/images-%d.tar", i), func(w io.Writer) error { return ImageTar(w, rng, n) }); err != nil {
			return err
		}
	}
	return nil
}

func seed(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	return b
}

// Random writes n incompressible bytes (a ChaCha8 stream seeded from rng).
func Random(w io.Writer, rng *rand.Rand, n int64) error {
	var seed [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(seed[8*i:], rng.Uint64())
	}
	stream := rand.NewChaCha8(seed)
	buf := make([]byte, 256<<10)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		stream.Read(chunk)
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
	}
	return nil
}

// BinaryLike writes n bytes that compress roughly like an executable (2.3x
// with gzip; Go's own binary: 2.5x): "instructions" drawn from a vocabulary,
// skewed towards a few common ones, with a random "operand" now and then.
func BinaryLike(w io.Writer, rng *rand.Rand, n int64) error {
	vocab := make([][]byte, 4096)
	for i := range vocab {
		vocab[i] = make([]byte, 2+rng.IntN(7))
		for j := range vocab[i] {
			vocab[i][j] = byte(rng.Uint32())
		}
	}
	buf := make([]byte, 0, 256<<10)
	for n > 0 {
		buf = buf[:0]
		for len(buf) < cap(buf)-16 {
			buf = append(buf, vocab[rng.IntN(32)*rng.IntN(32)]...)
			if rng.IntN(4) == 0 {
				buf = append(buf, byte(rng.Uint32()), 0)
			}
		}
		chunk := buf[:min(int64(len(buf)), n)]
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
	}
	return nil
}

// ImageTar writes a tar archive of about n bytes holding random "layer"
// blobs, like the image archives of an Embedded Cluster bundle.
func ImageTar(w io.Writer, rng *rand.Rand, n int64) error {
	tw := tar.NewWriter(w)
	const layer = 32 << 20
	for i := 0; n > 3*512; i++ {
		size := min(int64(layer), n-3*512) // header + trailer room
		size -= size % 512
		if size <= 0 {
			break
		}
		hdr := &tar.Header{Name: fmt.Sprintf("blobs/sha256/layer-%04d.tar.gz", i), Mode: 0o644, Size: size, ModTime: fixedTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := Random(tw, rng, size); err != nil {
			return err
		}
		n -= size + 512
	}
	return tw.Close()
}
