package exampleserver

import (
	"io/fs"
	"net/http"
)

// Pages serves the files of an embedded page directory, such as the
// result of fs.Sub(static, "static"), with headers that keep a page to
// its own scripts, styles and images and out of other sites' frames.
// Directory listings are not served: a path ending in "/" other than "/"
// itself (which serves index.html, if present) is answered 404. The
// handler is safe for concurrent use.
func Pages(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "/" && p[len(p)-1] == '/' {
			http.NotFound(w, r)
			return
		}
		SecurityHeaders(w.Header())
		fileServer.ServeHTTP(w, r)
	})
}

// SecurityHeaders sets the headers that keep a page to its own scripts,
// styles, images and connections (which allows eval nowhere) and out of
// other sites' frames.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
}
