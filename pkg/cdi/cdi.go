// Package cdi resolves Container Device Interface devices
// (https://github.com/cncf-tags/container-device-interface, SPEC.md) from
// spec files in a list of directories and applies their container edits to
// an OCI spec. It reads the subset of the format a container runtime acts
// on: per-device and spec-wide containerEdits with env, deviceNodes,
// mounts, hooks and additionalGIDs. Intel RDT and network device edits are
// refused, so that a device is never half-applied.
//
// Specs are re-read on every Resolve: a device plugin may write or remove
// a spec at any time, and a container creation reads a few small files.
package cdi

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// DefaultSpecDirs are where CDI specs live, lowest priority first: a device
// in /var/run/cdi (dynamic, written by device plugins) replaces one of the
// same name in /etc/cdi (static).
var DefaultSpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// Spec is one CDI spec file.
type Spec struct {
	Version        string         `json:"cdiVersion" yaml:"cdiVersion"`
	Kind           string         `json:"kind" yaml:"kind"`
	Devices        []Device       `json:"devices" yaml:"devices"`
	ContainerEdits ContainerEdits `json:"containerEdits,omitempty" yaml:"containerEdits,omitempty"`
}

// Device is one named device of a spec.
type Device struct {
	Name           string         `json:"name" yaml:"name"`
	ContainerEdits ContainerEdits `json:"containerEdits" yaml:"containerEdits"`
}

// ContainerEdits are the changes a device makes to a container.
type ContainerEdits struct {
	Env            []string     `json:"env,omitempty" yaml:"env,omitempty"`
	DeviceNodes    []DeviceNode `json:"deviceNodes,omitempty" yaml:"deviceNodes,omitempty"`
	Hooks          []Hook       `json:"hooks,omitempty" yaml:"hooks,omitempty"`
	Mounts         []Mount      `json:"mounts,omitempty" yaml:"mounts,omitempty"`
	AdditionalGIDs []uint32     `json:"additionalGids,omitempty" yaml:"additionalGids,omitempty"`
	// Edits Cricket does not apply; a device using them is refused.
	IntelRdt   any `json:"intelRdt,omitempty" yaml:"intelRdt,omitempty"`
	NetDevices any `json:"netDevices,omitempty" yaml:"netDevices,omitempty"`
}

// DeviceNode is a device node to create in the container.
type DeviceNode struct {
	Path        string  `json:"path" yaml:"path"`
	HostPath    string  `json:"hostPath,omitempty" yaml:"hostPath,omitempty"`
	Type        string  `json:"type,omitempty" yaml:"type,omitempty"`
	Major       int64   `json:"major,omitempty" yaml:"major,omitempty"`
	Minor       int64   `json:"minor,omitempty" yaml:"minor,omitempty"`
	FileMode    *uint32 `json:"fileMode,omitempty" yaml:"fileMode,omitempty"`
	Permissions string  `json:"permissions,omitempty" yaml:"permissions,omitempty"`
	UID         *uint32 `json:"uid,omitempty" yaml:"uid,omitempty"`
	GID         *uint32 `json:"gid,omitempty" yaml:"gid,omitempty"`
}

// Mount is a mount to add to the container.
type Mount struct {
	HostPath      string   `json:"hostPath" yaml:"hostPath"`
	ContainerPath string   `json:"containerPath" yaml:"containerPath"`
	Type          string   `json:"type,omitempty" yaml:"type,omitempty"`
	Options       []string `json:"options,omitempty" yaml:"options,omitempty"`
}

// Hook is an OCI hook to add to the container.
type Hook struct {
	HookName string   `json:"hookName" yaml:"hookName"`
	Path     string   `json:"path" yaml:"path"`
	Args     []string `json:"args,omitempty" yaml:"args,omitempty"`
	Env      []string `json:"env,omitempty" yaml:"env,omitempty"`
	Timeout  *int     `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

var (
	// kindRE is vendor/class: vendor a DNS-like name, class a simple name.
	kindRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?/[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.:-]*[A-Za-z0-9])?$`)
	// hookNames are the OCI hooks a CDI hook may name.
	hookNames = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
)

// ParseQualifiedName splits "vendor.com/class=name".
func ParseQualifiedName(q string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(q, "=")
	if !ok || !kindRE.MatchString(kind) || !nameRE.MatchString(name) {
		return "", "", fmt.Errorf("CDI device name %q is not vendor/class=name: %w", q, errdefs.ErrInvalidArgument)
	}
	return kind, name, nil
}

// ParseSpec decodes a spec file's content (JSON, or YAML when the name ends
// in .yaml or .yml) and checks it.
func ParseSpec(name string, data []byte) (*Spec, error) {
	var s Spec
	var err error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &s)
	default:
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return nil, fmt.Errorf("decode CDI spec %s: %w", name, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("CDI spec %s: %w", name, err)
	}
	return &s, nil
}

func (s *Spec) validate() error {
	if s.Version == "" {
		return errors.New("no cdiVersion")
	}
	if !kindRE.MatchString(s.Kind) {
		return fmt.Errorf("kind %q is not vendor/class", s.Kind)
	}
	if len(s.Devices) == 0 {
		return errors.New("no devices")
	}
	if err := s.ContainerEdits.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range s.Devices {
		if !nameRE.MatchString(d.Name) {
			return fmt.Errorf("device name %q is invalid", d.Name)
		}
		if seen[d.Name] {
			return fmt.Errorf("device %q is listed twice", d.Name)
		}
		seen[d.Name] = true
		if err := d.ContainerEdits.validate(); err != nil {
			return fmt.Errorf("device %q: %w", d.Name, err)
		}
	}
	return nil
}

func (e *ContainerEdits) validate() error {
	if e.IntelRdt != nil || e.NetDevices != nil {
		return errors.New("intelRdt and netDevices edits are not supported")
	}
	for _, v := range e.Env {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("env %q is not KEY=VALUE", v)
		}
	}
	for _, d := range e.DeviceNodes {
		if !isAbs(d.Path) || (d.HostPath != "" && !isAbs(d.HostPath)) {
			return fmt.Errorf("device node %q (host %q): paths must be absolute", d.Path, d.HostPath)
		}
		switch d.Type {
		case "", "c", "u", "b", "p":
		default:
			return fmt.Errorf("device node %s has type %q", d.Path, d.Type)
		}
		if strings.Trim(d.Permissions, "rwm") != "" {
			return fmt.Errorf("device node %s has permissions %q, want a subset of rwm", d.Path, d.Permissions)
		}
	}
	for _, m := range e.Mounts {
		if !isAbs(m.HostPath) || !isAbs(m.ContainerPath) {
			return fmt.Errorf("mount %q -> %q: paths must be absolute", m.HostPath, m.ContainerPath)
		}
	}
	for _, h := range e.Hooks {
		if !slices.Contains(hookNames, h.HookName) {
			return fmt.Errorf("hook %q is not one of %v", h.HookName, hookNames)
		}
		if !isAbs(h.Path) {
			return fmt.Errorf("hook path %q is not absolute", h.Path)
		}
	}
	return nil
}

func isAbs(p string) bool {
	return path.IsAbs(p) && !strings.ContainsRune(p, 0)
}

// Registry finds devices in spec directories.
type Registry struct {
	dirs []string
}

// NewRegistry reads specs from dirs, later ones taking priority. Missing
// directories are fine (most hosts have none).
func NewRegistry(dirs []string) *Registry {
	return &Registry{dirs: slices.Clone(dirs)}
}

// Dirs are the registry's spec directories.
func (r *Registry) Dirs() []string { return slices.Clone(r.dirs) }

// resolved is one device with the spec-wide edits of its spec.
type resolved struct {
	specEdits, devEdits ContainerEdits
	file                string
}

// load reads every spec, returning the devices by qualified name and the
// problems of files that could not be used.
func (r *Registry) load() (map[string]resolved, []error) {
	devs := map[string]resolved{}
	var problems []error
	for _, dir := range r.dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				problems = append(problems, fmt.Errorf("read CDI spec dir %s: %w", dir, err))
			}
			continue
		}
		// Within a directory, later names win, as in the reference library.
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.IsDir() || (ext != ".json" && ext != ".yaml" && ext != ".yml") {
				continue
			}
			file := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(file)
			if err != nil {
				problems = append(problems, fmt.Errorf("read CDI spec: %w", err))
				continue
			}
			s, err := ParseSpec(file, data)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			for _, d := range s.Devices {
				devs[s.Kind+"="+d.Name] = resolved{specEdits: s.ContainerEdits, devEdits: d.ContainerEdits, file: file}
			}
		}
	}
	return devs, problems
}

// Resolve returns the edits of the named devices (vendor/class=name), each
// spec's spec-wide edits once. An unknown or malformed name is an
// InvalidArgument error that also lists the spec files that could not be
// read.
func (r *Registry) Resolve(names []string) (*ContainerEdits, error) {
	if len(names) == 0 {
		return &ContainerEdits{}, nil
	}
	devs, problems := r.load()
	out := &ContainerEdits{}
	specsApplied := map[string]bool{}
	for _, q := range names {
		if _, _, err := ParseQualifiedName(q); err != nil {
			return nil, err
		}
		d, ok := devs[q]
		if !ok {
			err := fmt.Errorf("CDI device %q not found in %v: %w", q, r.dirs, errdefs.ErrInvalidArgument)
			if len(problems) > 0 {
				err = fmt.Errorf("%w (unusable spec files: %w)", err, errors.Join(problems...))
			}
			return nil, err
		}
		if !specsApplied[d.file] {
			specsApplied[d.file] = true
			out.append(d.specEdits)
		}
		out.append(d.devEdits)
	}
	return out, nil
}

func (e *ContainerEdits) append(o ContainerEdits) {
	e.Env = append(e.Env, o.Env...)
	e.DeviceNodes = append(e.DeviceNodes, o.DeviceNodes...)
	e.Hooks = append(e.Hooks, o.Hooks...)
	e.Mounts = append(e.Mounts, o.Mounts...)
	e.AdditionalGIDs = append(e.AdditionalGIDs, o.AdditionalGIDs...)
}
