package oci

import (
	"encoding/json"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// SeccompLocalhostPath returns the profile file a security context asks
// for, if it asks for a Localhost profile; the caller loads it with
// LoadSeccompProfile and passes the result in ContainerInput.
func SeccompLocalhostPath(sc *runtimeapi.LinuxContainerSecurityContext) (string, bool) {
	kind, ref, err := profileKind(sc.GetSeccomp(), sc.GetSeccompProfilePath(), "localhost/")
	if err != nil || kind != runtimeapi.SecurityProfile_Localhost {
		return "", false
	}
	return ref, true
}

// WithSeccomp selects the seccomp filter: RuntimeDefault is the built-in
// default profile for arch (a GOARCH name), computed from the capabilities
// already in the spec, so apply it after them; Unconfined, or no request at
// all, is no filter; Localhost is the profile the caller loaded, which must
// be non-nil.
func WithSeccomp(p *runtimeapi.SecurityProfile, deprecated string, localhost *specs.LinuxSeccomp, arch string) SpecOpt {
	return func(s *specs.Spec) error {
		kind, ref, err := profileKind(p, deprecated, "localhost/")
		if err != nil {
			return err
		}
		switch kind {
		case runtimeapi.SecurityProfile_Unconfined:
			s.Linux.Seccomp = nil
		case runtimeapi.SecurityProfile_RuntimeDefault:
			var caps []string
			if s.Process.Capabilities != nil {
				caps = s.Process.Capabilities.Bounding
			}
			s.Linux.Seccomp = DefaultSeccompProfile(caps, arch)
		default:
			if ref == "" || !path.IsAbs(ref) {
				return invalid("seccomp localhost profile %q is not an absolute path", ref)
			}
			if localhost == nil {
				return invalid("seccomp localhost profile %q was not loaded", ref)
			}
			s.Linux.Seccomp = localhost
		}
		return nil
	}
}

// ParseSeccompProfile decodes a profile in the OCI format or in Docker's
// format ("name"/"names" per rule, "archMap"). Docker's conditional
// "includes"/"excludes" are not evaluated: such rules apply unconditionally.
// arch is a GOARCH name used to pick architectures from an archMap.
func ParseSeccompProfile(data []byte, arch string) (*specs.LinuxSeccomp, error) {
	var p dockerSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, invalid("decode seccomp profile: %v", err)
	}
	if p.DefaultAction == "" {
		return nil, invalid("seccomp profile has no defaultAction")
	}
	out := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  p.DefaultErrnoRet,
		Architectures:    p.Architectures,
		Flags:            p.Flags,
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
	}
	if len(out.Architectures) == 0 {
		out.Architectures = p.archesFor(arch)
	}
	for _, r := range p.Syscalls {
		names := r.Names
		if r.Name != "" {
			names = append([]string{r.Name}, names...)
		}
		if len(names) == 0 {
			return nil, invalid("seccomp rule without syscall names")
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{Names: names, Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args})
	}
	return out, nil
}

type dockerSeccomp struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []dockerArchMap          `json:"archMap,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Syscalls         []dockerSyscall          `json:"syscalls,omitempty"`
}

type dockerArchMap struct {
	Arch    specs.Arch   `json:"architecture"`
	SubArch []specs.Arch `json:"subArchitectures"`
}

type dockerSyscall struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
}

func (p *dockerSeccomp) archesFor(arch string) []specs.Arch {
	native := seccompArches(arch)
	if len(native) == 0 {
		return nil
	}
	for _, m := range p.ArchMap {
		if m.Arch == native[0] {
			return append([]specs.Arch{m.Arch}, m.SubArch...)
		}
	}
	return nil
}
