package fetchbundle

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openAnonymous opens an unnamed regular file in dir (O_TMPFILE). It fails
// on file systems without support, and when /proc is missing, since
// linkAnonymous needs it to give the file a name.
func openAnonymous(dir string) (*os.File, error) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed download)")), nil
}

// linkAnonymous gives the O_TMPFILE file f the name path. Linking through
// /proc/self/fd needs no privilege, unlike AT_EMPTY_PATH.
func linkAnonymous(f *os.File, path string) error {
	src := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	return unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
}
