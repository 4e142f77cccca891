//go:build !linux

package bundle

import "io/fs"

// fileID is what tells two versions of a file apart without reading it.
// Off Linux only size and mtime are used (the server runs on Linux; this
// keeps the package building for the client's other targets).
type fileID struct {
	size  int64
	mtime int64 // ns
	ino   uint64
	ctime int64 // ns
}

func fileIDOf(fi fs.FileInfo) fileID {
	return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
