package apparmor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// fakeHost is a root dir with AppArmor's sysfs and procfs files.
type fakeHost struct {
	root string
}

func newFakeHost(t *testing.T, enabled string, loaded ...string) fakeHost {
	t.Helper()
	h := fakeHost{root: t.TempDir()}
	if enabled != "" {
		h.write(t, enabledFile, enabled+"\n")
	}
	var lines strings.Builder
	for _, p := range loaded {
		lines.WriteString(p + " (enforce)\n")
	}
	h.write(t, profilesFile, lines.String())
	return h
}

func (h fakeHost) write(t *testing.T, rel, content string) {
	t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeParser "loads" a profile by adding the names the file declares to
// the fake kernel's list, as apparmor_parser -r does.
type fakeParser struct {
	host fakeHost
	err  error

	mu    sync.Mutex
	loads []string // contents loaded, in order
}

var profileLine = regexp.MustCompile(`(?m)^profile "([^"]+)"`)

func (p *fakeParser) Load(_ context.Context, path string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	p.loads = append(p.loads, string(b))
	f, err := os.OpenFile(filepath.Join(p.host.root, profilesFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, m := range profileLine.FindAllStringSubmatch(string(b), -1) {
		if _, err := f.WriteString(m[1] + " (enforce)\n"); err != nil {
			return err
		}
	}
	return nil
}

func (p *fakeParser) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.loads)
}

func TestNewDetects(t *testing.T) {
	tests := []struct {
		desc         string
		enabled      string
		noParser     bool
		noSecurityfs bool
		wantEnabled  bool
		wantLoads    int
	}{
		{desc: "enabled with a parser loads the default profile", enabled: "Y", wantEnabled: true, wantLoads: 1},
		{desc: "disabled in the kernel", enabled: "N"},
		{desc: "no apparmor module", enabled: ""},
		{desc: "no parser", enabled: "Y", noParser: true},
		{desc: "no securityfs", enabled: "Y", noSecurityfs: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			h := newFakeHost(t, tc.enabled)
			p := &fakeParser{host: h}
			o := Options{Root: h.root, Dir: filepath.Join(h.root, "state"), Parser: p}
			if tc.noSecurityfs {
				if err := os.RemoveAll(filepath.Join(h.root, "sys/kernel/security")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.noParser {
				o.Parser = nil
				saved := findParser
				findParser = func() (Parser, error) { return nil, ErrNoParser }
				t.Cleanup(func() { findParser = saved })
			}
			a, err := New(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if a.Enabled() != tc.wantEnabled || p.count() != tc.wantLoads {
				t.Fatalf("enabled %v, %d loads; want %v, %d", a.Enabled(), p.count(), tc.wantEnabled, tc.wantLoads)
			}
			if a.DefaultProfile() != DefaultProfile {
				t.Errorf("default profile %q", a.DefaultProfile())
			}
		})
	}
}

func TestNewLoadsOnce(t *testing.T) {
	h := newFakeHost(t, "Y")
	h.write(t, currentFile, "cricketd (enforce)\n")
	h.write(t, filepath.Join(policyDir, "abi/3.0"), "")
	h.write(t, filepath.Join(policyDir, "tunables/global"), "")
	p := &fakeParser{host: h}
	o := Options{Root: h.root, DefaultProfile: "my-default", Dir: filepath.Join(h.root, "run", "apparmor"), Parser: p}
	ctx := context.Background()
	a, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.count() != 1 {
		t.Fatalf("%d loads, want 1", p.count())
	}
	got := p.loads[0]
	for _, want := range []string{`profile "my-default"`, "abi <abi/3.0>,", "#include <tunables/global>", `peer="cricketd"`} {
		if !strings.Contains(got, want) {
			t.Errorf("loaded profile lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "abstractions/base") {
		t.Errorf("includes abstractions/base, which the host lacks:\n%s", got)
	}
	if b, err := os.ReadFile(filepath.Join(o.Dir, "my-default")); err != nil || string(b) != got {
		t.Errorf("profile file under the state dir: %v, %q", err, b)
	}
	// Loaded already: a second daemon start, and every container, leave it.
	if _, err := New(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := a.Ensure(ctx, "my-default"); err != nil {
		t.Fatal(err)
	}
	if p.count() != 1 {
		t.Fatalf("%d loads, want still 1", p.count())
	}
	// Unloaded behind our back: the next container loads it again.
	h.write(t, profilesFile, "other (complain)\n")
	if err := a.Ensure(ctx, "my-default"); err != nil {
		t.Fatal(err)
	}
	if p.count() != 2 {
		t.Fatalf("%d loads, want 2 after the profile was unloaded", p.count())
	}
}

func TestNewFailures(t *testing.T) {
	t.Run("parser fails", func(t *testing.T) {
		h := newFakeHost(t, "Y")
		p := &fakeParser{host: h, err: errors.New("syntax error")}
		_, err := New(context.Background(), Options{Root: h.root, Dir: filepath.Join(h.root, "s"), Parser: p})
		if err == nil || !strings.Contains(err.Error(), "syntax error") || !strings.Contains(err.Error(), "cricket-default") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("parser succeeds but the kernel does not list it", func(t *testing.T) {
		h := newFakeHost(t, "Y")
		_, err := New(context.Background(), Options{Root: h.root, Dir: filepath.Join(h.root, "s"), Parser: nopParser{}})
		if err == nil || !strings.Contains(err.Error(), "does not list it") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		h := newFakeHost(t, "Y")
		_, err := New(context.Background(), Options{Root: h.root, DefaultProfile: "a b", Parser: nopParser{}})
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("securityfs without a profiles file", func(t *testing.T) {
		h := newFakeHost(t, "Y")
		if err := os.Remove(filepath.Join(h.root, profilesFile)); err != nil {
			t.Fatal(err)
		}
		_, err := New(context.Background(), Options{Root: h.root, Dir: filepath.Join(h.root, "s"), Parser: nopParser{}})
		if err == nil || !strings.Contains(err.Error(), "read loaded apparmor profiles") {
			t.Fatalf("err = %v", err)
		}
	})
}

type nopParser struct{}

func (nopParser) Load(context.Context, string) error { return nil }

func TestEnsure(t *testing.T) {
	h := newFakeHost(t, "Y", "cri-deny-write", "name with spaces")
	p := &fakeParser{host: h}
	a, err := New(context.Background(), Options{Root: h.root, Dir: filepath.Join(h.root, "s"), Parser: p})
	if err != nil {
		t.Fatal(err)
	}
	off, err := New(context.Background(), Options{Root: newFakeHost(t, "N").root})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		a       *AppArmor
		profile string
		wantErr string
	}{
		{desc: "loaded localhost profile", a: a, profile: "cri-deny-write"},
		{desc: "a loaded name with spaces", a: a, profile: "name with spaces"},
		{desc: "the default profile", a: a, profile: DefaultProfile},
		{desc: "unconfined", a: a, profile: Unconfined},
		{desc: "unloaded profile is named", a: a, profile: "non-existent-profile", wantErr: `apparmor profile "non-existent-profile" is not loaded`},
		{desc: "a prefix of a loaded name is not loaded", a: a, profile: "cri-deny", wantErr: "is not loaded"},
		{desc: "without AppArmor", a: off, profile: "cri-deny-write", wantErr: "AppArmor is not enabled on this host"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.a.Ensure(context.Background(), tc.profile)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want InvalidArgument with %q", err, tc.wantErr)
			}
		})
	}
}

// TestEnsureConcurrent: containers created at once after the profile was
// unloaded load it once.
func TestEnsureConcurrent(t *testing.T) {
	h := newFakeHost(t, "Y")
	p := &fakeParser{host: h}
	a, err := New(context.Background(), Options{Root: h.root, Dir: filepath.Join(h.root, "s"), Parser: p})
	if err != nil {
		t.Fatal(err)
	}
	h.write(t, profilesFile, "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Ensure(context.Background(), DefaultProfile); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p.count() != 2 {
		t.Fatalf("%d loads, want 2 (start, then one reload)", p.count())
	}
}
