package container_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/container/containertest"
)

// archiveFiles lists the archive's entries with their contents.
func archiveFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = string(data)
	}
}

func (e *env) withUpper(t *testing.T, id string) {
	t.Helper()
	upper := filepath.Join(e.dir, "upper-"+id)
	if err := os.MkdirAll(filepath.Join(upper, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "data/count"), []byte("1\n2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if e.rootfs.Uppers == nil {
		e.rootfs.Uppers = map[string]string{}
	}
	e.rootfs.Uppers[id] = upper
}

func TestCheckpointRunningContainer(t *testing.T) {
	e := newEnv(t)
	c := e.started(t, "counter", "busybox")
	e.withUpper(t, c.ID)
	loc := filepath.Join(t.TempDir(), "c.tar")
	if err := e.svc.Checkpoint(context.Background(), c.ID, loc, 0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(loc)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v, %v; want a 0600 file", fi, err)
	}
	files := archiveFiles(t, loc)
	for _, name := range []string{metadata.CheckpointDirectory + "/pages-1.img", metadata.ConfigDumpFile, metadata.SpecDumpFile, metadata.RootFsDiffTar, metadata.DumpLogFile} {
		if _, ok := files[name]; !ok {
			t.Errorf("archive lacks %s (has %v)", name, keys(files))
		}
	}
	if _, ok := files[metadata.DeletedFilesFile]; ok {
		t.Errorf("archive has %s though nothing was deleted", metadata.DeletedFilesFile)
	}
	var cfg metadata.ContainerConfig
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metadata.ConfigDumpFile), []byte(files[metadata.ConfigDumpFile]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := metadata.ReadJSONFile(&cfg, dir, metadata.ConfigDumpFile); err != nil {
		t.Fatal(err)
	}
	if cfg.ID != c.ID || cfg.Name != c.Name || cfg.RootfsImageRef != "sha256:b0" || cfg.OCIRuntime != runtime.DefaultHandler || cfg.CheckpointedAt.IsZero() {
		t.Errorf("config.dump = %+v", cfg)
	}
	diff := tar.NewReader(stringReader(files[metadata.RootFsDiffTar]))
	var diffNames []string
	for {
		h, err := diff.Next()
		if err != nil {
			break
		}
		diffNames = append(diffNames, h.Name)
	}
	if fmt.Sprint(diffNames) != "[data/ data/count]" {
		t.Errorf("rootfs-diff.tar holds %v", diffNames)
	}
	p := e.shims.Proc(c.ID)
	if len(p.Checkpoints) != 1 || !p.Checkpoints[0].LeaveRunning || !p.PausedAtCheckpoint[0] {
		t.Fatalf("shim checkpoints = %+v (paused: %v), want one with LeaveRunning, paused", p.Checkpoints, p.PausedAtCheckpoint)
	}
	if p.Paused {
		t.Fatal("container left paused")
	}
	if st := c.Status().State; st != container.StateRunning || p.Exit != nil {
		t.Fatalf("container is %s after the checkpoint, want running", st)
	}
	if _, err := os.Stat(filepath.Join(c.Bundle, "checkpoint-work")); !os.IsNotExist(err) {
		t.Fatalf("scratch dir left behind: %v", err)
	}
}

func TestCheckpointRefusals(t *testing.T) {
	criuGone := fmt.Errorf("CRIU is unusable: criu check: Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds: %w", errdefs.ErrFailedPrecondition)
	cases := []struct {
		desc     string
		criuErr  error
		shimErr  error
		created  bool
		location func(dir string) string
		want     error
	}{
		{desc: "CRIU unusable", criuErr: criuGone, want: errdefs.ErrFailedPrecondition},
		{desc: "container not running", created: true, want: errdefs.ErrFailedPrecondition},
		{desc: "relative location", location: func(string) string { return "c.tar" }, want: errdefs.ErrInvalidArgument},
		{desc: "location with ..", location: func(d string) string { return d + "/../c.tar" }, want: errdefs.ErrInvalidArgument},
		{desc: "CRIU fails", shimErr: errors.New("criu failed: type DUMP errno 0"), want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			e.criuErr = tc.criuErr
			var c *container.Container
			if tc.created {
				c = e.create(t, "counter", "busybox")
			} else {
				c = e.started(t, "counter", "busybox")
			}
			e.withUpper(t, c.ID)
			e.shims.Fail("Checkpoint", tc.shimErr)
			out := t.TempDir()
			loc := filepath.Join(out, "c.tar")
			if tc.location != nil {
				loc = tc.location(out)
			}
			err := e.svc.Checkpoint(context.Background(), c.ID, loc, 0)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Checkpoint = %v, want %v", err, tc.want)
			}
			if tc.criuErr != nil && err.Error() != tc.criuErr.Error() {
				t.Errorf("error %q does not give CRIU's reason %q", err, tc.criuErr)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("output dir holds %d entries after a failure", len(entries))
			}
			if _, err := os.Stat(filepath.Join(c.Bundle, "checkpoint-work")); !os.IsNotExist(err) {
				t.Errorf("scratch dir left behind: %v", err)
			}
			if st := c.Status().State; !tc.created && st != container.StateRunning {
				t.Errorf("container is %s, want still running", st)
			}
			if p := e.shims.Proc(c.ID); p != nil && p.Paused {
				t.Error("container left paused")
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type strReader struct {
	s string
	i int
}

func (r *strReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}

func stringReader(s string) io.Reader { return &strReader{s: s} }

func TestRestoreFromArchive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking a checkpoint's rootfs changes keeps their owners: needs root")
	}
	e := newEnv(t)
	c := e.started(t, "counter", "busybox")
	e.withUpper(t, c.ID)
	archive := filepath.Join(t.TempDir(), "c.tar")
	if err := e.svc.Checkpoint(context.Background(), c.ID, archive, 0); err != nil {
		t.Fatal(err)
	}
	cfg := ctrConfig("restored", "busybox")
	cfg.Image.Image = archive
	r, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if r.Image.ID != "sha256:b0" {
		t.Errorf("restored container's image = %+v, want the checkpointed one", r.Image)
	}
	if r.Restore == nil || r.Restore.ImagePath != filepath.Join(r.Bundle, "restore", "checkpoint") {
		t.Fatalf("Restore = %+v", r.Restore)
	}
	if data, err := os.ReadFile(filepath.Join(r.Rootfs, "data/count")); err != nil || string(data) != "1\n2\n3\n" {
		t.Fatalf("rootfs changes not applied: %q, %v", data, err)
	}
	if err := e.svc.Start(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if p := e.shims.Proc(r.ID); p == nil || p.Create.Restore == nil || *p.Create.Restore != *r.Restore {
		t.Fatalf("shim create = %+v, want the restore options", p)
	}
	if st := r.Status().State; st != container.StateRunning {
		t.Fatalf("restored container is %s", st)
	}
}

func TestRestoreRefusals(t *testing.T) {
	e := newEnv(t)
	cfg := ctrConfig("restored", "busybox")
	cfg.Image.Image = filepath.Join(t.TempDir(), "missing.tar")
	if _, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg}); !errdefs.IsNotFound(err) {
		t.Fatalf("Create from a missing archive = %v, want NotFound", err)
	}
	notTar := filepath.Join(t.TempDir(), "junk.tar")
	if err := os.WriteFile(notTar, []byte("not a tar"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Image.Image = notTar
	if _, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Create from junk = %v, want InvalidArgument", err)
	}
	e.criuErr = fmt.Errorf("CRIU is unusable: test: %w", errdefs.ErrFailedPrecondition)
	if _, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Create without CRIU = %v, want FailedPrecondition", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "containers")); len(entries) != 0 {
		t.Fatalf("failed creates left %d bundles", len(entries))
	}
	if got := e.svc.List(container.Filter{}); len(got) != 0 {
		t.Fatalf("failed creates left %d containers", len(got))
	}
}

func TestCheckpointPod(t *testing.T) {
	e := newEnv(t)
	a := e.started(t, "counter", "busybox")
	b := e.started(t, "side", "busybox")
	e.withUpper(t, a.ID)
	e.withUpper(t, b.ID)
	// Every container is paused before any is captured.
	var pausedAtEach [][]bool
	e.shims.OnCheckpoint = func(string, runtime.CheckpointOptions) error {
		pausedAtEach = append(pausedAtEach, []bool{e.shims.ProcLocked(a.ID).Paused, e.shims.ProcLocked(b.ID).Paused})
		return nil
	}
	out := t.TempDir()
	if err := e.svc.CheckpointPod(context.Background(), podID, []string{b.ID, a.ID}, out, checkpoint.Options{}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(pausedAtEach) != "[[true true] [true true]]" {
		t.Fatalf("paused state at each capture: %v, want both paused at both", pausedAtEach)
	}
	for _, c := range []*container.Container{a, b} {
		if p := e.shims.Proc(c.ID); p.Paused || p.Exit != nil {
			t.Fatalf("container %s left paused or stopped", c.ID)
		}
		name := c.Config.GetMetadata().GetName()
		for _, f := range []string{metadata.CheckpointDirectory + "/pages-1.img", metadata.ConfigDumpFile, metadata.SpecDumpFile, metadata.RootFsDiffTar} {
			fi, err := os.Stat(filepath.Join(out, name, f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s/%s: %v, %v; want a 0600 file", name, f, fi, err)
			}
		}
	}
	var opts checkpoint.PodOptions
	if _, err := metadata.ReadJSONFile(&opts, out, metadata.PodOptionsFile); err != nil || opts.Version != 1 || len(opts.Containers) != 2 {
		t.Fatalf("pod.options = %+v, %v", opts, err)
	}
}

func TestCheckpointPodFailureLeavesNothing(t *testing.T) {
	e := newEnv(t)
	a := e.started(t, "counter", "busybox")
	b := e.started(t, "side", "busybox")
	e.withUpper(t, a.ID)
	e.withUpper(t, b.ID)
	n := 0
	e.shims.OnCheckpoint = func(string, runtime.CheckpointOptions) error {
		if n++; n == 2 {
			return errors.New("injected: criu dump failed")
		}
		return nil
	}
	out := t.TempDir()
	if err := e.svc.CheckpointPod(context.Background(), podID, []string{a.ID, b.ID}, out, checkpoint.Options{}); err == nil {
		t.Fatal("CheckpointPod succeeded with a failing dump")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Fatalf("output dir holds %d entries after a failure", len(entries))
	}
	for _, c := range []*container.Container{a, b} {
		if p := e.shims.Proc(c.ID); p.Paused {
			t.Fatalf("container %s left paused", c.ID)
		}
		if _, err := os.Stat(filepath.Join(c.Bundle, "checkpoint-work")); !os.IsNotExist(err) {
			t.Fatalf("scratch dir of %s left: %v", c.ID, err)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the output dir itself was removed: %v", err)
	}

	// A stopped container, a repeated one, or none: refused before any pause.
	e.shims.OnCheckpoint = nil
	e.shims.Exit(b.ID, 0, false)
	waitExited(t, b)
	for _, ids := range [][]string{{a.ID, b.ID}, {a.ID, a.ID}, nil} {
		err := e.svc.CheckpointPod(context.Background(), podID, ids, out, checkpoint.Options{})
		if !errdefs.IsFailedPrecondition(err) && !errdefs.IsInvalidArgument(err) {
			t.Errorf("CheckpointPod(%v) = %v", ids, err)
		}
	}
	if p := e.shims.Proc(a.ID); p.Paused {
		t.Fatal("a refused request paused a container")
	}
}

func TestCreateFromPodCheckpointDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking a checkpoint's rootfs changes keeps their owners: needs root")
	}
	e := newEnv(t)
	a := e.started(t, "counter", "busybox")
	e.withUpper(t, a.ID)
	out := t.TempDir()
	if err := e.svc.CheckpointPod(context.Background(), podID, []string{a.ID}, out, checkpoint.Options{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "counter")
	before := archiveTreeSum(t, out)

	cfg := ctrConfig("counter2", "nginx")
	if _, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg, Checkpoint: dir}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Create with another image than the checkpoint's = %v, want FailedPrecondition", err)
	}
	cfg = ctrConfig("counter2", "busybox")
	r, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg, Checkpoint: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.Restore == nil || r.Status().State != container.StateCreated {
		t.Fatalf("restored container: Restore %+v, state %s", r.Restore, r.Status().State)
	}
	if data, err := os.ReadFile(filepath.Join(r.Rootfs, "data/count")); err != nil || string(data) != "1\n2\n3\n" {
		t.Fatalf("rootfs changes not applied: %q, %v", data, err)
	}
	if after := archiveTreeSum(t, out); after != before {
		t.Fatal("creating from the checkpoint changed it")
	}
}

// archiveTreeSum lists a tree's paths, modes and sizes.
func archiveTreeSum(t *testing.T, root string) string {
	t.Helper()
	var b []byte
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b = fmt.Appendf(b, "%s %v %d\n", p, fi.Mode(), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPodCheckpointTCPEstablished: a pod checkpoint taken with
// tcp-established records it in pod.options (CRIU restores such images
// only when asked to), and a container created from it with
// RestoreTCPEstablished has its restore ask for them.
func TestPodCheckpointTCPEstablished(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking a checkpoint's rootfs changes keeps their owners: needs root")
	}
	e := newEnv(t)
	a := e.started(t, "counter", "busybox")
	e.withUpper(t, a.ID)
	var dumped []bool
	e.shims.OnCheckpoint = func(_ string, o runtime.CheckpointOptions) error {
		dumped = append(dumped, o.TCPEstablished)
		return nil
	}
	out := t.TempDir()
	if err := e.svc.CheckpointPod(context.Background(), podID, []string{a.ID}, out, checkpoint.Options{TCPEstablished: true}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(dumped) != "[true]" {
		t.Fatalf("dumps asked for established connections: %v", dumped)
	}
	o, err := checkpoint.ReadPodOptions(out)
	if err != nil || !o.TCPEstablished {
		t.Fatalf("pod.options = %+v, %v; want tcpEstablished recorded", o, err)
	}
	for _, tcp := range []bool{false, true} {
		cfg := ctrConfig(fmt.Sprintf("restored-%v", tcp), "busybox")
		r, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg, Checkpoint: filepath.Join(out, "counter"), RestoreTCPEstablished: tcp})
		if err != nil {
			t.Fatal(err)
		}
		if r.Restore == nil || r.Restore.TCPEstablished != tcp {
			t.Fatalf("Restore = %+v, want TCPEstablished %v", r.Restore, tcp)
		}
	}
}

// TestCreateFromCheckpointImage: an image made from a checkpoint (one
// whose resolution gives a CheckpointDir, its layer of the checkpoint's
// files) creates a container restored from those files, on the image the
// checkpoint was taken from, with its rootfs changes.
func TestCreateFromCheckpointImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking a checkpoint's rootfs changes keeps their owners: needs root")
	}
	e := newEnv(t)
	a := e.started(t, "counter", "busybox")
	e.withUpper(t, a.ID)
	out := t.TempDir()
	if err := e.svc.CheckpointPod(context.Background(), podID, []string{a.ID}, out, checkpoint.Options{}); err != nil {
		t.Fatal(err)
	}
	withCkpt := containertest.Images{"registry.test/ckpt:1": {ID: "sha256:c0", CheckpointDir: filepath.Join(out, "counter")}}
	for k, v := range images {
		withCkpt[k] = v
	}
	svc, err := container.New(container.Options{
		StateDir: filepath.Join(e.dir, "containers"), IDMapDir: filepath.Join(e.dir, "idmap"), Store: e.st, Pods: e.pods, Images: withCkpt,
		Rootfs: e.rootfs, Spec: specBuilder{e.spec}, Shims: e.shims, Orphans: e.orph,
		CRIU: func() error { return e.criuErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("restored", "registry.test/ckpt:1")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Image.ID != "sha256:b0" || r.Restore == nil || r.Restore.ImagePath != filepath.Join(r.Bundle, "restore", "checkpoint") {
		t.Fatalf("restored container: image %+v, Restore %+v; want busybox's and the checkpoint's images", r.Image, r.Restore)
	}
	if data, err := os.ReadFile(filepath.Join(r.Rootfs, "data/count")); err != nil || string(data) != "1\n2\n3\n" {
		t.Fatalf("rootfs changes not applied: %q, %v", data, err)
	}
	e.criuErr = fmt.Errorf("CRIU is unusable: test: %w", errdefs.ErrFailedPrecondition)
	if _, err := svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("again", "registry.test/ckpt:1")}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Create from a checkpoint image without CRIU = %v, want FailedPrecondition", err)
	}
}
