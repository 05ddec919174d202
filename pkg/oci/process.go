package oci

import (
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerArgs merges the CRI command and args with the image's ENTRYPOINT
// and CMD the way the kubelet documents and containerd implements it: a CRI
// command replaces ENTRYPOINT and drops CMD; CRI args replace CMD; an
// ENTRYPOINT of exactly [""] counts as unset. Nothing to run is an error.
func ContainerArgs(command, args, entrypoint, cmd []string) ([]string, error) {
	if len(command) == 0 {
		if len(args) == 0 {
			args = cmd
		}
		if !(len(entrypoint) == 1 && entrypoint[0] == "") {
			command = entrypoint
		}
	}
	out := make([]string, 0, len(command)+len(args))
	out = append(append(out, command...), args...)
	if len(out) == 0 {
		return nil, invalid("no command specified: set command or args, or use an image with ENTRYPOINT or CMD")
	}
	for _, a := range out {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, invalid("argument %q contains a NUL byte", a)
		}
	}
	return out, nil
}

// WithProcessArgs sets process.args.
func WithProcessArgs(args ...string) SpecOpt {
	return func(s *specs.Spec) error {
		if len(args) == 0 {
			return invalid("empty process args")
		}
		s.Process.Args = append([]string(nil), args...)
		return nil
	}
}

// WithEnv merges KEY=VALUE entries into process.env: a later entry replaces
// an earlier one with the same key, keeping its position.
func WithEnv(env []string) SpecOpt {
	return func(s *specs.Spec) error {
		for _, e := range env {
			if strings.IndexByte(e, 0) >= 0 {
				return invalid("environment variable %q contains a NUL byte", e)
			}
			s.Process.Env = replaceOrAppendEnv(s.Process.Env, e)
		}
		return nil
	}
}

// CRIEnv converts CRI key/values to KEY=VALUE strings, skipping empty keys
// (the kubelet never sends them; a spec cannot express them).
func CRIEnv(kvs []*runtimeapi.KeyValue) ([]string, error) {
	out := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		if kv.GetKey() == "" {
			continue
		}
		if strings.ContainsRune(kv.GetKey(), '=') {
			return nil, invalid("environment variable name %q contains '='", kv.GetKey())
		}
		out = append(out, kv.GetKey()+"="+string(kv.GetValue()))
	}
	return out, nil
}

func envKey(e string) string {
	if i := strings.IndexByte(e, '='); i >= 0 {
		return e[:i]
	}
	return e
}

func replaceOrAppendEnv(env []string, e string) []string {
	k := envKey(e)
	for i := range env {
		if envKey(env[i]) == k {
			env[i] = e
			return env
		}
	}
	return append(env, e)
}

// WithCwd sets the working directory, which must be absolute.
func WithCwd(dir string) SpecOpt {
	return func(s *specs.Spec) error {
		if dir == "" {
			dir = "/"
		}
		if !path.IsAbs(dir) || strings.IndexByte(dir, 0) >= 0 {
			return invalid("working directory %q is not an absolute path", dir)
		}
		s.Process.Cwd = path.Clean(dir)
		return nil
	}
}

// WithTerminal sets process.terminal.
func WithTerminal(tty bool) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.Terminal = tty
		return nil
	}
}

// WithUser sets the process uid, gid and additional gids.
func WithUser(u User) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: append([]uint32(nil), u.AdditionalGids...)}
		return nil
	}
}

// WithNoNewPrivileges sets process.noNewPrivileges.
func WithNoNewPrivileges(v bool) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.NoNewPrivileges = v
		return nil
	}
}

// WithOOMScoreAdj sets process.oomScoreAdj, raising it to min when min is
// not nil: a process may not lower its score below its parent's without
// CAP_SYS_RESOURCE, so the runtime clamps (containerd's
// restrict_oom_score_adj) rather than failing the container.
func WithOOMScoreAdj(v int64, min *int) SpecOpt {
	return func(s *specs.Spec) error {
		if v < -1000 || v > 1000 {
			return invalid("oom_score_adj %d out of range [-1000, 1000]", v)
		}
		adj := int(v)
		if min != nil && adj < *min {
			adj = *min
		}
		s.Process.OOMScoreAdj = &adj
		return nil
	}
}

// WithRlimits sets process.rlimits.
func WithRlimits(r []specs.POSIXRlimit) SpecOpt {
	return func(s *specs.Spec) error {
		for _, l := range r {
			if !strings.HasPrefix(l.Type, "RLIMIT_") {
				return invalid("rlimit type %q", l.Type)
			}
			if l.Soft > l.Hard {
				return invalid("rlimit %s: soft limit %d above hard limit %d", l.Type, l.Soft, l.Hard)
			}
		}
		s.Process.Rlimits = append([]specs.POSIXRlimit(nil), r...)
		return nil
	}
}
