package fetchbundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// sumsFile is the checksum list every bundle carries, in sha256sum's format.
const sumsFile = "SHA256SUMS"

// extractArchive unpacks the gzip'd tar at archive into dir and returns
// the SHA-256 of every regular file it wrote, by cleaned path. It works
// through an os.Root, so nothing can be written outside dir even through
// symlinks, and it refuses outright entries that try: absolute paths,
// "..", links pointing out of dir, and device files.
func extractArchive(ctx context.Context, archive, dir string) (map[string]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s is not a gzip'd tar: %w", archive, err)
	}
	defer zr.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()

	sums := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sums, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if err := extractEntry(root, tr, h, sums); err != nil {
			return nil, fmt.Errorf("archive entry %q: %w", h.Name, err)
		}
	}
}

func extractEntry(root *os.Root, tr *tar.Reader, h *tar.Header, sums map[string]string) error {
	name, err := cleanEntryPath(h.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the archive's own top directory
	}
	// Link targets are checked lexically below, which is only sound when
	// no directory on the way is itself a symlink.
	if err := noSymlinkParents(root, name); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeDir {
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
	}
	// Only permission bits: no setuid, setgid or sticky from a download.
	mode := fs.FileMode(h.Mode).Perm()
	switch h.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, 0o755)
	case tar.TypeReg:
		sum, err := writeFile(root, name, tr, mode)
		if err != nil {
			return err
		}
		sums[name] = sum
		return nil
	case tar.TypeSymlink:
		if path.IsAbs(h.Linkname) {
			return fmt.Errorf("symlink to absolute path %q", h.Linkname)
		}
		if _, err := cleanEntryPath(path.Join(path.Dir(name), h.Linkname)); err != nil {
			return fmt.Errorf("symlink to %q points outside the directory", h.Linkname)
		}
		if err := removeExisting(root, name); err != nil {
			return err
		}
		return root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		target, err := cleanEntryPath(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		if err := removeExisting(root, name); err != nil {
			return err
		}
		if err := root.Link(target, name); err != nil {
			return err
		}
		if sum, ok := sums[target]; ok {
			sums[name] = sum
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return errors.New("device files and FIFOs are refused")
	case tar.TypeXGlobalHeader:
		return nil
	}
	return fmt.Errorf("unsupported entry type %q", h.Typeflag)
}

// cleanEntryPath turns an archive path into a clean relative one, refusing
// absolute paths and any that climb out with "..".
func cleanEntryPath(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty path")
	}
	if path.IsAbs(name) || strings.HasPrefix(name, `\`) {
		return "", errors.New("absolute path")
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New(`path escapes the directory with ".."`)
	}
	return clean, nil
}

func writeFile(root *os.Root, name string, r io.Reader, mode fs.FileMode) (string, error) {
	if err := removeExisting(root, name); err != nil {
		return "", err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	// Chmod after writing: the mode must not depend on the umask
	// (a 0755 binary, a 0600 token).
	if err := root.Chmod(name, mode); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// noSymlinkParents fails when a directory on name's path is a symlink.
func noSymlinkParents(root *os.Root, name string) error {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], "/")
		fi, err := root.Lstat(parent)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("its directory %q is a symlink", parent)
		}
	}
	return nil
}

// removeExisting deletes a file or link left by an earlier extraction, so
// that a new entry never writes through an old symlink.
func removeExisting(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("a directory is in the way")
	}
	return root.Remove(name)
}

// verifySums checks the extracted files against dir's SHA256SUMS ("<hex>
// <path>" per line, as sha256sum writes it): every file listed must have
// been extracted from this archive with that digest. It returns how many
// files it verified.
func verifySums(dir string, sums map[string]string) (int, error) {
	if _, ok := sums[sumsFile]; !ok {
		return 0, fmt.Errorf("the bundle has no %s to verify it with", sumsFile)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	data, err := root.ReadFile(sumsFile)
	if err != nil {
		return 0, err
	}
	var problems []string
	n := 0
	for i, line := range strings.Split(string(bytes.TrimRight(data, "\n")), "\n") {
		want, name, err := parseSumLine(line)
		if err != nil {
			return 0, fmt.Errorf("%s line %d: %w", sumsFile, i+1, err)
		}
		got, ok := sums[name]
		switch {
		case !ok:
			problems = append(problems, name+": missing from the bundle")
		case got != want:
			problems = append(problems, name+": checksum differs")
		default:
			n++
		}
	}
	if len(problems) > 0 {
		const show = 5
		more := ""
		if len(problems) > show {
			more = fmt.Sprintf(" and %d more", len(problems)-show)
			problems = problems[:show]
		}
		return n, fmt.Errorf("%s verification failed: %s%s", sumsFile, strings.Join(problems, "; "), more)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s lists no files", sumsFile)
	}
	return n, nil
}

// parseSumLine reads "<64 hex>  <path>" or "<64 hex> *<path>" (binary mode).
func parseSumLine(line string) (sum, name string, err error) {
	if len(line) < 66 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
		return "", "", fmt.Errorf("want \"<sha256 hex>  <path>\", got %q", line)
	}
	sum = strings.ToLower(line[:64])
	if _, err := hex.DecodeString(sum); err != nil {
		return "", "", fmt.Errorf("bad checksum %q", line[:64])
	}
	name, err = cleanEntryPath(line[66:])
	if err != nil {
		return "", "", fmt.Errorf("path %q: %w", line[66:], err)
	}
	return sum, name, nil
}
