package ops

import (
	"embed"
	"io/fs"
	"net/http"
)

// static is the dashboard: plain HTML, CSS and JavaScript, no build step. It talks to
// the hub only through /ws.
//
//go:embed static
var static embed.FS

// dashboard serves the embedded files at /.
func dashboard() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
