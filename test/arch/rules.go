package arch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the import path of this module.
const Module = "github.com/cricket-cri/cricket"

func own(p string) string { return Module + "/" + p }

// Tags are the build tags the graph is read with (the Makefile's GO_TAGS).
const Tags = "seccomp"

// Rules are DESIGN.md's import rules. Adding a rule is adding a line.
var Rules = []Rule{
	{From: own("pkg"), Forbid: own("sandbox"), Why: "pkg/ is the bottom layer and imports nothing above it"},
	{From: own("pkg"), Forbid: own("cri"), Why: "pkg/ is the bottom layer and imports nothing above it"},
	{From: own("pkg"), Forbid: own("network"), Why: "pkg/ is the bottom layer and imports nothing above it"},
	{From: own("pkg"), Forbid: own("cmd"), Why: "pkg/ is the bottom layer and imports nothing above it"},
	{From: own("network"), Forbid: own("sandbox"), Why: "network/ sits beside pkg/, below sandbox/"},
	{From: own("network"), Forbid: own("cri"), Why: "network/ sits beside pkg/, below cri/"},
	{From: own("network"), Forbid: "k8s.io/cri-api", Why: "network/ takes plain pod descriptions, not CRI messages"},
	{From: own("sandbox"), Forbid: own("cri"), Why: "sandbox/ is the domain below the CRI server"},
	{From: own("sandbox"), Forbid: own("cmd"), Why: "sandbox/ is the domain below the binaries"},
	{From: Module, Except: []string{own("cmd")}, Forbid: own("cmd"), Why: "cmd/ holds the binaries and their composition; nothing imports them"},
	{From: Module, Except: []string{own("cmd"), own("cri")}, Forbid: own("cri"), Why: "only the daemon serves the CRI"},
	{From: Module, Except: []string{own("cmd"), own("cri"), own("test")}, Forbid: "google.golang.org/grpc", Why: "gRPC stays in cri/: domain code returns errdefs errors, one interceptor maps them to codes (test/ holds gRPC clients)"},
	{From: Module, Except: []string{own("test")}, Forbid: own("test"), Scope: NonTest, Why: "test helpers are for _test.go files, never linked into a binary"},
	{From: own("cmd/cricket-shim"), Forbid: "google.golang.org/grpc", Scope: Links, Why: "the per-pod shim stays lean: it speaks its own protocol, not gRPC"},
	{From: own("cmd/cricket-shim"), Forbid: "k8s.io", Scope: Links, Why: "the per-pod shim stays lean: it knows nothing of Kubernetes"},
	{From: own("cmd/cricket-shim"), Forbid: "go.opentelemetry.io", Scope: Links, Why: "the per-pod shim stays lean: tracing is the daemon's (its spans cover the shim calls from the daemon's side)"},
	{From: own("cmd/cricket-shim"), Forbid: "github.com/sigstore", Scope: Links, Why: "the per-pod shim stays lean: image signatures are checked by the daemon's pulls"},
	{From: own("cmd/cricketd"), Forbid: own("pkg/shim/shimserver"), Scope: Links, Why: "the daemon is the shim's client (shimclient); the shim's server side runs only in cricket-shim"},
}

// listed is the part of `go list -json` output Load reads.
type listed struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// Load reads the import graph of every package of the module rooted at dir
// and of everything they link, as `go list -deps` reports it with Tags. A
// package go list cannot load is an error: a broken graph proves nothing.
func Load(ctx context.Context, dir string) ([]Package, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-deps", "-json=ImportPath,Imports,TestImports,XTestImports,Error", "-tags", Tags, "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	var graph []Package
	var errs []error
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var l listed
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		if l.Error != nil {
			errs = append(errs, fmt.Errorf("package %s: %s", l.ImportPath, l.Error.Err))
		}
		graph = append(graph, Package{
			Path:        l.ImportPath,
			Imports:     l.Imports,
			TestImports: append(l.TestImports, l.XTestImports...),
		})
	}
	return graph, errors.Join(errs...)
}

// ModuleRoot returns the directory of the go.mod that governs dir.
func ModuleRoot(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", fmt.Errorf("%s is not inside a module", dir)
	}
	return filepath.Dir(gomod), nil
}
