package bundle

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

const tarBlock = 512

// tarHeader returns the header block(s) of one archive entry. Owner, group
// and times are fixed so that the same inputs always give the same bytes.
func tarHeader(name string, typ byte, mode int64, size int64, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  mtime.Truncate(time.Second),
		Uname:    "root",
		Gname:    "root",
	}
	// WriteHeader alone emits the header (plus a PAX record for long names);
	// the data and the padding are added by the caller, never through tw.
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("tar header for %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// tarPadding is the number of zero bytes that complete a file's last block.
func tarPadding(size int64) int64 {
	return (tarBlock - size%tarBlock) % tarBlock
}

// checkMemberName refuses names that would escape the extraction directory
// or that sha256sum would print escaped (backslash, newline).
func checkMemberName(name string) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("invalid archive path %q", name)
	}
	if strings.ContainsAny(name, "\\\n\r") {
		return fmt.Errorf("archive path %q contains a backslash or line break", name)
	}
	return nil
}
