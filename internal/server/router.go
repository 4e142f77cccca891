package server

import (
	"net/http"
	"slices"
	"strings"
)

// methods maps HTTP methods to the handler of one path.
type methods map[string]http.HandlerFunc

// router dispatches by path, then by method, answering 404 and 405 with
// the API's JSON error body (the standard mux answers them in plain text).
type router struct {
	mux *http.ServeMux
}

func newRouter() *router {
	r := &router{mux: http.NewServeMux()}
	r.mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "no such endpoint %s: see the API's endpoints under /v1/", req.URL.Path))
	})
	return r
}

// handle registers path (a ServeMux pattern without method) for the methods.
func (r *router) handle(path string, m methods) {
	if h, ok := m[http.MethodGet]; ok {
		if _, has := m[http.MethodHead]; !has {
			m[http.MethodHead] = h
		}
	}
	allowed := make([]string, 0, len(m))
	for k := range m {
		allowed = append(allowed, k)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	r.mux.HandleFunc(path, func(w http.ResponseWriter, req *http.Request) {
		h, ok := m[req.Method]
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s: use %s", req.Method, req.URL.Path, allow))
			return
		}
		h(w, req)
	})
}

func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// route is the pattern a request matched, for logs and metrics labels
// (bounded cardinality: unknown paths become "other").
func (r *router) route(req *http.Request) string {
	_, pattern := r.mux.Handler(req)
	if pattern == "" || pattern == "/" {
		return "other"
	}
	return pattern
}
