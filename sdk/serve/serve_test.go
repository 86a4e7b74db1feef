package serve

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestServeRefusesBadBuilderSets(t *testing.T) {
	if err := checkBuilders(nil); err == nil {
		t.Fatal("no builders accepted")
	}
	b := builderFunc("dup")
	if err := checkBuilders([]sdk.ConnectorBuilder{b, b}); err == nil || !strings.Contains(err.Error(), `two builders for scheme "dup"`) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := checkBuilders([]sdk.ConnectorBuilder{builderFunc("9bad")}); err == nil {
		t.Fatal("bad scheme accepted")
	}
}

type builderFunc string

func (b builderFunc) Scheme() string { return string(b) }
func (b builderFunc) Build(context.Context, *sdk.BuildContext) (sdk.Connector, error) {
	return nil, errors.New("unused")
}
