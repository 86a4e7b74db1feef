package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// codeBlock is one fenced block of the guide and the marker line before it.
type codeBlock struct {
	line         int
	lang, marker string
	body         string
}

var markerRE = regexp.MustCompile(`^<!-- (file|excerpt): (\S+) -->$`)

func guideBlocks(t *testing.T, text string) []codeBlock {
	t.Helper()
	lines := strings.Split(text, "\n")
	var out []codeBlock
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := codeBlock{line: i + 1, lang: lang}
		if i > 0 && markerRE.MatchString(lines[i-1]) {
			b.marker = lines[i-1]
		}
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("guide line %d: unclosed code block", b.line)
		}
		b.body = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out
}

// TestGuideCodeIsTheExample checks that every Go block of docs/connector-guide.md is
// a file of examples/udp or an exact excerpt of one, so the guide's code compiles
// (the example builds in TestExampleAsThirdParty) and never drifts from it.
func TestGuideCodeIsTheExample(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "docs", "connector-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	goBlocks, files := 0, map[string]bool{}
	for _, b := range guideBlocks(t, text) {
		if b.marker == "" {
			if b.lang == "go" {
				t.Errorf("guide line %d: a go block without a <!-- file: --> or <!-- excerpt: --> marker", b.line)
			}
			continue
		}
		m := markerRE.FindStringSubmatch(b.marker)
		src, err := os.ReadFile(filepath.Join(root, m[2]))
		if err != nil {
			t.Errorf("guide line %d: %v", b.line, err)
			continue
		}
		if b.lang == "go" {
			goBlocks++
			files[m[2]] = true
		}
		switch m[1] {
		case "file":
			if string(src) != b.body {
				t.Errorf("guide line %d: the block differs from %s", b.line, m[2])
			}
		case "excerpt":
			if !strings.Contains(string(src), b.body) {
				t.Errorf("guide line %d: the block is not an excerpt of %s", b.line, m[2])
			}
		}
	}
	for _, f := range []string{"examples/udp/main.go", "examples/udp/connector/builder.go", "examples/udp/connector/settings.go", "examples/udp/connector/connector.go", "examples/udp/conformance_test.go",
		"examples/tcp/connector/connector.go", "examples/tcp/conformance_test.go"} {
		if !files[f] {
			t.Errorf("the guide shows nothing of %s", f)
		}
	}
	if goBlocks < 8 {
		t.Errorf("only %d go blocks found", goBlocks)
	}

	// The error table is the SDK's.
	for k := sdk.KindUnknown; k <= sdk.KindRejected; k++ {
		row := fmt.Sprintf("| `%s` | %s | `%s` |", kindName(k), k, pluginwire.KindCode(k))
		if !strings.Contains(text, row) {
			t.Errorf("the guide's error table lacks the row %q", row)
		}
	}
	// Every check is listed with its doc.
	for _, c := range conformance.Checks() {
		if line := fmt.Sprintf("- `%s`: %s.", c.Name, c.Doc); !strings.Contains(text, line) {
			t.Errorf("the guide does not list check %q as %q", c.Name, line)
		}
	}
}

// kindName is the Go name of an error kind's constant.
func kindName(k sdk.ErrorKind) string {
	return map[sdk.ErrorKind]string{
		sdk.KindUnknown: "KindUnknown", sdk.KindConnectionFailed: "KindConnectionFailed", sdk.KindMessageTooLarge: "KindMessageTooLarge",
		sdk.KindUnsupportedQoS: "KindUnsupportedQoS", sdk.KindTimeout: "KindTimeout", sdk.KindBufferFull: "KindBufferFull",
		sdk.KindInvalidDestination: "KindInvalidDestination", sdk.KindInvalidConfig: "KindInvalidConfig", sdk.KindClosed: "KindClosed",
		sdk.KindNoRoute: "KindNoRoute", sdk.KindRejected: "KindRejected",
	}[k]
}

// TestTCPExampleSize holds the TCP example's connector to the guide's word: 150
// lines of code at most, not counting comments and blank lines.
func TestTCPExampleSize(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "tcp", "connector", "connector.go"))
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	for _, l := range strings.Split(string(src), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			code++
		}
	}
	if code > 150 {
		t.Errorf("examples/tcp/connector/connector.go has %d lines of code; the guide says 150 at most", code)
	}
	if !strings.Contains(mustRead(t, "docs/connector-guide.md"), "(150 lines of code, not counting comments and blank lines)") {
		t.Error("the guide no longer states the size")
	}
}

func mustRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
