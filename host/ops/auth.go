package ops

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken wraps next so that every request must carry token: as
// "Authorization: Bearer <token>" (scripts, Prometheus), or as the password of HTTP
// basic authentication (a browser asks for it once and then sends it with every
// request, the WebSocket included). The comparison takes constant time.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got string
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			got = strings.TrimSpace(h[7:])
		} else if _, pass, ok := r.BasicAuth(); ok {
			got = pass
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="aimdb", charset="UTF-8"`)
			http.Error(w, "401 unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
