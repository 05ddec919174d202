package arch

import (
	"context"
	"testing"
	"time"
)

// TestRules reads this module's import graph and fails once per broken rule,
// naming the package, the import and the rule.
func TestRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := ModuleRoot(ctx, ".")
	if err != nil {
		t.Fatal(err)
	}
	graph, err := Load(ctx, root)
	if err != nil {
		t.Fatalf("load the import graph: %v", err)
	}
	violations, err := Check(graph, Rules)
	if err != nil {
		t.Error(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// TestLoad checks that Load sees what the rules need: our packages with their
// test imports, and the dependencies of the binaries.
func TestLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := ModuleRoot(ctx, ".")
	if err != nil {
		t.Fatal(err)
	}
	graph, err := Load(ctx, root)
	if err != nil {
		t.Fatalf("load the import graph: %v", err)
	}
	byPath := map[string]Package{}
	for _, p := range graph {
		byPath[p.Path] = p
	}
	self, ok := byPath[own("test/arch")]
	if !ok {
		t.Fatalf("graph of %d packages lacks %s", len(graph), own("test/arch"))
	}
	if !contains(self.TestImports, "testing") || contains(self.Imports, "testing") {
		t.Errorf("%s: imports %v, test imports %v; want testing among the test imports only", self.Path, self.Imports, self.TestImports)
	}
	if _, ok := byPath["encoding/json"]; !ok {
		t.Error("graph lacks encoding/json, a dependency of test/arch: -deps not applied")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
