package oci

import (
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks the invariants every spec built here must hold, the ones
// an executor would otherwise reject late: something to run, absolute paths,
// known namespace types without duplicates, mount destinations absolute.
func Validate(s *specs.Spec) error {
	if s == nil || s.Process == nil || s.Root == nil || s.Linux == nil {
		return invalid("spec lacks process, root or linux")
	}
	if err := validateProcess(s.Process); err != nil {
		return err
	}
	if s.Root.Path == "" {
		return invalid("spec has no root path")
	}
	for _, m := range s.Mounts {
		if !path.IsAbs(m.Destination) {
			return invalid("mount destination %q is not absolute", m.Destination)
		}
	}
	return validateNamespaces(s.Linux.Namespaces)
}

func validateProcess(p *specs.Process) error {
	if len(p.Args) == 0 {
		return invalid("spec has no process args")
	}
	if !path.IsAbs(p.Cwd) {
		return invalid("process cwd %q is not absolute", p.Cwd)
	}
	for _, s := range append(append([]string(nil), p.Args...), p.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return invalid("process arg or env %q contains NUL", s)
		}
	}
	return nil
}

var knownNamespaces = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func validateNamespaces(ns []specs.LinuxNamespace) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, n := range ns {
		if !knownNamespaces[n.Type] {
			return invalid("unknown namespace type %q", n.Type)
		}
		if seen[n.Type] {
			return invalid("duplicate namespace %s", n.Type)
		}
		seen[n.Type] = true
	}
	return nil
}
