package linepeer

import "github.com/aimdb-dev/aimdb-go/sdk/conformance"

// Resources are the topics the conformance checks use.
func (p *Peer) Resources() conformance.Resources {
	return conformance.Resources{
		Names:         []string{"conformance/a", "conformance/b", "conformance/c"},
		Wildcard:      "conformance/w/+",
		WildcardMatch: "conformance/w/x",
		WildcardMiss:  "conformance/v/x",
	}
}
