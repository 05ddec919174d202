// Package selinux computes the SELinux labels of pods and containers from
// the CRI's SELinuxOption with github.com/opencontainers/selinux (the
// library runc, containerd and CRI-O use), as the peers do: a pod gets a
// process and a mount label with an MCS level of its own (unique on the
// node), its containers share that level unless they name one, and
// volumes are relabelled with the container's mount label when asked.
// On a host without SELinux every label is empty and options are ignored.
package selinux

import (
	"fmt"
	"regexp"

	"github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Options are the CRI's SELinuxOption fields; empty ones are the host's
// container defaults (container_t, container_file_t, a fresh level).
type Options struct {
	User, Role, Type, Level string
}

// Labels are a process label (the context the container's processes run
// in) and a mount label (the context of its mounts and volumes).
type Labels struct {
	Process string `json:"process,omitempty"`
	Mount   string `json:"mount,omitempty"`
}

// Backend is go-selinux's label API; tests fake it.
type Backend interface {
	// Enabled reports whether the host has SELinux.
	Enabled() bool
	// InitLabels returns labels with a fresh MCS level reserved, changed
	// by "user:", "role:", "type:" and "level:" options.
	InitLabels(options []string) (process, mount string, err error)
	// ReserveLabel and ReleaseLabel mark a label's level as used or free.
	ReserveLabel(label string)
	ReleaseLabel(label string)
	// Relabel relabels path and everything below it; shared drops the
	// label's categories (level s0), for content every container may use.
	Relabel(path, label string, shared bool) error
	// ReadOnlyLabel is the host's label of read-only container content
	// (image layers: container_ro_file_t:s0 with the reference policy).
	ReadOnlyLabel() string
	// FileLabel is path's label.
	FileLabel(path string) (string, error)
}

// Host is the host's SELinux through go-selinux.
type Host struct{}

// Enabled implements Backend.
func (Host) Enabled() bool { return selinux.GetEnabled() }

// InitLabels implements Backend.
func (Host) InitLabels(options []string) (string, string, error) { return label.InitLabels(options) }

// ReserveLabel implements Backend.
func (Host) ReserveLabel(l string) { selinux.ReserveLabel(l) }

// ReleaseLabel implements Backend.
func (Host) ReleaseLabel(l string) { selinux.ReleaseLabel(l) }

// Relabel implements Backend.
func (Host) Relabel(path, l string, shared bool) error { return label.Relabel(path, l, shared) }

// ReadOnlyLabel implements Backend.
func (Host) ReadOnlyLabel() string { return selinux.ROFileLabel() }

// FileLabel implements Backend.
func (Host) FileLabel(path string) (string, error) { return selinux.FileLabel(path) }

// SELinux computes labels on one host.
type SELinux struct {
	b Backend
}

// New returns label computation over b; nil means the host (Host).
func New(b Backend) *SELinux {
	if b == nil {
		b = Host{}
	}
	return &SELinux{b: b}
}

// Enabled reports whether pods and containers get labels here.
func (s *SELinux) Enabled() bool { return s != nil && s.b.Enabled() }

// PodLabels reserves a pod's labels: its options, with a fresh MCS level
// unless they give one. Release them when the pod is removed.
func (s *SELinux) PodLabels(o Options) (Labels, error) {
	if !s.Enabled() {
		return Labels{}, nil
	}
	opts, err := o.list("")
	if err != nil {
		return Labels{}, err
	}
	p, m, err := s.b.InitLabels(opts)
	if err != nil {
		return Labels{}, fmt.Errorf("selinux labels for options %+v: %w", o, err)
	}
	return Labels{Process: p, Mount: m}, nil
}

// ContainerLabels are a container's labels: its own options, at the pod's
// MCS level unless it names a level, so that the pod's containers share
// their volumes and /dev/shm (CRI-O's rule; containerd shares the pod's
// label when the container has no options).
func (s *SELinux) ContainerLabels(o Options, pod Labels) (Labels, error) {
	if !s.Enabled() {
		return Labels{}, nil
	}
	opts, err := o.list(Level(pod.Process))
	if err != nil {
		return Labels{}, err
	}
	p, m, err := s.b.InitLabels(opts)
	if err != nil {
		return Labels{}, fmt.Errorf("selinux labels for options %+v: %w", o, err)
	}
	// InitLabels reserved a fresh level it then replaced by the pod's, or
	// the pod's own: the pod keeps its reservation, the container needs
	// none of its own.
	return Labels{Process: p, Mount: m}, nil
}

// Reserve marks the level of a recovered pod's labels as used.
func (s *SELinux) Reserve(l Labels) {
	if s.Enabled() && l.Process != "" {
		s.b.ReserveLabel(l.Process)
	}
}

// Release frees the level of a removed pod's labels.
func (s *SELinux) Release(l Labels) {
	if s.Enabled() && l.Process != "" {
		s.b.ReleaseLabel(l.Process)
	}
}

// Relabel gives path and everything below it the mount label (a CRI
// mount's selinux_relabel).
func (s *SELinux) Relabel(path, mountLabel string) error {
	if !s.Enabled() || mountLabel == "" {
		return nil
	}
	// Private to the label's level, as containerd relabels a CRI mount.
	if err := s.b.Relabel(path, mountLabel, false); err != nil {
		return fmt.Errorf("relabel %s as %s: %w", path, mountLabel, err)
	}
	return nil
}

// RelabelShared gives path and everything below it the mount label without
// its categories (level s0), which a container at any level may read: a
// pod's hostname, hosts and resolv.conf files, as CRI-O labels them, and
// the pod init's executable.
func (s *SELinux) RelabelShared(path, mountLabel string) error {
	if !s.Enabled() || mountLabel == "" {
		return nil
	}
	if err := s.b.Relabel(path, mountLabel, true); err != nil {
		return fmt.Errorf("relabel %s as %s at level s0: %w", path, mountLabel, err)
	}
	return nil
}

// LabelReadOnlyContent gives dir and what lies below it the host's label of
// read-only container content (container_ro_file_t), unless dir has it
// already: the image layers, which a container reads through its overlay
// rootfs. Whatever label the overlay is mounted with, the kernel checks
// the container's process against the lower file's own label when it maps
// it (its libraries, its entrypoint), as the reference policy expects for
// the peers' layer stores (/var/lib/containerd/*/snapshots). Files made in
// dir later take its label. Without SELinux it does nothing.
func (s *SELinux) LabelReadOnlyContent(dir string) error {
	if !s.Enabled() {
		return nil
	}
	ro := s.b.ReadOnlyLabel()
	if ro == "" {
		return nil
	}
	if cur, err := s.b.FileLabel(dir); err == nil && cur == ro {
		return nil
	}
	if err := s.b.Relabel(dir, ro, false); err != nil {
		return fmt.Errorf("label image layers %s as %s: %w", dir, ro, err)
	}
	return nil
}

// SharedFileLabel is the host's container file label at level s0
// (container_file_t:s0 with the reference policy), "" without SELinux.
func (s *SELinux) SharedFileLabel() (string, error) {
	if !s.Enabled() {
		return "", nil
	}
	// The fresh level InitLabels reserves is not kept.
	p, m, err := s.b.InitLabels(nil)
	if err != nil {
		return "", fmt.Errorf("selinux container file label: %w", err)
	}
	s.b.ReleaseLabel(p)
	return WithLevel(m, "s0"), nil
}

// WithLevel is label l with its level replaced by level.
func WithLevel(l, level string) string {
	n := 0
	for i := 0; i < len(l); i++ {
		if l[i] == ':' {
			n++
			if n == 3 {
				return l[:i+1] + level
			}
		}
	}
	if n == 2 {
		return l + ":" + level
	}
	return l
}

// Level is the MCS/MLS level of a label ("user:role:type:level"), "" when
// it has none. The level may itself hold colons (s0-s0:c0.c1023).
func Level(l string) string {
	n := 0
	for i := 0; i < len(l); i++ {
		if l[i] == ':' {
			n++
			if n == 3 {
				return l[i+1:]
			}
		}
	}
	return ""
}

// levelRe is an MLS range with MCS categories: s0, s0:c1,c2, s0-s0:c0.c1023
// (containerd's check, written anew).
var levelRe = regexp.MustCompile(`^s\d+(-s\d+)?(:c\d{1,4}(\.c\d{1,4})?(,c\d{1,4}(\.c\d{1,4})?)*)?$`)

// fieldRe is what a user, role or type may be: an SELinux identifier.
var fieldRe = regexp.MustCompile(`^[A-Za-z0-9_.]+$`)

// list turns the options into go-selinux's "key:value" form; an empty
// level takes defaultLevel.
func (o Options) list(defaultLevel string) ([]string, error) {
	var out []string
	for _, f := range []struct{ key, val string }{{"user", o.User}, {"role", o.Role}, {"type", o.Type}} {
		if f.val == "" {
			continue
		}
		if !fieldRe.MatchString(f.val) {
			return nil, fmt.Errorf("selinux %s %q is not an SELinux identifier: %w", f.key, f.val, errdefs.ErrInvalidArgument)
		}
		out = append(out, f.key+":"+f.val)
	}
	level := o.Level
	if level != "" && !levelRe.MatchString(level) {
		return nil, fmt.Errorf("selinux level %q is not a valid level (like s0:c1,c2): %w", level, errdefs.ErrInvalidArgument)
	}
	if level == "" {
		level = defaultLevel
	}
	if level != "" {
		out = append(out, "level:"+level)
	}
	return out, nil
}
