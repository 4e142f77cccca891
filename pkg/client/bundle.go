package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/ecapi/ecapi/pkg/api"
)

// maxResumes is how often a dropped bundle download is resumed.
const maxResumes = 3

// Bundle is a join bundle being downloaded.
type Bundle struct {
	// Body streams the gzip'd tar. The caller must close it. When
	// Resumable, a dropped connection is resumed with a Range request.
	Body io.ReadCloser
	// Size is the Content-Length, -1 when the server did not send one.
	Size int64
	// FileName is the name from Content-Disposition exactly as the server
	// sent it; pass it through SafeFileName before using it as a path.
	FileName string
	// ETag identifies this bundle's bytes, when the server sent one.
	ETag string
	// Resumable reports that the server supports byte ranges for it.
	Resumable bool
}

// JoinBundle calls GET /v1/join-bundle?roles=… and returns the streaming
// body. Errors before the body starts are returned here; errors while
// reading it come from Body.Read.
func (c *Client) JoinBundle(ctx context.Context, roles []string) (*Bundle, error) {
	if len(roles) == 0 {
		return nil, errors.New("join bundle: no roles")
	}
	cl := call{
		method: http.MethodGet,
		path:   api.PathJoinBundle,
		query:  url.Values{"roles": {strings.Join(roles, ",")}},
		header: http.Header{"Accept": {"application/gzip, application/json"}},
		auth:   true,
		stream: true,
	}
	resp, err := c.send(ctx, cl)
	if err != nil {
		return nil, err
	}
	raw := resp.RawResponse
	b := &Bundle{Body: raw.Body, Size: raw.ContentLength, ETag: raw.Header.Get("ETag")}
	if b.Size < 0 {
		b.Size = -1
	}
	if _, params, err := mime.ParseMediaType(raw.Header.Get("Content-Disposition")); err == nil {
		b.FileName = params["filename"]
	}
	// If-Range needs a strong validator; a weak one would let bytes of two
	// different bundles be spliced together.
	if raw.Header.Get("Accept-Ranges") == "bytes" && b.ETag != "" && !strings.HasPrefix(b.ETag, "W/") {
		b.Resumable = true
		b.Body = &resumingBody{ctx: ctx, client: c, call: cl, etag: b.ETag, body: raw.Body}
	}
	return b, nil
}

// resumingBody reads a download and, when the connection drops, asks for
// the rest with Range + If-Range, at most maxResumes times.
type resumingBody struct {
	ctx     context.Context
	client  *Client
	call    call
	etag    string
	body    io.ReadCloser
	offset  int64
	resumes int
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.offset += int64(n)
		if err == nil || errors.Is(err, io.EOF) || r.ctx.Err() != nil || r.resumes >= maxResumes {
			return n, err
		}
		r.resumes++
		if rerr := r.resume(); rerr != nil {
			return n, fmt.Errorf("%w (resuming at byte %d failed: %v)", err, r.offset, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumingBody) resume() error {
	_ = r.body.Close()
	cl := r.call
	cl.header = r.call.header.Clone()
	cl.header.Set("Range", "bytes="+strconv.FormatInt(r.offset, 10)+"-")
	cl.header.Set("If-Range", r.etag)
	resp, err := r.client.send(r.ctx, cl)
	if err != nil {
		return err
	}
	raw := resp.RawResponse
	if raw.StatusCode != http.StatusPartialContent || !strings.HasPrefix(raw.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", r.offset)) {
		_ = raw.Body.Close()
		return fmt.Errorf("server sent %s instead of the rest of the bundle (it changed meanwhile?)", raw.Status)
	}
	r.body = raw.Body
	return nil
}

func (r *resumingBody) Close() error { return r.body.Close() }

// SafeFileName checks a server-suggested bundle file name before it is
// used as a path: a plain base name (no directory, not hidden, no control
// characters) ending in .tar.gz or .tgz.
func SafeFileName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("no file name")
	case strings.ContainsAny(name, `/\`) || name == "." || name == "..":
		return "", fmt.Errorf("file name %q is a path, not a base name", name)
	case strings.HasPrefix(name, "."):
		return "", fmt.Errorf("file name %q is hidden", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", fmt.Errorf("file name %q has control characters", name)
	case !strings.HasSuffix(name, ".tar.gz") && !strings.HasSuffix(name, ".tgz"):
		return "", fmt.Errorf("file name %q does not end in .tar.gz", name)
	}
	return name, nil
}
