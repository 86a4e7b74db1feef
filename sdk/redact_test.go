package sdk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

const testSecret = `s3cr3t/Pa+ss"word`

// leaks reports which of the secret's forms text shows: checked by every redactor
// test, and shown to find each form when nothing is redacted.
func leaks(text string) []string {
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	q := quoted(testSecret)
	forms := map[string]string{
		"plain":          testSecret,
		"query-escaped":  url.QueryEscape(testSecret),
		"path-escaped":   url.PathEscape(testSecret),
		"quoted":         q,
		"base64":         b64(base64.StdEncoding, testSecret),
		"base64url":      b64(base64.URLEncoding, testSecret),
		"basic-auth":     b64(base64.StdEncoding, "user:"+testSecret),
		"inside-base64":  b64(base64.StdEncoding, "xy"+testSecret+"z")[4:20],
		"basic-auth-url": b64(base64.URLEncoding, "user:"+testSecret),
	}
	var out []string
	for name, f := range forms {
		if strings.Contains(text, f) {
			out = append(out, name)
		}
	}
	return out
}

// quoted is s as %q prints it, without the quotes.
func quoted(s string) string { q := fmt.Sprintf("%q", s); return q[1 : len(q)-1] }

// exposing is text holding the secret in every form a log line or reply might.
func exposing() string {
	b := []byte(testSecret)
	return strings.Join([]string{
		"plain " + testSecret,
		"query ?p=" + url.QueryEscape(testSecret),
		"path /" + url.PathEscape(testSecret),
		fmt.Sprintf("quoted %q", testSecret),
		"base64 " + base64.StdEncoding.EncodeToString(b),
		"base64url " + base64.URLEncoding.EncodeToString(b),
		"echo Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+testSecret)),
		"url-safe " + base64.URLEncoding.EncodeToString([]byte("user:"+testSecret)),
		"blob " + base64.StdEncoding.EncodeToString([]byte("xy"+testSecret+"z")),
	}, "\n")
}

func TestRedactorMasksEveryForm(t *testing.T) {
	text := exposing()
	// The check finds every form when nothing is masked, so it can fail.
	if got := leaks(text); len(got) != 9 {
		t.Fatalf("the unmasked text shows %v, want all 9 forms", got)
	}
	r := NewRedactor(testSecret, "user:"+testSecret)
	if got := leaks(r.String(text)); len(got) != 0 {
		t.Errorf("masked text still shows %v:\n%s", got, r.String(text))
	}
	if !strings.Contains(r.String(text), "plain "+Mask) {
		t.Errorf("want the mask in place of the secret:\n%s", r.String(text))
	}
	j, _ := json.Marshal(map[string]string{"pw": testSecret})
	if got := r.String(string(j)); strings.Contains(got, "Pa+ss") {
		t.Errorf("JSON-escaped secret not masked: %s", got)
	}
}

// TestRedactBeforeCut shows why text is masked before it is cut to a length: cut
// first, the start of a secret crossing the cut is no longer recognised and leaks.
func TestRedactBeforeCut(t *testing.T) {
	r := NewRedactor(testSecret)
	body := strings.Repeat("x", 10) + testSecret
	cutFirst := r.String(body[:16])
	if !strings.Contains(cutFirst, testSecret[:6]) {
		t.Fatalf("cutting first should leak the secret's start, got %q", cutFirst)
	}
	masked := r.String(body)
	if got := masked[:min(16, len(masked))]; strings.Contains(got, testSecret[:4]) {
		t.Errorf("masked, then cut: %q shows part of the secret", got)
	}
}

func TestRedactorHeadersAndTokens(t *testing.T) {
	var r *Redactor // no secrets known: headers and tokens are masked all the same
	for in, want := range map[string]string{
		"Authorization: Basic dXNlcjpwYXNz\r\nHost: x":   "Authorization: ***\r\nHost: x",
		`{"Authorization":["Bearer abc.def"],"X":["1"]}`: `{"Authorization":["***"],"X":["1"]}`,
		"map[Cookie:[a=1; b=2] Accept:[*/*]]":            "map[Cookie:[***] Accept:[*/*]]",
		"proxy-authorization = Negotiate YII":            "proxy-authorization = ***",
		"sent bearer eyJhbGciOi.x-y_z~ to it":            "sent bearer *** to it",
		"header Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== here": "header Basic *** here",
		"set-cookie: sid=31d4d96e407aad42; Secure":       "set-cookie: ***",
		"use basic auth or a token":                      "use basic auth or a token",
		"basic authentication failed":                    "basic authentication failed",
		"header Authorization cannot be set here":        "header Authorization cannot be set here",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactorIgnoresShortSecrets(t *testing.T) {
	r := NewRedactor("abc", "")
	if got := r.String("abcabc"); got != "abcabc" {
		t.Errorf("a secret shorter than %d bytes was masked: %q", MinSecretLen, got)
	}
}

func TestRedactorError(t *testing.T) {
	r := NewRedactor(testSecret)
	plain := errors.New("nothing secret")
	if r.Error(plain) != plain {
		t.Error("an error without secrets must come back as is")
	}
	link := LinkSpec{ID: 3, Direction: Outbound, Resource: "a", Record: "rec"}
	err := errors.Join(
		Errorf(KindConnectionFailed, "login with %s refused", testSecret),
		ForLink(link, OptionErrorf(KindInvalidConfig, "password", "%q is too short", testSecret)),
		fmt.Errorf("unclassified %s", testSecret),
	)
	got := r.Error(err)
	if strings.Contains(got.Error(), "Pa+ss") {
		t.Fatalf("masked error shows the secret: %v", got)
	}
	parts := Split(got)
	if len(parts) != 3 || KindOf(parts[0]) != KindConnectionFailed || KindOf(parts[2]) != KindUnknown {
		t.Fatalf("kinds lost: %v", got)
	}
	var oe *OptionError
	if !errors.As(parts[1], &oe) || oe.Option != "password" || oe.Link == nil || oe.Link.ID != 3 || KindOf(parts[1]) != KindInvalidConfig {
		t.Errorf("the option error's place was lost: %#v", parts[1])
	}
	if got := parts[2].Error(); got != "unclassified "+Mask {
		t.Errorf("unclassified error = %q", got)
	}
}

func TestRedactLoggerAndWriter(t *testing.T) {
	var out bytes.Buffer
	r := NewRedactor(testSecret)
	base := hclog.New(&hclog.LoggerOptions{Output: &out, JSONFormat: true, Level: hclog.Trace})
	log := RedactLogger(base, r).Named("inst").With("pw", testSecret)
	log.Info("connecting with "+testSecret, "err", errors.New("refused "+testSecret), "url", url.URL{Scheme: "x", Host: testSecret},
		"raw", []byte(testSecret), "n", 3)
	log.StandardLogger(&hclog.StandardLoggerOptions{}).Printf("std %s", testSecret)
	if got := leaks(out.String()); len(got) != 0 || strings.Contains(out.String(), "Pa+ss") || strings.Count(out.String(), Mask) < 6 {
		t.Errorf("logger output shows %v:\n%s", got, out.String())
	}

	out.Reset()
	w := RedactWriter(&out, r)
	half := len(testSecret) / 2
	fmt.Fprint(w, "start "+testSecret[:half])
	if out.Len() != 0 {
		t.Fatalf("an unfinished line was passed on: %q", out.String())
	}
	fmt.Fprint(w, testSecret[half:]+" end\nnext")
	if out.String() != "start "+Mask+" end\n" {
		t.Errorf("writer = %q, want the secret split across writes masked", out.String())
	}
}
