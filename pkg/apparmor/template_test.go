package apparmor

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fullHost is what a Debian or Ubuntu node has: AppArmor 3's policy dir,
// and cricketd under a profile of its own.
var fullHost = profileData{Name: "cricket-default", ABI: "abi/3.0", Tunables: true, Base: true, Daemon: "cricketd"}

// TestProfileDenies holds the generated profile to what the peers' default
// profiles deny, rule by rule, and to what a normal container needs.
func TestProfileDenies(t *testing.T) {
	b, err := generate(fullHost)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	rules := []struct{ desc, rule string }{
		{"named and attached to deleted and disconnected paths", `profile "cricket-default" flags=(attach_disconnected,mediate_deleted) {`},
		{"policy ABI", "abi <abi/3.0>,"},
		{"tunables define @{PROC}", "#include <tunables/global>"},
		{"base abstraction", "  #include <abstractions/base>"},
		{"network allowed", "  network,\n"},
		{"capabilities left to the capability set", "  capability,\n"},
		{"files allowed unless denied", "  file,\n"},
		{"umount allowed", "  umount,\n"},
		{"no mount", "  deny mount,\n"},
		{"signals from the host", "signal (receive) peer=unconfined,"},
		{"signals from the daemon's profile", `signal (receive) peer="cricketd",`},
		{"signals from runc", "signal (receive) peer=runc,"},
		{"signals from crun", "signal (receive) peer=crun,"},
		{"signals within the container", `signal (send,receive) peer="cricket-default",`},
		{"ptrace only within the container", `ptrace (trace,tracedby,read,readby) peer="cricket-default",`},
		{"no writes to /proc's top-level files", "deny @{PROC}/* w,"},
		{"no writes below /proc dirs that are not processes or sys", "deny @{PROC}/{[^1-9/],[^1-9/][^0-9/],[^1-9s/][^0-9y/][^0-9s/],[^1-9/][^0-9/][^0-9/][^0-9/]*}/** w,"},
		{"no writes to /proc/sys outside kernel", "deny @{PROC}/sys/[^k]** w,"},
		{"no writes to /proc/sys/kernel but shm*", "deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,"},
		{"no sysrq-trigger", "deny @{PROC}/sysrq-trigger rwklx,"},
		{"no kcore", "deny @{PROC}/kcore rwklx,"},
		{"no writes to /sys but /sys/fs/cgroup (1)", "deny /sys/[^f]*/** wklx,"},
		{"no writes to /sys but /sys/fs/cgroup (2)", "deny /sys/f[^s]*/** wklx,"},
		{"no writes to /sys but /sys/fs/cgroup (3)", "deny /sys/fs/[^c]*/** wklx,"},
		{"no writes to /sys but /sys/fs/cgroup (4)", "deny /sys/fs/c[^g]*/** wklx,"},
		{"no writes to /sys but /sys/fs/cgroup (5)", "deny /sys/fs/cg[^r]*/** wklx,"},
		{"no firmware", "deny /sys/firmware/** rwklx,"},
		{"no RAPL counters", "deny /sys/devices/virtual/powercap/** rwklx,"},
		{"no LSM files", "deny /sys/kernel/security/** rwklx,"},
	}
	for _, r := range rules {
		if !strings.Contains(text, r.rule) {
			t.Errorf("%s: the profile lacks %q:\n%s", r.desc, r.rule, text)
		}
	}
	// Nothing that would widen the profile beyond the peers'.
	for _, bad := range []string{"\n  mount,", "ptrace,", "signal,", "peer=unconfined,\n  ptrace", "change_profile", "pivot_root,"} {
		if strings.Contains(text, bad) {
			t.Errorf("the profile allows %q:\n%s", bad, text)
		}
	}
}

func TestProfileVariants(t *testing.T) {
	tests := []struct {
		desc     string
		data     profileData
		want     []string
		wantNot  []string
		wantFail bool
	}{
		{
			desc:    "a host without a policy dir defines @{PROC} itself",
			data:    profileData{Name: "cricket-default"},
			want:    []string{"@{PROC}=/proc/\n"},
			wantNot: []string{"abi <", "#include"},
		},
		{
			desc:    "an unconfined daemon adds no peer of its own",
			data:    profileData{Name: "p", Daemon: Unconfined},
			wantNot: []string{`peer="unconfined"`},
		},
		{
			desc:    "a daemon label that could break out of quotes is left out",
			data:    profileData{Name: "p", Daemon: `evil", peer=*`},
			wantNot: []string{"evil"},
		},
		{desc: "a name with a quote is refused", data: profileData{Name: `a"b`}, wantFail: true},
		{desc: "a name with a space is refused", data: profileData{Name: "a b"}, wantFail: true},
		{desc: "unconfined is not a profile to generate", data: profileData{Name: Unconfined}, wantFail: true},
		{desc: "an empty name is refused", data: profileData{}, wantFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b, err := generate(tc.data)
			if tc.wantFail {
				if err == nil {
					t.Fatalf("generated:\n%s", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("lacks %q:\n%s", w, b)
				}
			}
			for _, w := range tc.wantNot {
				if bytes.Contains(b, []byte(w)) {
					t.Errorf("has %q:\n%s", w, b)
				}
			}
		})
	}
}

// TestProfileCompiles runs the host's apparmor_parser on the generated
// profile without loading it (-Q), so the template is checked by the real
// grammar; it also makes sure the parser does refuse a broken profile, so
// that the check can fail. hack/deps.sh installs the parser.
func TestProfileCompiles(t *testing.T) {
	parser, err := FindParser()
	if err != nil {
		t.Skipf("this host has no apparmor_parser (the apparmor package): %v", err)
	}
	if _, err := os.Stat("/etc/apparmor.d/tunables/global"); err != nil {
		t.Skipf("this host has apparmor_parser but no /etc/apparmor.d policy dir: %v", err)
	}
	dir := t.TempDir()
	compile := func(name string, text []byte) error {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, text, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(context.Background(), parser.Path, "-Q", "-K", "-S", f).CombinedOutput()
		if err != nil {
			return &parseError{err: err, out: string(out)}
		}
		return nil
	}
	for _, d := range []profileData{fullHost, {Name: "cricket-default"}, {Name: "x/y.z", Tunables: true}} {
		b, err := generate(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := compile("ok", b); err != nil {
			t.Errorf("%+v: apparmor_parser refuses the profile: %v\n%s", d, err, b)
		}
	}
	b, _ := generate(fullHost)
	broken := bytes.Replace(b, []byte("deny mount,"), []byte("deny mount"), 1)
	if err := compile("broken", broken); err == nil {
		t.Error("apparmor_parser accepted a profile with a missing comma: the check above proves nothing")
	}
}

type parseError struct {
	err error
	out string
}

func (e *parseError) Error() string { return e.err.Error() + ": " + e.out }
