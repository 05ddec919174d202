// Package arch checks the import graph against the layering rules of
// DESIGN.md (`cmd -> cri -> sandbox -> {network, pkg/...} -> OS`). The
// rules are data (rules.go); this file holds the checker, which works on any
// graph, so it is tested on fake ones and run on the real one that
// `go list` reports.
package arch

import (
	"fmt"
	"slices"
	"strings"
)

// Scope says which edges of a package a rule looks at.
type Scope int

const (
	// Imports is a package's direct imports, its tests' included: a test
	// that needs a forbidden package shows the layering is wrong too.
	Imports Scope = iota
	// NonTest is a package's direct imports outside its _test.go files.
	NonTest
	// Links is everything a main package links: its non-test imports,
	// transitively, through every package of the build (modules included).
	Links
)

// Rule forbids the packages under From (minus those under Except) to reach
// any package under Forbid. Paths are import paths and match a path and
// everything below it: "x/pkg" matches "x/pkg" and "x/pkg/store", not
// "x/pkgs".
type Rule struct {
	From   string
	Except []string
	Forbid string
	Scope  Scope
	Why    string
}

// Package is one node of the import graph.
type Package struct {
	Path string
	// Imports are the package's non-test imports, resolved import paths.
	Imports []string
	// TestImports are those of its _test.go files, internal and external.
	TestImports []string
}

// Violation is one broken rule: Pkg reaches Import. Chain is the import path
// from Pkg to Import for a Links rule, Test says the edge is only in tests.
type Violation struct {
	Rule   Rule
	Pkg    string
	Import string
	Chain  []string
	Test   bool
}

func (v Violation) String() string {
	verb := "imports"
	switch {
	case v.Rule.Scope == Links:
		verb = "links"
	case v.Test:
		verb = "imports (in its tests)"
	}
	s := fmt.Sprintf("%s %s %s", short(v.Pkg), verb, short(v.Import))
	if len(v.Chain) > 2 {
		parts := make([]string, len(v.Chain))
		for i, p := range v.Chain {
			parts[i] = short(p)
		}
		s += " via " + strings.Join(parts, " -> ")
	}
	return s + " — rule: " + v.Rule.String()
}

// String states the rule in a sentence, e.g. "nothing outside cmd imports
// cmd: why" or "cmd/cricket-shim links nothing of k8s.io: why".
func (r Rule) String() string {
	verb := map[Scope]string{Imports: "imports", NonTest: "imports (outside tests)", Links: "links"}[r.Scope]
	if r.From != Module {
		return fmt.Sprintf("%s %s nothing of %s: %s", short(r.From), verb, short(r.Forbid), r.Why)
	}
	subject := "nothing"
	if len(r.Except) > 0 {
		except := make([]string, len(r.Except))
		for i, e := range r.Except {
			except[i] = short(e)
		}
		subject += " outside " + strings.Join(except, ", ")
	}
	return fmt.Sprintf("%s %s %s: %s", subject, verb, short(r.Forbid), r.Why)
}

// Check returns every violation of rules in graph, in graph order, and an
// error naming each rule whose From matches no package of the graph (a
// moved package must not turn a rule silently into a no-op).
func Check(graph []Package, rules []Rule) ([]Violation, error) {
	byPath := make(map[string]Package, len(graph))
	for _, p := range graph {
		byPath[p.Path] = p
	}
	var vs []Violation
	var unbound []string
	for _, r := range rules {
		bound := false
		for _, p := range graph {
			if !under(p.Path, r.From) || slices.ContainsFunc(r.Except, func(e string) bool { return under(p.Path, e) }) {
				continue
			}
			bound = true
			if r.Scope == Links {
				vs = append(vs, checkLinks(byPath, p, r)...)
				continue
			}
			vs = append(vs, checkImports(p, r)...)
		}
		if !bound {
			unbound = append(unbound, fmt.Sprintf("rule %s -> %s binds no package", short(r.From), short(r.Forbid)))
		}
	}
	if len(unbound) > 0 {
		return vs, fmt.Errorf("%s", strings.Join(unbound, "; "))
	}
	return vs, nil
}

func checkImports(p Package, r Rule) []Violation {
	var vs []Violation
	for _, imp := range p.Imports {
		if under(imp, r.Forbid) {
			vs = append(vs, Violation{Rule: r, Pkg: p.Path, Import: imp})
		}
	}
	if r.Scope == NonTest {
		return vs
	}
	for _, imp := range p.TestImports {
		if under(imp, r.Forbid) && !slices.Contains(p.Imports, imp) {
			vs = append(vs, Violation{Rule: r, Pkg: p.Path, Import: imp, Test: true})
		}
	}
	return vs
}

// checkLinks walks the non-test imports of main breadth-first and reports
// each edge into Forbid once, with the shortest chain that reaches it. Edges
// inside Forbid are not reported: one entry point is the fact to fix.
func checkLinks(byPath map[string]Package, main Package, r Rule) []Violation {
	var vs []Violation
	parent := map[string]string{main.Path: ""}
	queue := []string{main.Path}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, imp := range byPath[cur].Imports {
			if under(imp, r.Forbid) {
				vs = append(vs, Violation{Rule: r, Pkg: main.Path, Import: imp, Chain: append(chain(parent, cur), imp)})
				continue
			}
			if _, seen := parent[imp]; !seen {
				parent[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return vs
}

func chain(parent map[string]string, p string) []string {
	var c []string
	for ; p != ""; p = parent[p] {
		c = append(c, p)
	}
	slices.Reverse(c)
	return c
}

// under reports whether path is prefix or lies below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// short drops the module path from one of our packages.
func short(p string) string {
	return strings.TrimPrefix(p, Module+"/")
}
