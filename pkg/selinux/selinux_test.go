package selinux

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// fakeBackend hands out levels s0:c1,c<n> as go-selinux would (a fresh
// one per InitLabels, replaced by a "level:" option) and records
// reservations.
type fakeBackend struct {
	off      bool
	n        int
	reserved map[string]bool
	relabels []string
	labels   map[string]string // FileLabel's answers
}

func newFake() *fakeBackend { return &fakeBackend{reserved: map[string]bool{}} }

func (f *fakeBackend) Enabled() bool { return !f.off }

func (f *fakeBackend) InitLabels(opts []string) (string, string, error) {
	f.n++
	p := map[string]string{"user": "system_u", "role": "system_r", "type": "container_t", "level": fmt.Sprintf("s0:c1,c%d", f.n+1)}
	m := map[string]string{"user": "system_u", "role": "object_r", "type": "container_file_t"}
	fresh := p["level"]
	for _, o := range opts {
		k, v, _ := strings.Cut(o, ":")
		p[k] = v
	}
	// As go-selinux: the level and the user reach the mount label too.
	m["level"], m["user"] = p["level"], p["user"]
	if p["level"] == fresh {
		f.reserved[fresh] = true
	}
	f.reserved[p["level"]] = true
	return p["user"] + ":" + p["role"] + ":" + p["type"] + ":" + p["level"], m["user"] + ":" + m["role"] + ":" + m["type"] + ":" + m["level"], nil
}

func (f *fakeBackend) ReserveLabel(l string) { f.reserved[Level(l)] = true }
func (f *fakeBackend) ReleaseLabel(l string) { delete(f.reserved, Level(l)) }
func (f *fakeBackend) ReadOnlyLabel() string { return "system_u:object_r:container_ro_file_t:s0" }
func (f *fakeBackend) FileLabel(path string) (string, error) {
	if l, ok := f.labels[path]; ok {
		return l, nil
	}
	return "", fmt.Errorf("no label for %s", path)
}
func (f *fakeBackend) Relabel(path, l string, shared bool) error {
	if shared {
		l = WithLevel(l, "s0")
	}
	f.relabels = append(f.relabels, path+"="+l)
	return nil
}

func TestOptionsList(t *testing.T) {
	tests := []struct {
		desc     string
		o        Options
		defLevel string
		want     string
		wantErr  string
	}{
		{desc: "nothing"},
		{desc: "every field", o: Options{User: "system_u", Role: "system_r", Type: "spc_t", Level: "s0:c1,c2"}, want: "user:system_u role:system_r type:spc_t level:s0:c1,c2"},
		{desc: "the pod's level by default", o: Options{Type: "container_t"}, defLevel: "s0:c4,c5", want: "type:container_t level:s0:c4,c5"},
		{desc: "the container's level wins", o: Options{Level: "s0:c7,c8"}, defLevel: "s0:c4,c5", want: "level:s0:c7,c8"},
		{desc: "a range", o: Options{Level: "s0-s0:c0.c1023"}, want: "level:s0-s0:c0.c1023"},
		{desc: "a bad level", o: Options{Level: "s0:c1,c2:x"}, wantErr: "not a valid level"},
		{desc: "a level that is not a level", o: Options{Level: "high"}, wantErr: "not a valid level"},
		{desc: "a type with a colon", o: Options{Type: "a:b"}, wantErr: "not an SELinux identifier"},
		{desc: "a user with a space", o: Options{User: "a b"}, wantErr: "not an SELinux identifier"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := tc.o.list(tc.defLevel)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("err = %v, want InvalidArgument with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	for in, want := range map[string]string{
		"system_u:system_r:container_t:s0:c1,c2":       "s0:c1,c2",
		"system_u:system_r:spc_t:s0-s0:c0.c1023":       "s0-s0:c0.c1023",
		"system_u:system_r:container_t:s0":             "s0",
		"system_u:system_r:container_t":                "",
		"":                                             "",
		"system_u:object_r:container_file_t:s0:c3,c99": "s0:c3,c99",
	} {
		if got := Level(in); got != want {
			t.Errorf("Level(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPodAndContainerLabels: two pods get distinct levels; a pod's
// containers share it unless they name their own; removal frees it.
func TestPodAndContainerLabels(t *testing.T) {
	f := newFake()
	s := New(f)
	pod1, err := s.PodLabels(Options{})
	if err != nil {
		t.Fatal(err)
	}
	pod2, err := s.PodLabels(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if Level(pod1.Process) == "" || Level(pod1.Process) == Level(pod2.Process) {
		t.Fatalf("pods share a level: %q, %q", pod1.Process, pod2.Process)
	}
	if Level(pod1.Mount) != Level(pod1.Process) {
		t.Errorf("pod mount label %q is not at its process level %q", pod1.Mount, pod1.Process)
	}
	tests := []struct {
		desc        string
		o           Options
		wantProcess string
		wantMount   string
	}{
		{desc: "no options share the pod's label", wantProcess: pod1.Process, wantMount: pod1.Mount},
		{desc: "a type keeps the pod's level", o: Options{Type: "spc_t"}, wantProcess: "system_u:system_r:spc_t:" + Level(pod1.Process), wantMount: pod1.Mount},
		{desc: "a level of its own", o: Options{Level: "s0:c10,c20"}, wantProcess: "system_u:system_r:container_t:s0:c10,c20", wantMount: "system_u:object_r:container_file_t:s0:c10,c20"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := s.ContainerLabels(tc.o, pod1)
			if err != nil {
				t.Fatal(err)
			}
			if got.Process != tc.wantProcess || got.Mount != tc.wantMount {
				t.Fatalf("got %+v, want process %q mount %q", got, tc.wantProcess, tc.wantMount)
			}
		})
	}
	s.Release(pod2)
	if f.reserved[Level(pod2.Process)] {
		t.Errorf("level %s still reserved after Release", Level(pod2.Process))
	}
	s.Reserve(pod2)
	if !f.reserved[Level(pod2.Process)] {
		t.Errorf("level %s not reserved after Reserve", Level(pod2.Process))
	}
}

func TestPodLabelsGivenLevel(t *testing.T) {
	s := New(newFake())
	pod, err := s.PodLabels(Options{User: "u", Role: "r", Type: "t", Level: "s0:c5,c6"})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Process != "u:r:t:s0:c5,c6" || pod.Mount != "u:object_r:container_file_t:s0:c5,c6" {
		t.Fatalf("got %+v", pod)
	}
	if _, err := s.PodLabels(Options{Level: "bad"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad level: %v", err)
	}
}

// TestDisabled: without SELinux every option is ignored, even a bad one,
// as containerd does.
func TestDisabled(t *testing.T) {
	f := newFake()
	f.off = true
	s := New(f)
	if l, err := s.PodLabels(Options{Level: "bad", Type: "t"}); err != nil || l != (Labels{}) {
		t.Fatalf("pod labels %+v, %v", l, err)
	}
	if l, err := s.ContainerLabels(Options{Type: "t"}, Labels{}); err != nil || l != (Labels{}) {
		t.Fatalf("container labels %+v, %v", l, err)
	}
	if err := s.Relabel("/x", "l"); err != nil || len(f.relabels) != 0 {
		t.Fatalf("relabel: %v, %v", err, f.relabels)
	}
	var nilS *SELinux
	if nilS.Enabled() {
		t.Fatal("nil SELinux enabled")
	}
}

func TestRelabel(t *testing.T) {
	f := newFake()
	s := New(f)
	if err := s.Relabel("/vol", "system_u:object_r:container_file_t:s0:c1,c2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Relabel("/none", ""); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.relabels, " ") != "/vol=system_u:object_r:container_file_t:s0:c1,c2" {
		t.Fatalf("relabels %v", f.relabels)
	}
}

// TestRelabelShared: the pod's files get the mount label at level s0,
// which any container may read; without SELinux nothing is relabelled.
func TestRelabelShared(t *testing.T) {
	f := newFake()
	s := New(f)
	if err := s.RelabelShared("/pod/hosts", "system_u:object_r:container_file_t:s0:c1,c2"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.relabels, " ") != "/pod/hosts=system_u:object_r:container_file_t:s0" {
		t.Fatalf("relabels %v", f.relabels)
	}
	f.off = true
	f.relabels = nil
	if err := s.RelabelShared("/pod/hosts", "system_u:object_r:container_file_t:s0:c1,c2"); err != nil || len(f.relabels) != 0 {
		t.Fatalf("disabled: %v, %v", err, f.relabels)
	}
}

func TestSharedFileLabel(t *testing.T) {
	f := newFake()
	s := New(f)
	got, err := s.SharedFileLabel()
	if err != nil || got != "system_u:object_r:container_file_t:s0" {
		t.Fatalf("got %q, %v", got, err)
	}
	for l := range f.reserved {
		t.Errorf("level %s left reserved", l)
	}
	f.off = true
	if got, err := s.SharedFileLabel(); err != nil || got != "" {
		t.Fatalf("disabled: %q, %v", got, err)
	}
}

func TestWithLevel(t *testing.T) {
	for _, tc := range [][3]string{
		{"u:r:t:s0:c1,c2", "s0", "u:r:t:s0"},
		{"u:r:t", "s0", "u:r:t:s0"},
		{"u:r:t:s0-s0:c0.c1023", "s0:c3,c4", "u:r:t:s0:c3,c4"},
		{"", "s0", ""},
	} {
		if got := WithLevel(tc[0], tc[1]); got != tc[2] {
			t.Errorf("WithLevel(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

// TestLabelReadOnlyContent: the layer store gets the read-only content
// label, once (found in the enforcing test/vm node: with the layers left
// as the engine made them, container_var_lib_t, every container was
// refused its libraries through its overlay rootfs).
func TestLabelReadOnlyContent(t *testing.T) {
	f := newFake()
	s := New(f)
	if err := s.LabelReadOnlyContent("/var/lib/cricket/snapshots"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.relabels, " ") != "/var/lib/cricket/snapshots=system_u:object_r:container_ro_file_t:s0" {
		t.Fatalf("relabels %v", f.relabels)
	}
	f.relabels = nil
	f.labels = map[string]string{"/var/lib/cricket/snapshots": "system_u:object_r:container_ro_file_t:s0"}
	if err := s.LabelReadOnlyContent("/var/lib/cricket/snapshots"); err != nil || len(f.relabels) != 0 {
		t.Fatalf("already labelled: %v, relabels %v", err, f.relabels)
	}
	f.off = true
	f.labels = nil
	if err := s.LabelReadOnlyContent("/var/lib/cricket/snapshots"); err != nil || len(f.relabels) != 0 {
		t.Fatalf("disabled: %v, relabels %v", err, f.relabels)
	}
}
