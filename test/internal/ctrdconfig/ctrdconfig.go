// Package ctrdconfig renders the containerd 2 configuration (version 3) the
// test harnesses run containerd with: the bench's -compare (test/bench/cri),
// the node conformance suite (test/e2enode) and the cluster's containerd
// nodes (test/cluster), the last two through `go run ./test/bench/cri
// -containerd-config`. One template, so that the three run the same CRI
// plugin settings and differ only where a Config field says so.
package ctrdconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/template"

	"golang.org/x/sys/unix"
)

// Config is what differs between the harnesses. Every field is required
// but those said to be optional: an empty one leaves its key (or table)
// out, so that containerd's default holds.
type Config struct {
	Root  string // containerd's root dir
	State string // its state dir
	// Address is the gRPC (CRI) socket.
	Address string
	// TTRPCAddress is the ttrpc socket; "" leaves containerd's default
	// (/run/containerd/containerd.sock.ttrpc).
	TTRPCAddress string
	// OptPath is the dir of the opt plugin; "" leaves its default
	// (/opt/containerd).
	OptPath            string
	SandboxImage       string // the pinned pause image
	RegistryConfigPath string // the hosts.toml dir (mirrors)
	CNIBinDirs         []string
	CNIConfDir         string
	// RuncBinary is the runc the runc v2 shim runs.
	RuncBinary string
	// RuncRoot is runc's --root; "" leaves the shim's default
	// (/run/containerd/runc/<namespace>).
	RuncRoot string
	// RestrictOOMScoreAdj clamps the oom_score_adj containerd sets to its
	// own; see RestrictOOMScoreAdj (the function) for when it must.
	RestrictOOMScoreAdj bool
}

// Render writes c as containerd's config.toml. NRI is off: its socket is
// machine-wide and a harness's containerd must not take it from another.
func Render(w io.Writer, c Config) error {
	for _, f := range []struct{ name, v string }{{"root", c.Root}, {"state", c.State}, {"address", c.Address},
		{"sandbox image", c.SandboxImage}, {"registry config path", c.RegistryConfigPath},
		{"CNI bin dirs", strings.Join(c.CNIBinDirs, "")}, {"CNI conf dir", c.CNIConfDir}, {"runc binary", c.RuncBinary}} {
		if f.v == "" {
			return fmt.Errorf("containerd config: no %s", f.name)
		}
	}
	return tmpl.Execute(w, c)
}

// Text is Render into a string.
func (c Config) Text() (string, error) {
	var b bytes.Buffer
	if err := Render(&b, c); err != nil {
		return "", err
	}
	return b.String(), nil
}

var tmpl = template.Must(template.New("config.toml").Funcs(template.FuncMap{"q": quote, "list": list}).Parse(
	`version = 3
root = {{q .Root}}
state = {{q .State}}
disabled_plugins = ["io.containerd.nri.v1.nri"]
[grpc]
  address = {{q .Address}}
{{- if .TTRPCAddress}}
[ttrpc]
  address = {{q .TTRPCAddress}}
{{- end}}
{{- if .OptPath}}
[plugins."io.containerd.internal.v1.opt"]
  path = {{q .OptPath}}
{{- end}}
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {{q .SandboxImage}}
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = {{q .RegistryConfigPath}}
[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = false
  restrict_oom_score_adj = {{.RestrictOOMScoreAdj}}
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = {{list .CNIBinDirs}}
    conf_dir = {{q .CNIConfDir}}
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = {{q .RuncBinary}}
{{- if .RuncRoot}}
        Root = {{q .RuncRoot}}
{{- end}}
        SystemdCgroup = false
`))

// quote is s as a TOML basic string. Written here rather than borrowed from
// an encoder: the config is a template (its layout is the harnesses'), and
// Go's %q is not TOML (\a, \v and \x.. are not TOML escapes).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func list(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// RestrictOOMScoreAdj tells from a /proc/<pid>/status text whether
// containerd must run with restrict_oom_score_adj: when CAP_SYS_RESOURCE is
// outside the capability bounding set. Without that capability no process
// may lower an oom_score_adj below its own, and runc's init fails on the
// -998 the kubelet asks for sandboxes ("failed to update
// /proc/self/oom_score_adj": Permission denied), so every pod fails;
// restricted, containerd clamps to its own score, as cricketd does by itself
// (pkg/oci).
//
// The bounding set, not the effective set, is the test. A process cannot
// gain a capability outside its bounding set: execve gives a root program
// only what the bounding set allows, capset cannot raise one past it, and
// nothing adds to the set. And a root containerd, and the runc it runs, get
// every capability inside it at exec, whatever the effective set of the
// shell that started them held. The bounding set is inherited across fork
// and exec, so this process's is containerd's and runc's.
func RestrictOOMScoreAdj(status io.Reader) (bool, error) {
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapBnd:")
		if !ok {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("CapBnd %q: %w", strings.TrimSpace(v), err)
		}
		return bnd&(1<<unix.CAP_SYS_RESOURCE) == 0, nil
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("no CapBnd line in the status")
}

// HostRestrictOOMScoreAdj is RestrictOOMScoreAdj for this process, whose
// bounding set the containerd it starts inherits.
func HostRestrictOOMScoreAdj() (bool, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, err := RestrictOOMScoreAdj(f)
	if err != nil {
		return false, fmt.Errorf("/proc/self/status: %w", err)
	}
	return r, nil
}
