package bundle

import (
	"io/fs"
	"syscall"
)

// fileID is what tells two versions of a file apart without reading it:
// size and mtime (the tar header's inputs) plus inode and ctime, which change
// when a file is replaced or rewritten even with its old mtime restored.
type fileID struct {
	size  int64
	mtime int64 // ns
	ino   uint64
	ctime int64 // ns
}

func fileIDOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
		id.ctime = st.Ctim.Nano()
	}
	return id
}
