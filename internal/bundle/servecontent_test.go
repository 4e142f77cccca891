package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The lead's handler serves a Bundle with http.ServeContent; this checks the
// pieces it relies on (Content-Length, ETag, Range, If-Range, 416) over TLS.
func TestServeContentRanges(t *testing.T) {
	s := NewStore(makeDataDir(t), slug, t.TempDir(), nil)
	full, etag := openBytes(t, s, dynamicFiles())
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := s.Open(r.Context(), dynamicFiles(), modTime)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer b.Close()
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("ETag", b.ETag())
		http.ServeContent(w, r, "demo-join.tar.gz", modTime, b)
	}))
	defer srv.Close()
	client := srv.Client()
	size := int64(len(full))

	get := func(headers ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	resp, body := get()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, full) || resp.ContentLength != size {
		t.Fatalf("full GET: %d, %d bytes, Content-Length %d; want 200 with %d bytes", resp.StatusCode, len(body), resp.ContentLength, size)
	}
	if resp.Header.Get("ETag") != etag || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("ETag %q Accept-Ranges %q; want %q, bytes", resp.Header.Get("ETag"), resp.Header.Get("Accept-Ranges"), etag)
	}

	resp, body = get("Range", "bytes=0-99")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, full[:100]) {
		t.Errorf("Range 0-99: %d with %d bytes, want 206 with the first 100", resp.StatusCode, len(body))
	}

	// A resumed download: the rest, only if the bundle is still the same.
	from := size / 3
	resp, body = get("Range", fmt.Sprintf("bytes=%d-", from), "If-Range", etag)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, full[from:]) {
		t.Errorf("resume from %d: %d with %d bytes, want 206 with the suffix", from, resp.StatusCode, len(body))
	}
	resp, body = get("Range", fmt.Sprintf("bytes=%d-", from), "If-Range", `"stale"`)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, full) {
		t.Errorf("resume with a stale If-Range: %d with %d bytes, want 200 with the whole bundle", resp.StatusCode, len(body))
	}
	resp, _ = get("Range", fmt.Sprintf("bytes=%d-", size))
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range past the end: %d, want 416", resp.StatusCode)
	}
	resp, _ = get("If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", resp.StatusCode)
	}
}
