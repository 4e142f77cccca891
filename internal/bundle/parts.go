package bundle

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sort"
)

// A part is one contiguous run of bundle bytes whose size is known before
// anything is read. readAt fills p completely (p never reaches past the part's
// end) or returns an error; parts read files through the Bundle so that only
// one file is open per download at a time.
type part interface {
	size() int64
	readAt(b *Bundle, p []byte, off int64) error
	// identify writes what determines the part's bytes into h (for the ETag)
	// without reading large files.
	identify(h hash.Hash)
}

// bytesPart is an in-memory run of bytes (headers, small dynamic files).
type bytesPart []byte

func (p bytesPart) size() int64 { return int64(len(p)) }

func (p bytesPart) readAt(_ *Bundle, dst []byte, off int64) error {
	copy(dst, p[off:])
	return nil
}

func (p bytesPart) identify(h hash.Hash) {
	sum := sha256.Sum256(p)
	fmt.Fprintf(h, "b%d:%x;", len(p), sum)
}

// zerosPart is tar padding or the end-of-archive trailer.
type zerosPart int64

func (p zerosPart) size() int64 { return int64(p) }

func (zerosPart) readAt(_ *Bundle, dst []byte, _ int64) error {
	clear(dst)
	return nil
}

func (p zerosPart) identify(h hash.Hash) { fmt.Fprintf(h, "z%d;", int64(p)) }

// filePart is a section of a file on disk: a cached gzip member, or the
// content of a source file framed by a storedMember.
type filePart struct {
	file fileRef
	off  int64
	n    int64
	id   string // digest of the section's bytes, known from the cache metadata
}

func (p *filePart) size() int64 { return p.n }

func (p *filePart) readAt(b *Bundle, dst []byte, off int64) error {
	f, err := b.openFile(p.file)
	if err != nil {
		return err
	}
	n, err := f.ReadAt(dst, p.off+off)
	if n < len(dst) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %s: file shrank while downloading: %w", p.file.path, err)
	}
	if off+int64(n) == p.n {
		// The section is done: make sure the file did not change under us, so a
		// same-size rewrite is reported rather than silently mixed in.
		return b.checkFile(p.file)
	}
	return nil
}

func (p *filePart) identify(h hash.Hash) { fmt.Fprintf(h, "f%d:%s;", p.n, p.id) }

// concat lays parts end to end.
type concat struct {
	parts  []part
	starts []int64 // starts[i] is the offset of parts[i]
	total  int64
}

func newConcat(parts []part) *concat {
	c := &concat{parts: parts, starts: make([]int64, len(parts))}
	for i, p := range parts {
		c.starts[i] = c.total
		c.total += p.size()
	}
	return c
}

func (c *concat) size() int64 { return c.total }

func (c *concat) readAt(b *Bundle, p []byte, off int64) error {
	i := sort.Search(len(c.starts), func(i int) bool { return c.starts[i] > off }) - 1
	for len(p) > 0 {
		part := c.parts[i]
		po := off - c.starts[i]
		n := int(min(int64(len(p)), part.size()-po))
		if err := part.readAt(b, p[:n], po); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
		i++
	}
	return nil
}

func (c *concat) identify(h hash.Hash) {
	for _, p := range c.parts {
		p.identify(h)
	}
}

// storedMember frames a payload as one gzip member made of deflate "stored"
// blocks (no compression). The framing is computed, not copied, so an image
// tarball of several GiB is served straight from its source file: the only
// thing that had to be computed ahead of time is the payload's CRC-32.
type storedMember struct {
	payload part
	crc     uint32
}

const (
	gzipHeaderLen  = 10
	gzipTrailerLen = 8
	storedBlockMax = 65535 // largest LEN of a deflate stored block
	storedBlockHdr = 5     // BFINAL/BTYPE byte, LEN, NLEN
)

// A member header with no name, no mtime and OS "unknown", so it is the same
// on every machine.
var storedGzipHeader = [gzipHeaderLen]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

func newStoredBytes(payload []byte) *storedMember {
	return &storedMember{payload: bytesPart(payload), crc: crc32.ChecksumIEEE(payload)}
}

func (m *storedMember) blocks() int64 {
	n := m.payload.size()
	if n == 0 {
		return 1 // deflate needs one final block, even an empty one
	}
	return (n + storedBlockMax - 1) / storedBlockMax
}

func (m *storedMember) size() int64 {
	return gzipHeaderLen + m.blocks()*storedBlockHdr + m.payload.size() + gzipTrailerLen
}

func (m *storedMember) identify(h hash.Hash) {
	fmt.Fprintf(h, "s%08x[", m.crc)
	m.payload.identify(h)
	h.Write([]byte("];"))
}

func (m *storedMember) readAt(b *Bundle, p []byte, off int64) error {
	payloadSize := m.payload.size()
	nblocks := m.blocks()
	trailerAt := gzipHeaderLen + nblocks*storedBlockHdr + payloadSize
	for len(p) > 0 {
		var n int
		switch {
		case off < gzipHeaderLen:
			n = copy(p, storedGzipHeader[off:])
		case off >= trailerAt:
			var t [gzipTrailerLen]byte
			binary.LittleEndian.PutUint32(t[0:], m.crc)
			binary.LittleEndian.PutUint32(t[4:], uint32(payloadSize)) // ISIZE is the size mod 2^32
			n = copy(p, t[off-trailerAt:])
		default:
			rel := off - gzipHeaderLen
			blk := rel / (storedBlockMax + storedBlockHdr)
			within := rel % (storedBlockMax + storedBlockHdr)
			blkLen := min(int64(storedBlockMax), payloadSize-blk*storedBlockMax)
			if within < storedBlockHdr {
				var h [storedBlockHdr]byte
				if blk == nblocks-1 {
					h[0] = 1 // BFINAL; BTYPE 00 = stored
				}
				binary.LittleEndian.PutUint16(h[1:], uint16(blkLen))
				binary.LittleEndian.PutUint16(h[3:], ^uint16(blkLen))
				n = copy(p, h[within:])
			} else {
				po := blk*storedBlockMax + within - storedBlockHdr
				n = int(min(int64(len(p)), blkLen-(within-storedBlockHdr)))
				if err := m.payload.readAt(b, p[:n], po); err != nil {
					return err
				}
			}
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
