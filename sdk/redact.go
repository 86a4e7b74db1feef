package sdk

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Mask replaces every secret a Redactor removes.
const Mask = "***"

// MinSecretLen is the shortest secret a Redactor masks: shorter values are too
// common in ordinary text to mask without mangling it (and too weak to protect).
const MinSecretLen = 4

// Redactor removes secrets from text that leaves a connector: log lines, error
// messages, excerpts of replies from outside systems. It masks every secret it was
// given (Add) in each form the secret can take on its way into text: as is; base64
// (standard and URL alphabets, at any alignment inside a longer base64 string, as in
// a basic-auth header); URL-encoded (query and path escaping); and escaped inside a
// JSON or Go string. It also masks, without being told any secret, the values of
// Authorization, Proxy-Authorization, Cookie, Set-Cookie and API-key headers and the
// token after "Bearer" or "Basic". Redact before cutting text to a length: a secret
// cut in two is no longer recognised. A nil *Redactor masks only the headers and
// tokens. Its methods are safe for concurrent use.
type Redactor struct {
	mu    sync.RWMutex
	forms []string // every form of every secret, longest first
}

// NewRedactor returns a Redactor that masks secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers secrets; values shorter than MinSecretLen bytes are ignored.
func (r *Redactor) Add(secrets ...string) {
	var forms []string
	for _, s := range secrets {
		if len(s) >= MinSecretLen {
			forms = append(forms, secretForms(s)...)
		}
	}
	if len(forms) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range forms {
		if !slices.Contains(r.forms, f) {
			r.forms = append(r.forms, f)
		}
	}
	// Longest first, so a form that holds another is replaced whole.
	slices.SortStableFunc(r.forms, func(a, b string) int { return len(b) - len(a) })
}

// secretForms lists the texts secret may appear as.
func secretForms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	if q := strconv.Quote(secret); len(q) > 2 {
		forms = append(forms, q[1:len(q)-1])
	}
	if j, err := json.Marshal(secret); err == nil && len(j) > 2 {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		forms = append(forms, base64Cores(enc, []byte(secret))...)
	}
	var out []string
	for _, f := range forms {
		if len(f) >= MinSecretLen && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// base64Cores returns, for each of the three alignments secret can have inside a
// base64 stream, the characters that encode only secret's bits: wherever secret sits
// in the encoded data, one of them appears in the text.
func base64Cores(enc *base64.Encoding, secret []byte) []string {
	var out []string
	for shift := 0; shift < 3; shift++ {
		text := enc.EncodeToString(append(make([]byte, shift), secret...))
		first := (8*shift + 5) / 6            // first character without bits of the padding before
		last := 8 * (shift + len(secret)) / 6 // characters wholly inside the secret end here
		if last-first >= MinSecretLen {
			out = append(out, text[first:last])
		}
	}
	return out
}

// headerValue matches an Authorization-like header and its value as they appear in
// HTTP text, Go's %v of an http.Header and JSON: `Authorization: Basic abc`,
// `"Cookie":["a=b"]`, `map[Authorization:[Bearer x]]`.
var headerValue = regexp.MustCompile(`(?i)((?:proxy-)?authorization|set-cookie|cookie|x-api-key|api[-_]key|x-auth-token)(["']?[ \t]*[:=][ \t]*\[?[ \t]*["']?)([^\r\n"'\]]+)`)

// schemeToken matches the credential after an HTTP authentication scheme.
var schemeToken = regexp.MustCompile(`(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9\-._~+/]+=*)`)

// String returns s with every secret and credential masked.
func (r *Redactor) String(s string) string {
	if r != nil {
		r.mu.RLock()
		for _, f := range r.forms {
			if strings.Contains(s, f) {
				s = strings.ReplaceAll(s, f, Mask)
			}
		}
		r.mu.RUnlock()
	}
	s = headerValue.ReplaceAllString(s, "${1}${2}"+Mask)
	return schemeToken.ReplaceAllStringFunc(s, func(m string) string {
		sub := schemeToken.FindStringSubmatch(m)
		if strings.EqualFold(sub[1], "basic") && !credentialLike(sub[3]) {
			return m // "basic auth" in prose
		}
		return sub[1] + sub[2] + Mask
	})
}

// credentialLike tells a basic-auth credential from a word: base64 of user:password
// is long and mixes cases, digits or symbols; words are not.
func credentialLike(tok string) bool {
	if len(tok) < 8 {
		return false
	}
	for i, c := range tok {
		if unicode.IsDigit(c) || strings.ContainsRune("+/=-_.~", c) || i > 0 && unicode.IsUpper(c) {
			return true
		}
	}
	return false
}

// Error returns err with every secret masked in its text. It returns err itself when
// nothing was masked; otherwise an error of the same kind, with each mistake err
// holds (Split) kept apart and its OptionError location kept.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	if text := err.Error(); r.String(text) == text {
		return err
	}
	var out []error
	for _, leaf := range Split(err) {
		kind := KindOf(leaf)
		var oe *OptionError
		var masked error
		if errors.As(leaf, &oe) {
			masked = &OptionError{Link: oe.Link, Option: oe.Option, Err: errors.New(r.String(oe.Err.Error()))}
		} else {
			masked = errors.New(r.String(strings.TrimPrefix(leaf.Error(), kind.String()+": ")))
		}
		if kind != KindUnknown {
			masked = &Error{Kind: kind, Err: masked}
		}
		out = append(out, masked)
	}
	if len(out) == 1 {
		return out[0]
	}
	return errors.Join(out...)
}
