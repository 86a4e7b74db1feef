package mqtt

import "strings"

// reduceFilters drops every filter that another filter covers, raising the covering
// filter's QoS to the highest of those it absorbs. Brokers may send one copy of a
// message per matching subscription; with no overlapping subscriptions each message
// arrives once, and the router still hands it to every route that matches.
func reduceFilters(filters map[string]byte) map[string]byte {
	out := make(map[string]byte, len(filters))
	for f := range filters {
		kept := true
		for g := range filters {
			// g absorbs f when it covers f; of two filters that cover each other
			// (only equal ones do) the smaller name stays.
			if g != f && covers(g, f) && !(covers(f, g) && f < g) {
				kept = false
				break
			}
		}
		if kept {
			out[f] = 0
		}
	}
	for f, q := range filters {
		for k := range out {
			if covers(k, f) && out[k] < q {
				out[k] = q // messages of f arrive through k, so k needs f's QoS
			}
		}
	}
	return out
}

// covers reports whether every topic matching filter f also matches filter g.
func covers(g, f string) bool {
	if strings.HasPrefix(f, "$") && (g == "#" || strings.HasPrefix(g, "+") || strings.HasPrefix(g, "#")) {
		return false // wildcards in the first level do not match $-topics
	}
	gl, fl := strings.Split(g, "/"), strings.Split(f, "/")
	for i, l := range gl {
		if l == "#" {
			// "a/#" covers "a" and everything below it.
			return i <= len(fl)
		}
		if i >= len(fl) {
			return false
		}
		switch {
		case l == "+":
			if fl[i] == "#" {
				return false
			}
		case l != fl[i]:
			return false
		}
	}
	return len(gl) == len(fl)
}
