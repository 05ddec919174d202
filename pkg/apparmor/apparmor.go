// Package apparmor is AppArmor on the node: whether the host has it, the
// profiles its kernel has loaded, and Cricket's default container profile,
// generated from a template and loaded with apparmor_parser, as containerd
// and CRI-O load theirs. It reads the host through a root directory and
// loads through a Parser, so that tests run on a fake tree.
//
// Written here rather than imported: runc's libcontainer/apparmor only
// applies a profile to the calling process, and the libraries that also
// generate and load one (containers/common, containerd's contrib) are
// large, reach into the host's real /sys, and name their own profile.
package apparmor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Unconfined is the name of "no profile".
const Unconfined = "unconfined"

// DefaultProfile is the default name of Cricket's container profile.
const DefaultProfile = "cricket-default"

// Host paths, relative to Options.Root.
const (
	enabledFile  = "sys/module/apparmor/parameters/enabled"
	profilesFile = "sys/kernel/security/apparmor/profiles"
	currentFile  = "proc/self/attr/current"
	policyDir    = "etc/apparmor.d"
)

// Parser loads a profile file into the kernel, replacing a loaded profile
// of the same name (apparmor_parser -Kr FILE).
type Parser interface {
	Load(ctx context.Context, path string) error
}

// Options configure New.
type Options struct {
	// Root is where the host's /sys, /proc and /etc/apparmor.d are found:
	// "/" (or empty) on a node, a fake tree in tests.
	Root string
	// DefaultProfile is the name of Cricket's container profile; empty
	// means DefaultProfile.
	DefaultProfile string
	// Dir is where the generated profile is written before it is loaded
	// (the daemon's <state>/apparmor).
	Dir string
	// Parser loads profiles; nil looks up apparmor_parser (ExecParser).
	// Without one, AppArmor counts as not enabled: nothing could load the
	// default profile.
	Parser Parser
}

// AppArmor is the host's AppArmor as containers see it.
type AppArmor struct {
	root, dir, name string
	parser          Parser
	enabled         bool

	mu sync.Mutex // serialises loading the default profile
}

// New detects AppArmor and, when the host has it, loads the default
// profile unless the kernel has it already. A host without AppArmor is no
// error: Enabled reports false. A default profile that cannot be loaded is.
func New(ctx context.Context, o Options) (*AppArmor, error) {
	a := &AppArmor{root: o.Root, dir: o.Dir, name: o.DefaultProfile, parser: o.Parser}
	if a.root == "" {
		a.root = "/"
	}
	if a.name == "" {
		a.name = DefaultProfile
	}
	if !ValidName(a.name) {
		return nil, fmt.Errorf("apparmor default profile name %q: %w", a.name, errdefs.ErrInvalidArgument)
	}
	log := klog.FromContext(ctx)
	if !kernelEnabled(a.path(enabledFile)) {
		log.V(2).Info("AppArmor is not enabled on this host: containers run without an AppArmor profile")
		return a, nil
	}
	// Without securityfs (a daemon in a container that does not mount
	// it, such as a kind node) no profile can be listed or loaded, as
	// containerd checks too.
	if _, err := os.Stat(filepath.Dir(a.path(profilesFile))); err != nil {
		log.Info("AppArmor is enabled in the kernel but its securityfs is not mounted here: containers run without an AppArmor profile", "error", err.Error())
		return a, nil
	}
	if a.parser == nil {
		p, err := findParser()
		if err != nil {
			log.Info("AppArmor is enabled in the kernel but apparmor_parser is missing: containers run without an AppArmor profile (install the apparmor package)", "error", err.Error())
			return a, nil
		}
		a.parser = p
	}
	a.enabled = true
	if err := a.ensureDefault(ctx); err != nil {
		return nil, err
	}
	log.Info("AppArmor enabled", "defaultProfile", a.name)
	return a, nil
}

// Enabled reports whether containers are confined by AppArmor here.
func (a *AppArmor) Enabled() bool { return a != nil && a.enabled }

// DefaultProfile is the name of the profile RuntimeDefault means.
func (a *AppArmor) DefaultProfile() string {
	if a == nil || a.name == "" {
		return DefaultProfile
	}
	return a.name
}

// Ensure checks that a container may be started under profile: the
// default profile is loaded again when something unloaded it; any other
// profile must be loaded already, else the error wraps
// errdefs.ErrInvalidArgument and names it.
func (a *AppArmor) Ensure(ctx context.Context, profile string) error {
	if !a.Enabled() {
		return fmt.Errorf("apparmor profile %q requested but AppArmor is not enabled on this host: %w", profile, errdefs.ErrInvalidArgument)
	}
	if profile == "" || profile == Unconfined {
		return nil
	}
	if profile == a.name {
		return a.ensureDefault(ctx)
	}
	ok, err := a.Loaded(profile)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("apparmor profile %q is not loaded on this host (load it with apparmor_parser first): %w", profile, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Loaded reports whether the kernel has a profile of that name.
func (a *AppArmor) Loaded(name string) (bool, error) {
	p := a.path(profilesFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return false, fmt.Errorf("read loaded apparmor profiles %s: %w", p, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// "NAME (MODE)"; a name may hold spaces, the mode never does.
		line := sc.Text()
		if i := strings.LastIndex(line, " ("); i >= 0 {
			line = line[:i]
		}
		if line == name {
			return true, nil
		}
	}
	return false, sc.Err()
}

// Profile renders the default profile as this host would load it.
func (a *AppArmor) Profile() ([]byte, error) {
	return generate(profileData{
		Name:     a.DefaultProfile(),
		ABI:      a.abi(),
		Tunables: a.hasPolicy("tunables/global"),
		Base:     a.hasPolicy("abstractions/base"),
		Daemon:   a.daemonProfile(),
	})
}

// ensureDefault loads the default profile unless the kernel has it.
func (a *AppArmor) ensureDefault(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok, err := a.Loaded(a.name); err != nil || ok {
		return err
	}
	text, err := a.Profile()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return fmt.Errorf("create apparmor profile dir %s: %w", a.dir, err)
	}
	// The name may hold '/': the file is named after a cleaned form.
	file := filepath.Join(a.dir, strings.ReplaceAll(a.name, "/", "_"))
	if err := os.WriteFile(file, text, 0o600); err != nil {
		return fmt.Errorf("write apparmor profile %s: %w", file, err)
	}
	if err := a.parser.Load(ctx, file); err != nil {
		return fmt.Errorf("load apparmor profile %s from %s: %w", a.name, file, err)
	}
	if ok, err := a.Loaded(a.name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("apparmor profile %s: the parser loaded %s but the kernel does not list it", a.name, file)
	}
	klog.FromContext(ctx).Info("loaded the default AppArmor profile", "profile", a.name, "file", file)
	return nil
}

func (a *AppArmor) path(rel string) string { return filepath.Join(a.root, rel) }

func (a *AppArmor) hasPolicy(rel string) bool {
	_, err := os.Stat(filepath.Join(a.path(policyDir), rel))
	return err == nil
}

// abi is the policy ABI to declare: AppArmor 3's abi/3.0 when the host's
// policy dir has it; older parsers know no abi rule.
func (a *AppArmor) abi() string {
	if a.hasPolicy("abi/3.0") {
		return "abi/3.0"
	}
	return ""
}

// daemonProfile is the label cricketd runs under, without its mode:
// "NAME (enforce)" or "unconfined"; "" when it cannot be read.
func (a *AppArmor) daemonProfile() string {
	b, err := os.ReadFile(a.path(currentFile))
	if err != nil {
		return ""
	}
	label, _, _ := strings.Cut(strings.TrimSpace(string(b)), " (")
	return label
}

// kernelEnabled reads /sys/module/apparmor/parameters/enabled ("Y").
func kernelEnabled(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// findParser is FindParser; tests fake a host without the parser.
var findParser = func() (Parser, error) { return FindParser() }

// ErrNoParser says apparmor_parser is not installed.
var ErrNoParser = errors.New("apparmor_parser not found in PATH, /sbin or /usr/sbin")
