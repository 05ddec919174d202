package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestPullByTagAndDigest(t *testing.T) {
	reg := newTestRegistry(t)
	im := buildImage(t, "1000:1000",
		layerTar(t, map[string]string{"bin/sh": "shell"}),
		layerTar(t, map[string]string{"etc/hostname": "cricket"}))
	reg.push("library/app", "v1", im)
	s := newTestService(t, t.TempDir(), reg, nil)
	ctx := context.Background()

	byTag := reg.host() + "/library/app:v1"
	got, err := s.Pull(ctx, byTag, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != im.id() {
		t.Errorf("ID = %s, want config digest %s", got.ID, im.id())
	}
	if uid, ok := got.UID(); !ok || uid != 1000 {
		t.Errorf("UID = %d, %v", uid, ok)
	}
	dir, err := s.Snapshots().LayerDir(got.TopChainID())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/hostname")); err != nil || string(b) != "cricket" {
		t.Errorf("top layer file = %q, %v", b, err)
	}
	byDigest := reg.host() + "/library/app@" + im.digest()
	got2, err := s.Pull(ctx, byDigest, nil, "")
	if err != nil || got2.ID != im.id() {
		t.Fatalf("pull by digest = %s, %v", got2.ID, err)
	}
	for _, tc := range []struct{ desc, ref string }{
		{desc: "full id", ref: im.id()},
		{desc: "bare hex id", ref: strings.TrimPrefix(im.id(), "sha256:")},
		{desc: "id prefix", ref: strings.TrimPrefix(im.id(), "sha256:")[:12]},
		{desc: "name", ref: byTag},
		{desc: "digest ref", ref: byDigest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			st, err := s.Status(tc.ref, "")
			if err != nil || st.ID != im.id() {
				t.Fatalf("Status(%s) = %s, %v", tc.ref, st.ID, err)
			}
		})
	}
	if l := s.List("", ""); len(l) != 1 || len(l[0].RepoTags) != 1 || len(l[0].RepoDigests) != 1 {
		t.Errorf("List = %+v", l)
	}
	if _, err := s.Status("docker.io/library/nothere:latest", ""); !errdefs.IsNotFound(err) {
		t.Errorf("Status of absent image = %v", err)
	}
	// A restarted service finds the image.
	s2 := newTestService(t, s.opts.Root, nil, nil)
	if _, err := s2.Status(byTag, ""); err != nil {
		t.Errorf("after reopen: %v", err)
	}
}

func TestConcurrentPullsFetchEachBlobOnce(t *testing.T) {
	reg := newTestRegistry(t)
	var tars [][]byte
	for i := range 5 {
		tars = append(tars, layerTar(t, map[string]string{"f": strings.Repeat(string(rune('a'+i)), 200_000)}))
	}
	im := buildImage(t, "", tars...)
	reg.push("team/app", "latest", im)
	s := newTestService(t, t.TempDir(), reg, nil)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Pull(context.Background(), reg.host()+"/team/app", nil, "")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range append([][]byte{im.config}, im.layers...) {
		if n := reg.count(blobPath("team/app", Digest(b))); n != 1 {
			t.Errorf("blob %s fetched %d times", Digest(b)[:19], n)
		}
	}
	// A second round finds everything local and fetches no blob.
	if _, err := s.Pull(context.Background(), reg.host()+"/team/app", nil, ""); err != nil {
		t.Fatal(err)
	}
	if n := reg.count(blobPath("team/app", Digest(im.layers[0]))); n != 1 {
		t.Errorf("warm pull fetched a layer again (%d)", n)
	}
}

// assertNothingVisible checks that a failed pull left no image, blob,
// layer or ingest file.
func assertNothingVisible(t *testing.T, s *Service) {
	t.Helper()
	if l := s.List("", ""); len(l) != 0 {
		t.Errorf("images left: %d", len(l))
	}
	if d, _ := s.content.Digests(); len(d) != 0 {
		t.Errorf("blobs left: %v", d)
	}
	if l := s.snaps.Layers(); len(l) != 0 {
		t.Errorf("layers left: %v", l)
	}
	ingest, _ := os.ReadDir(filepath.Join(s.content.Root(), "ingest"))
	if len(ingest) != 0 {
		t.Errorf("ingest files left: %d", len(ingest))
	}
	dirs, _ := os.ReadDir(filepath.Join(s.snaps.Root(), "snapshots"))
	if len(dirs) != 0 {
		t.Errorf("snapshot dirs left: %d", len(dirs))
	}
}

func TestPullRefusesBadContent(t *testing.T) {
	good := layerTar(t, map[string]string{"a": strings.Repeat("x", 100_000)})
	for _, tc := range []struct {
		desc   string
		tamper func(reg *testRegistry, im testImage)
		want   error
	}{
		{desc: "layer digest mismatch", want: errdefs.ErrInvalidArgument, tamper: func(reg *testRegistry, im testImage) {
			bad := append([]byte(nil), im.layers[0]...)
			bad[len(bad)-20] ^= 0xff
			reg.setTamper(blobPath("r/app", Digest(im.layers[0])), bad)
		}},
		{desc: "truncated layer", tamper: func(reg *testRegistry, im testImage) {
			reg.setTamper(blobPath("r/app", Digest(im.layers[0])), im.layers[0][:len(im.layers[0])/2])
		}},
		{desc: "oversized layer", want: errdefs.ErrInvalidArgument, tamper: func(reg *testRegistry, im testImage) {
			reg.setTamper(blobPath("r/app", Digest(im.layers[0])), append(append([]byte(nil), im.layers[0]...), 0, 0, 0))
		}},
		{desc: "config digest mismatch", want: errdefs.ErrInvalidArgument, tamper: func(reg *testRegistry, im testImage) {
			bad := append([]byte(nil), im.config...)
			bad[0] = ' '
			reg.setTamper(blobPath("r/app", im.id()), bad)
		}},
		{desc: "malformed manifest", want: errdefs.ErrInvalidArgument, tamper: func(reg *testRegistry, im testImage) {
			reg.setTamper("/v2/r/app/manifests/latest", []byte(`{"schemaVersion":2,"layers":[{"digest":"nope"}]}`))
		}},
		{desc: "hostile layer", want: errdefs.ErrInvalidArgument, tamper: func(reg *testRegistry, _ testImage) {
			bad := buildImage(t, "", layerTar(t, map[string]string{"../../escape": "x"}))
			reg.push("r/app", "latest", bad)
		}},
		{desc: "diff id mismatch", want: errdefs.ErrInvalidArgument, tamper: func(reg *testRegistry, _ testImage) {
			bad := buildImage(t, "", good)
			bad.layers[0] = gzipped(t, layerTar(t, map[string]string{"other": "y"}))
			bad.manifest = []byte(strings.Replace(string(bad.manifest), Digest(gzipped(t, good)), Digest(bad.layers[0]), 1))
			bad.manifest = []byte(strings.Replace(string(bad.manifest), `"size":`+itoa(len(gzipped(t, good))), `"size":`+itoa(len(bad.layers[0])), 1))
			reg.push("r/app", "latest", bad)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			reg := newTestRegistry(t)
			im := buildImage(t, "", good)
			reg.push("r/app", "latest", im)
			tc.tamper(reg, im)
			s := newTestService(t, t.TempDir(), reg, nil)
			_, err := s.Pull(context.Background(), reg.host()+"/r/app", nil, "")
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Pull = %v, want %v", err, tc.want)
			}
			assertNothingVisible(t, s)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPullProgressTimeout(t *testing.T) {
	reg := newTestRegistry(t)
	im := buildImage(t, "", layerTar(t, map[string]string{"a": "b"}))
	reg.push("r/slow", "latest", im)
	reg.mu.Lock()
	reg.stall[blobPath("r/slow", Digest(im.layers[0]))] = true
	reg.mu.Unlock()
	s := newTestService(t, t.TempDir(), reg, func(o *Options) { o.ProgressTimeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := s.Pull(context.Background(), reg.host()+"/r/slow", nil, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pull = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	assertNothingVisible(t, s)
}

func TestPullHonoursCallerContext(t *testing.T) {
	reg := newTestRegistry(t)
	im := buildImage(t, "", layerTar(t, map[string]string{"a": "b"}))
	reg.push("r/slow", "latest", im)
	reg.mu.Lock()
	reg.stall[blobPath("r/slow", Digest(im.layers[0]))] = true
	reg.mu.Unlock()
	s := newTestService(t, t.TempDir(), reg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Pull(ctx, reg.host()+"/r/slow", nil, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pull = %v, want DeadlineExceeded", err)
	}
	// The shared pull is cancelled once its only caller left; cleanup
	// follows shortly after.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if d, _ := s.content.Digests(); len(d) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	assertNothingVisible(t, s)
}

func TestSharedLayerSurvivesTheCancelledPull(t *testing.T) {
	reg := newTestRegistry(t)
	im := buildImage(t, "", layerTar(t, map[string]string{"a": "b"}))
	reg.push("r/app", "latest", im)
	reg.mu.Lock()
	reg.stall[blobPath("r/app", Digest(im.layers[0]))] = true
	reg.mu.Unlock()
	s := newTestService(t, t.TempDir(), reg, nil)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Pull(short, reg.host()+"/r/app:latest", nil, "")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the tag pull owns the layer download
	second := make(chan error, 1)
	go func() {
		_, err := s.Pull(context.Background(), reg.host()+"/r/app@"+im.digest(), nil, "")
		second <- err
	}()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("short pull = %v", err)
	}
	close(reg.unstall)
	if err := <-second; err != nil {
		t.Fatalf("digest pull sharing the layer = %v", err)
	}
}

func TestPullIndexSelectsPlatform(t *testing.T) {
	reg := newTestRegistry(t)
	amd := buildImage(t, "", layerTar(t, map[string]string{"arch": "amd64"}))
	arm := buildImage(t, "", layerTar(t, map[string]string{"arch": "arm64"}))
	reg.push("multi", "amd64", amd)
	reg.push("multi", "arm64", arm)
	idx := mustJSON(t, Index{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{
		{MediaType: MediaTypeOCIManifest, Digest: arm.digest(), Size: int64(len(arm.manifest)), Platform: &Platform{OS: "linux", Architecture: "arm64"}},
		{MediaType: MediaTypeOCIManifest, Digest: amd.digest(), Size: int64(len(amd.manifest)), Platform: &Platform{OS: "linux", Architecture: "amd64"}},
	}})
	reg.putManifest("multi", "latest", MediaTypeOCIIndex, idx)
	s := newTestService(t, t.TempDir(), reg, func(o *Options) { o.Platform = Platform{OS: "linux", Architecture: "amd64"} })
	got, err := s.Pull(context.Background(), reg.host()+"/multi:latest", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != amd.id() {
		t.Errorf("ID = %s, want amd64 config %s", got.ID, amd.id())
	}
	if want := reg.host() + "/multi@" + Digest(idx); got.RepoDigests[0] != want {
		t.Errorf("repo digest = %s, want index digest %s", got.RepoDigests[0], want)
	}
	if reg.count(blobPath("multi", Digest(arm.layers[0]))) != 0 {
		t.Error("fetched the arm64 layer")
	}
}

// TestPullPerPlatform: a pull for another platform (a runtime handler's)
// selects that platform's manifest and records a distinct image whose name
// is seen only in that platform's name space; the daemon's own name stays
// on its own image, both survive a reopen, and removal for one platform
// leaves the other.
func TestPullPerPlatform(t *testing.T) {
	reg := newTestRegistry(t)
	amd := buildImage(t, "", layerTar(t, map[string]string{"arch": "amd64"}))
	arm := buildImage(t, "", layerTar(t, map[string]string{"arch": "arm64"}))
	reg.push("multi", "amd64", amd)
	reg.push("multi", "arm64", arm)
	idx := mustJSON(t, Index{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{
		{MediaType: MediaTypeOCIManifest, Digest: arm.digest(), Size: int64(len(arm.manifest)), Platform: &Platform{OS: "linux", Architecture: "arm64"}},
		{MediaType: MediaTypeOCIManifest, Digest: amd.digest(), Size: int64(len(amd.manifest)), Platform: &Platform{OS: "linux", Architecture: "amd64"}},
	}})
	reg.putManifest("multi", "latest", MediaTypeOCIIndex, idx)
	root := t.TempDir()
	host := func(o *Options) { o.Platform = Platform{OS: "linux", Architecture: "amd64"} }
	s := newTestService(t, root, reg, host)
	ctx := context.Background()
	ref := reg.host() + "/multi:latest"
	if _, err := s.Status(ref, "linux/arm64"); !errdefs.IsNotFound(err) {
		t.Fatalf("status before any pull: %v", err)
	}
	gotArm, err := s.Pull(ctx, ref, nil, "linux/arm64")
	if err != nil || gotArm.ID != arm.id() {
		t.Fatalf("pull for linux/arm64 = %s, %v; want %s", gotArm.ID, err, arm.id())
	}
	if _, err := s.Status(ref, ""); !errdefs.IsNotFound(err) {
		t.Fatalf("the arm64 pull is seen by the host platform: %v", err)
	}
	gotAmd, err := s.Pull(ctx, ref, nil, "linux/amd64") // the host's own: same as ""
	if err != nil || gotAmd.ID != amd.id() {
		t.Fatalf("pull for linux/amd64 = %s, %v; want %s", gotAmd.ID, err, amd.id())
	}
	for _, svc := range []*Service{s, newTestService(t, root, reg, host)} {
		for p, want := range map[string]string{"": amd.id(), "linux/amd64": amd.id(), "linux/arm64": arm.id()} {
			if im, err := svc.Status(ref, p); err != nil || im.ID != want {
				t.Errorf("status for %q = %s, %v; want %s", p, im.ID, err, want)
			}
		}
		if l := svc.List("", ""); len(l) != 2 {
			t.Errorf("list = %d images, want 2", len(l))
		}
		if l := svc.List(ref, "linux/arm64"); len(l) != 1 || l[0].ID != arm.id() {
			t.Errorf("list filtered for linux/arm64 = %v", l)
		}
	}
	if _, err := s.Status(ref, "linux"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("status for a malformed platform: %v, want InvalidArgument", err)
	}
	if err := s.Remove(ctx, ref, "linux/arm64"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(ref, "linux/arm64"); !errdefs.IsNotFound(err) {
		t.Errorf("arm64 image after its removal: %v", err)
	}
	if im, err := s.Status(ref, ""); err != nil || im.ID != amd.id() {
		t.Errorf("host image after the arm64 removal = %s, %v", im.ID, err)
	}
}

func TestRemoveImageRefcounting(t *testing.T) {
	reg := newTestRegistry(t)
	base := layerTar(t, map[string]string{"base": "shared"})
	a := buildImage(t, "", base, layerTar(t, map[string]string{"a": "only a"}))
	b := buildImage(t, "", base, layerTar(t, map[string]string{"b": "only b"}))
	reg.push("a", "latest", a)
	reg.push("b", "latest", b)
	s := newTestService(t, t.TempDir(), reg, nil)
	ctx := context.Background()
	imA, err := s.Pull(ctx, reg.host()+"/a", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	imB, err := s.Pull(ctx, reg.host()+"/b", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(ctx, reg.host()+"/a:v2-same", nil, ""); err == nil {
		t.Fatal("pulled a tag that does not exist")
	}
	// A container stands on image B.
	if _, err := s.Snapshots().Prepare("ctr", imB.TopChainID()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		desc       string
		ref        string
		wantBlobs  []string
		goneBlobs  []string
		wantLayers []string
	}{
		{desc: "remove a keeps shared base", ref: reg.host() + "/a:latest",
			wantBlobs: []string{Digest(b.layers[0]), Digest(b.layers[1])}, goneBlobs: []string{Digest(a.layers[1]), a.id()},
			wantLayers: imB.ChainIDs},
		{desc: "remove a again is idempotent", ref: imA.ID, wantBlobs: []string{Digest(b.layers[0])}, wantLayers: imB.ChainIDs},
		{desc: "remove b keeps layers a container uses", ref: imB.ID[:20],
			goneBlobs: []string{Digest(b.layers[0]), Digest(b.layers[1])}, wantLayers: imB.ChainIDs},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			if err := s.Remove(ctx, st.ref, ""); err != nil {
				t.Fatal(err)
			}
			for _, d := range st.wantBlobs {
				if !s.content.Has(d) {
					t.Errorf("blob %s freed", d[:19])
				}
			}
			for _, d := range st.goneBlobs {
				if s.content.Has(d) {
					t.Errorf("blob %s kept", d[:19])
				}
			}
			for _, c := range st.wantLayers {
				if !s.snaps.Has(c) {
					t.Errorf("layer %s freed", c[:19])
				}
			}
		})
	}
	if err := s.Snapshots().Remove("ctr"); err != nil {
		t.Fatal(err)
	}
	if err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if l := s.snaps.Layers(); len(l) != 0 {
		t.Errorf("layers left after GC: %d", len(l))
	}
}

func TestPullRetagMovesName(t *testing.T) {
	reg := newTestRegistry(t)
	one := buildImage(t, "", layerTar(t, map[string]string{"v": "1"}))
	two := buildImage(t, "", layerTar(t, map[string]string{"v": "2"}))
	reg.push("app", "latest", one)
	s := newTestService(t, t.TempDir(), reg, nil)
	ctx := context.Background()
	if _, err := s.Pull(ctx, reg.host()+"/app", nil, ""); err != nil {
		t.Fatal(err)
	}
	reg.push("app", "latest", two)
	if _, err := s.Pull(ctx, reg.host()+"/app", nil, ""); err != nil {
		t.Fatal(err)
	}
	old, err := s.Status(one.id(), "")
	if err != nil || len(old.RepoTags) != 0 {
		t.Errorf("old image = %+v, %v; want untagged", old.RepoTags, err)
	}
	cur, err := s.Status(reg.host()+"/app", "")
	if err != nil || cur.ID != two.id() {
		t.Errorf("latest = %s, %v", cur.ID, err)
	}
}

func TestPinnedImages(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push("pause", "3.10", buildImage(t, "", layerTar(t, map[string]string{"pause": "p"})))
	s := newTestService(t, t.TempDir(), reg, func(o *Options) { o.PinnedImages = []string{reg.host() + "/pause:3.10"} })
	im, err := s.Pull(context.Background(), reg.host()+"/pause:3.10", nil, "")
	if err != nil || !im.Pinned {
		t.Fatalf("pinned = %v, %v", im.Pinned, err)
	}
}

func TestFsInfo(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push("app", "latest", buildImage(t, "", layerTar(t, map[string]string{"f": strings.Repeat("z", 64<<10)})))
	s := newTestService(t, t.TempDir(), reg, nil)
	before, _, err := s.FsInfo()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(context.Background(), reg.host()+"/app", nil, ""); err != nil {
		t.Fatal(err)
	}
	after, containers, err := s.FsInfo()
	if err != nil {
		t.Fatal(err)
	}
	if after.UsedBytes < before.UsedBytes+64<<10 || after.Inodes <= before.Inodes {
		t.Errorf("usage before %+v after %+v", before, after)
	}
	if containers.Mountpoint == "" || after.Mountpoint == "" {
		t.Errorf("mountpoints %q %q", after.Mountpoint, containers.Mountpoint)
	}
}
