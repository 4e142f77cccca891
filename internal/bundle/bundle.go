package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Bundle is one assembled join bundle: a seekable concatenation of cached
// gzip members on disk and small members built in memory for this request.
// It is not safe for concurrent use (one Bundle per download), and it keeps at
// most one file open at a time, so memory and descriptors stay flat however
// large the bundle and however many downloads run at once.
type Bundle struct {
	body *concat
	etag string
	pos  int64

	cur     *os.File
	curFile fileRef

	closeOnce sync.Once
	release   func()
	closed    bool
}

// fileRef names a file together with what it looked like when the bundle was
// assembled; reading a file that no longer matches is an error, never a
// silently different archive.
type fileRef struct {
	path string
	id   fileID
}

// ErrSourceChanged reports that a file the bundle reads from changed or
// disappeared after the bundle was opened.
var ErrSourceChanged = errors.New("bundle source changed during download")

// Size is the exact length of the bundle in bytes (the Content-Length).
func (b *Bundle) Size() int64 { return b.body.size() }

// ETag is a strong, quoted entity tag derived from everything that determines
// the bundle's bytes; identical inputs give the same tag.
func (b *Bundle) ETag() string { return b.etag }

// Read implements io.Reader. It fills p across member boundaries so that each
// read becomes one full-sized write to the connection.
func (b *Bundle) Read(p []byte) (int, error) {
	if b.closed {
		return 0, os.ErrClosed
	}
	if b.pos >= b.Size() {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.Size()-b.pos))
	if err := b.body.readAt(b, p[:n], b.pos); err != nil {
		// Nothing of a failed read is handed out: the bytes before the
		// failure may be fine, but the caller must stop here anyway.
		return 0, err
	}
	b.pos += int64(n)
	return n, nil
}

// Seek implements io.Seeker (http.ServeContent uses it for Range requests).
func (b *Bundle) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.pos + offset
	case io.SeekEnd:
		abs = b.Size() + offset
	default:
		return 0, fmt.Errorf("bundle: seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, errors.New("bundle: seek: negative position")
	}
	b.pos = abs
	return abs, nil
}

// Close releases the open file and the bundle's hold on cached members.
func (b *Bundle) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closed = true
		if b.cur != nil {
			err = b.cur.Close()
			b.cur = nil
		}
		if b.release != nil {
			b.release()
		}
	})
	return err
}

// openFile returns ref opened, reusing the current file when it is the same
// one and closing the previous one otherwise.
func (b *Bundle) openFile(ref fileRef) (*os.File, error) {
	if b.cur != nil && b.curFile == ref {
		return b.cur, nil
	}
	if b.cur != nil {
		b.cur.Close() // read-only: nothing to lose on close
		b.cur = nil
	}
	f, err := os.Open(ref.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSourceChanged, err)
	}
	b.cur, b.curFile = f, ref
	if err := b.checkFile(ref); err != nil {
		return nil, err
	}
	return f, nil
}

func (b *Bundle) checkFile(ref fileRef) error {
	fi, err := b.cur.Stat()
	if err != nil {
		return fmt.Errorf("%w: stat %s: %w", ErrSourceChanged, ref.path, err)
	}
	if got := fileIDOf(fi); got != ref.id {
		return fmt.Errorf("%w: %s", ErrSourceChanged, ref.path)
	}
	return nil
}
