package grpcconn_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestDocsListEveryOption: docs/grpc.md's option tables list exactly the options
// Describe documents, each under its scope, with its default.
func TestDocsListEveryOption(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(protoDir(t), "..", "..", "..", "..", "docs", "grpc.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{"Connector block:": sdk.ScopeConnector, "`link_to` block:": sdk.ScopeLinkTo, "`link_from` block:": sdk.ScopeLinkFrom}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\|\\s*([^|]*?)\\s*\\|")
	documented := map[string]string{} // scope/name -> default column
	scope := ""
	for _, line := range strings.Split(string(raw), "\n") {
		if s, ok := sections[line]; ok {
			scope = s
		}
		if m := row.FindStringSubmatch(line); m != nil && scope != "" {
			documented[scope+"/"+m[1]] = strings.TrimSpace(m[2])
		}
	}
	var want []string
	for _, o := range grpcconn.NewBuilder().(sdk.Describer).Describe().Options {
		key := o.Scope + "/" + o.Name
		want = append(want, key)
		def, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("option %s is not in docs/grpc.md", key)
		case o.Default != "" && !strings.Contains(def, o.Default) && !strings.Contains(o.Default, strings.Trim(def, "`")):
			t.Errorf("option %s: docs say default %q, Describe %q", key, def, o.Default)
		}
	}
	for key := range documented {
		if !slices.Contains(want, key) {
			t.Errorf("docs/grpc.md lists %s, which the connector does not take", key)
		}
	}
}
