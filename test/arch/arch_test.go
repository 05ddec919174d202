package arch

import (
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	m := func(p string) string { return own(p) }
	graph := []Package{
		{Path: m("cmd/d"), Imports: []string{m("cri"), m("pkg/a")}},
		{Path: m("cmd/shim"), Imports: []string{m("pkg/a"), "fmt"}},
		{Path: m("cri"), Imports: []string{m("sandbox"), "google.golang.org/grpc"}},
		{Path: m("sandbox"), Imports: []string{m("pkg/a")}, TestImports: []string{m("cri"), m("pkg/a")}},
		{Path: m("pkg/a"), Imports: []string{m("pkg/b"), "fmt"}},
		{Path: m("pkg/b"), Imports: []string{"google.golang.org/grpc/codes"}},
		{Path: m("pkgs"), Imports: []string{m("sandbox")}},
		{Path: "google.golang.org/grpc", Imports: []string{"google.golang.org/grpc/codes"}},
		{Path: "google.golang.org/grpc/codes", Imports: []string{"fmt"}},
		{Path: "fmt"},
	}
	tests := []struct {
		desc string
		rule Rule
		want []string // "pkg import [test]" per violation, in order
		// wantChain is the chain of the first violation, for Links rules.
		wantChain []string
		unbound   bool
	}{
		{
			desc: "direct import",
			rule: Rule{From: m("cri"), Forbid: "google.golang.org/grpc"},
			want: []string{"cri google.golang.org/grpc"},
		},
		{
			desc: "prefix matches a subpackage, not a sibling with a longer name",
			rule: Rule{From: m("pkg"), Forbid: "google.golang.org/grpc"},
			want: []string{"pkg/b google.golang.org/grpc/codes"},
		},
		{
			desc: "test import flagged, marked as a test import",
			rule: Rule{From: m("sandbox"), Forbid: m("cri")},
			want: []string{"sandbox cri test"},
		},
		{
			desc: "NonTest ignores test imports",
			rule: Rule{From: m("sandbox"), Forbid: m("cri"), Scope: NonTest},
		},
		{
			desc: "except exempts a subtree",
			rule: Rule{From: Module, Except: []string{m("cmd")}, Forbid: m("cri")},
			want: []string{"sandbox cri test"},
		},
		{
			desc: "whole module from, no exception",
			rule: Rule{From: Module, Forbid: m("cri")},
			want: []string{"cmd/d cri", "sandbox cri test"},
		},
		{
			desc:      "links follows non-test imports transitively, with the chain",
			rule:      Rule{From: m("cmd/shim"), Forbid: "google.golang.org/grpc", Scope: Links},
			want:      []string{"cmd/shim google.golang.org/grpc/codes"},
			wantChain: []string{m("cmd/shim"), m("pkg/a"), m("pkg/b"), "google.golang.org/grpc/codes"},
		},
		{
			desc:      "links ignores test imports",
			rule:      Rule{From: m("cmd/d"), Forbid: m("cri"), Scope: Links},
			want:      []string{"cmd/d cri"},
			wantChain: []string{m("cmd/d"), m("cri")},
		},
		{
			desc: "links clean",
			rule: Rule{From: m("cmd/shim"), Forbid: m("sandbox"), Scope: Links},
		},
		{
			desc: "forbidden package absent: vacuous, no error",
			rule: Rule{From: m("cmd/d"), Forbid: m("pkg/shim/server"), Scope: Links},
		},
		{
			desc:    "from matches nothing: error",
			rule:    Rule{From: m("network"), Forbid: m("sandbox")},
			unbound: true,
		},
		{
			desc:    "from matches only exempt packages: error",
			rule:    Rule{From: m("cmd"), Except: []string{m("cmd")}, Forbid: m("cri")},
			unbound: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			vs, err := Check(graph, []Rule{tc.rule})
			if (err != nil) != tc.unbound {
				t.Errorf("error %v, want one: %v", err, tc.unbound)
			}
			var got []string
			for _, v := range vs {
				s := short(v.Pkg) + " " + short(v.Import)
				if v.Test {
					s += " test"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("violations %q, want %q", got, tc.want)
			}
			if tc.wantChain != nil && (len(vs) == 0 || !slices.Equal(vs[0].Chain, tc.wantChain)) {
				t.Errorf("violations %+v, want the first with chain %q", vs, tc.wantChain)
			}
		})
	}
}

func TestViolationString(t *testing.T) {
	r := Rule{From: own("pkg"), Forbid: own("sandbox"), Why: "pkg/ is the bottom layer"}
	tests := []struct {
		desc string
		v    Violation
		want string
	}{
		{
			desc: "import",
			v:    Violation{Rule: r, Pkg: own("pkg/store"), Import: own("sandbox")},
			want: "pkg/store imports sandbox — rule: pkg imports nothing of sandbox: pkg/ is the bottom layer",
		},
		{
			desc: "test import",
			v:    Violation{Rule: r, Pkg: own("pkg/store"), Import: own("sandbox"), Test: true},
			want: "pkg/store imports (in its tests) sandbox — rule: pkg imports nothing of sandbox",
		},
		{
			desc: "link with chain",
			v: Violation{Rule: Rule{From: own("cmd/cricket-shim"), Forbid: "k8s.io", Scope: Links}, Pkg: own("cmd/cricket-shim"), Import: "k8s.io/klog/v2",
				Chain: []string{own("cmd/cricket-shim"), own("pkg/shim"), "k8s.io/klog/v2"}},
			want: "cmd/cricket-shim links k8s.io/klog/v2 via cmd/cricket-shim -> pkg/shim -> k8s.io/klog/v2 — rule: cmd/cricket-shim links nothing of k8s.io",
		},
		{
			desc: "whole module",
			v:    Violation{Rule: Rule{From: Module, Forbid: own("cmd"), Why: "w"}, Pkg: own("cri"), Import: own("cmd/cricketd")},
			want: "cri imports cmd/cricketd — rule: nothing imports cmd: w",
		},
		{
			desc: "whole module with exceptions, outside tests",
			v: Violation{Rule: Rule{From: Module, Except: []string{own("cmd"), own("test")}, Forbid: own("test"), Scope: NonTest, Why: "w"},
				Pkg: own("pkg/a"), Import: own("test/testutil")},
			want: "pkg/a imports test/testutil — rule: nothing outside cmd, test imports (outside tests) test: w",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.v.String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want it to start with %q", got, tc.want)
			}
		})
	}
}
