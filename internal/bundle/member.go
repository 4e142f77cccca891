package bundle

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// cacheFormat is part of every cache key: bump it whenever the bytes a
// member is built into change (compressor, level, header layout), so old
// cache files are rebuilt rather than mixed with new ones.
const cacheFormat = 1

// compressLevel is klauspost's default: it compresses about as well as
// level 9 on binaries at several times the speed (measured: 94 MB/s against
// the standard library's 25 MB/s at level 6, ratio within 1%), and the work
// is done once per file version anyway.
const compressLevel = gzip.DefaultCompression

// A source is one static file of the data dir as found by a scan.
type source struct {
	path  string    // absolute path on disk
	name  string    // path inside the archive
	mode  int64     // permission bits in the archive
	mtime time.Time // the tar header's mtime
	id    fileID
}

// key identifies one version of one source in the cache.
func (s source) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%o\x00%d\x00%d\x00%d\x00%d",
		cacheFormat, s.path, s.name, s.mode, s.id.size, s.id.mtime, s.id.ino, s.id.ctime)
	return hex.EncodeToString(h.Sum(nil))
}

func (s source) header() ([]byte, error) {
	return tarHeader(s.name, tar.TypeReg, s.mode, s.id.size, s.mtime)
}

// memberMeta is the cache's record of one built member, stored as JSON next
// to the gzip file (or alone, for members served stored from the source).
type memberMeta struct {
	Format        int    `json:"format"`
	Key           string `json:"key"`
	Source        string `json:"source"`
	Stored        bool   `json:"stored"`
	ContentSHA256 string `json:"contentSHA256"`
	PayloadCRC32  uint32 `json:"payloadCRC32,omitempty"` // stored members: CRC of header+content+padding
	MemberSize    int64  `json:"memberSize,omitempty"`   // gzip members: size of the cache file
	MemberSHA256  string `json:"memberSHA256,omitempty"` // gzip members: digest of the cache file
}

// member is a ready-to-serve static entry.
type member struct {
	src  source
	meta memberMeta
	part part // immutable; shared by every Bundle that serves this member
	pins int  // open bundles (and waiters) that still need the cache files; guarded by Store.mu
}

func metaPath(dir, key string) string   { return filepath.Join(dir, key+".json") }
func memberPath(dir, key string) string { return filepath.Join(dir, key+".gz") }

// newMember turns a source and its metadata into a servable member.
func newMember(dir string, src source, meta memberMeta) (*member, error) {
	m := &member{src: src, meta: meta}
	if meta.Stored {
		hdr, err := src.header()
		if err != nil {
			return nil, err
		}
		payload := newConcat([]part{
			bytesPart(hdr),
			&filePart{file: fileRef{path: src.path, id: src.id}, n: src.id.size, id: meta.ContentSHA256},
			zerosPart(tarPadding(src.id.size)),
		})
		m.part = &storedMember{payload: payload, crc: meta.PayloadCRC32}
		return m, nil
	}
	path := memberPath(dir, meta.Key)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() != meta.MemberSize {
		return nil, fmt.Errorf("cached member %s has %d bytes, expected %d", path, fi.Size(), meta.MemberSize)
	}
	m.part = &filePart{file: fileRef{path: path, id: fileIDOf(fi)}, n: meta.MemberSize, id: meta.MemberSHA256}
	return m, nil
}

// loadMember reads a member from the cache; a missing, partial or foreign
// entry is reported as an error so the caller rebuilds it.
func loadMember(dir string, src source, key string) (*member, error) {
	data, err := os.ReadFile(metaPath(dir, key))
	if err != nil {
		return nil, err
	}
	var meta memberMeta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("decode %s: %w", metaPath(dir, key), err)
	}
	if meta.Format != cacheFormat || meta.Key != key || meta.Source != src.path {
		return nil, fmt.Errorf("cache entry %s does not match %s", key, src.path)
	}
	return newMember(dir, src, meta)
}

// builder writes cache entries into dir.
type builder struct {
	dir string
}

// build reads src once and records it in the cache: as a compressed gzip
// member file, or, when the content is already compressed, only as its
// checksums (the member is then framed around the source at download time,
// so image archives of several GiB are not stored twice).
func (bl *builder) build(src source) (*member, error) {
	f, err := os.Open(src.path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src.path, err)
	}
	defer f.Close()
	if err := sameFile(f, src); err != nil {
		return nil, err
	}
	hdr, err := src.header()
	if err != nil {
		return nil, err
	}
	key := src.key()
	meta := memberMeta{Format: cacheFormat, Key: key, Source: src.path}
	meta.Stored = looksCompressed(src.name) || incompressible(f, src.id.size)

	contentSum := sha256.New()
	if meta.Stored {
		crc := crc32.NewIEEE()
		crc.Write(hdr)
		if err := copySource(io.MultiWriter(crc, contentSum), f, src); err != nil {
			return nil, err
		}
		crc.Write(make([]byte, tarPadding(src.id.size)))
		meta.PayloadCRC32 = crc.Sum32()
	} else {
		size, sum, err := bl.writeGzipMember(key, hdr, f, src, contentSum)
		if err != nil {
			return nil, err
		}
		meta.MemberSize, meta.MemberSHA256 = size, sum
	}
	meta.ContentSHA256 = hex.EncodeToString(contentSum.Sum(nil))
	// The file may have changed while we read it; then what we hashed is not
	// what the key describes.
	if err := sameFile(f, src); err != nil {
		return nil, err
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	// The metadata goes last: its presence means the member file is complete.
	if err := bl.writeAtomic(metaPath(bl.dir, key), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return nil, err
	}
	return newMember(bl.dir, src, meta)
}

func (bl *builder) writeGzipMember(key string, hdr []byte, f *os.File, src source, contentSum hash.Hash) (int64, string, error) {
	var size int64
	memberSum := sha256.New()
	err := bl.writeAtomic(memberPath(bl.dir, key), func(w io.Writer) error {
		cw := &countingWriter{w: io.MultiWriter(w, memberSum)}
		zw, err := gzip.NewWriterLevel(cw, compressLevel)
		if err != nil {
			return err
		}
		if _, err := zw.Write(hdr); err != nil {
			return err
		}
		if err := copySource(io.MultiWriter(zw, contentSum), f, src); err != nil {
			return err
		}
		if _, err := zw.Write(make([]byte, tarPadding(src.id.size))); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		size = cw.n
		return nil
	})
	return size, hex.EncodeToString(memberSum.Sum(nil)), err
}

// writeAtomic writes path through a temporary file in the same directory,
// synced and renamed into place, so readers never see a partial file.
func (bl *builder) writeAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(bl.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create cache file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename cache file: %w", err)
	}
	return nil
}

const tempPrefix = ".tmp-"

func copySource(dst io.Writer, f *os.File, src source) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(dst, io.LimitReader(f, src.id.size), buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", src.path, err)
	}
	if n != src.id.size {
		return fmt.Errorf("%w: %s shrank from %d to %d bytes while reading", ErrSourceChanged, src.path, src.id.size, n)
	}
	return nil
}

func sameFile(f *os.File, src source) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", src.path, err)
	}
	if fileIDOf(fi) != src.id {
		return fmt.Errorf("%w: %s", ErrSourceChanged, src.path)
	}
	return nil
}

// Extensions of formats that are compressed already: deflating them again
// costs CPU for nothing.
var compressedExts = []string{".gz", ".tgz", ".zst", ".xz", ".txz", ".bz2", ".tbz2", ".lz4", ".zip", ".7z", ".br"}

func looksCompressed(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range compressedExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// incompressible samples the start, middle and end of a file with a fast
// deflate: image tarballs (.tar of already-compressed layers) gain almost
// nothing from another pass, and there is no extension to tell.
func incompressible(f *os.File, size int64) bool {
	const sample = 128 << 10
	if size < 4*sample {
		return false // small files: compressing them costs little
	}
	buf := make([]byte, sample)
	cw := &countingWriter{w: io.Discard}
	zw, err := flate.NewWriter(cw, flate.BestSpeed)
	if err != nil {
		return false
	}
	var in int64
	for _, off := range []int64{0, size/2 - sample/2, size - sample} {
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return false
		}
		zw.Write(buf[:n])
		in += int64(n)
	}
	zw.Close()
	// Less than 5% saved: not worth the compression time nor the clients' inflating.
	return cw.n*100 >= in*95
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
