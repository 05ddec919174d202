package imagebuild

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func startTestRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := StartRegistry("127.0.0.1:0")
	if err != nil {
		t.Fatalf("StartRegistry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close registry: %v", err)
		}
	})
	if !strings.HasPrefix(r.Addr, "127.0.0.1:") || strings.HasSuffix(r.Addr, ":0") {
		t.Fatalf("registry address %q", r.Addr)
	}
	return r
}

func TestStartRegistryRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:5000", "10.0.0.1:0"} {
		if r, err := StartRegistry(addr); err == nil {
			r.Close()
			t.Errorf("StartRegistry(%q) succeeded, want a loopback-only error", addr)
		}
	}
}

func TestPushAllAndPullBack(t *testing.T) {
	r := startTestRegistry(t)
	ctx := context.Background()
	pushed, err := testBuilder(t).PushAll(ctx, r.Addr, Catalog())
	if err != nil {
		t.Fatalf("PushAll: %v", err)
	}
	if len(pushed) != len(Catalog()) {
		t.Fatalf("pushed %d images, want %d", len(pushed), len(Catalog()))
	}
	for _, p := range pushed {
		ref, err := name.ParseReference(p.Ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(ref, RemoteOptions(ctx)...)
		if err != nil {
			t.Errorf("HEAD %s: %v", p.Ref, err)
			continue
		}
		if desc.Digest != p.Digest {
			t.Errorf("%s: registry digest %s, pushed %s", p.Ref, desc.Digest, p.Digest)
		}
	}

	// Pull one image back in full and compare it with the local build.
	spec := mustSpec(t, e2e+"busybox:1.29-2")
	ref, _ := name.ParseReference(spec.MirrorRef(r.Addr), name.Insecure)
	img, err := remote.Image(ref, RemoteOptions(ctx)...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	local := platformImage(t, buildSpec(t, spec))
	rd, err1 := img.Digest()
	ld, err2 := local.Digest()
	if err1 != nil || err2 != nil || rd != ld {
		t.Errorf("manifest digest: remote %s (%v), local %s (%v)", rd, err1, ld, err2)
	}
	rid, err1 := img.ConfigName()
	lid, err2 := local.ConfigName()
	if err1 != nil || err2 != nil || rid != lid {
		t.Errorf("image ID: remote %s (%v), local %s (%v)", rid, err1, lid, err2)
	}

	// A multi-arch index resolves to the linux/amd64 image by default.
	idxRef, _ := name.ParseReference(r.Addr+"/pause:3.9", name.Insecure)
	amd, err := remote.Image(idxRef, RemoteOptions(ctx)...)
	if err != nil {
		t.Fatalf("pull %s: %v", idxRef, err)
	}
	if cf := configOf(t, amd); cf.Architecture != "amd64" {
		t.Errorf("default platform of pause:3.9 resolved to %s", cf.Architecture)
	}
}

func TestRequestCounterCountsBlobGets(t *testing.T) {
	r := startTestRegistry(t)
	ctx := context.Background()
	spec := mustSpec(t, critools+"test-image-1:latest")
	if _, err := Push(ctx, r.Addr, spec, buildSpec(t, spec)); err != nil {
		t.Fatal(err)
	}
	r.ResetCounts()

	ref, _ := name.ParseReference(spec.MirrorRef(r.Addr), name.Insecure)
	img, err := remote.Image(ref, RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	top := layers[len(layers)-1]
	d, _ := top.Digest()
	if n := r.BlobGets(d); n != 0 {
		t.Fatalf("BlobGets before fetching = %d", n)
	}
	for i := 1; i <= 2; i++ {
		rc, err := top.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if n := r.BlobGets(d); n != i {
			t.Errorf("after %d fetches BlobGets = %d", i, n)
		}
	}
	path := "/v2/" + spec.Repository() + "/blobs/" + d.String()
	if n := r.Requests("GET", path); n != 2 {
		t.Errorf("Requests(GET, %s) = %d, want 2 (keys %v)", path, n, r.CountKeys())
	}
	if n := r.Requests("GET", "/v2/"+spec.Repository()+"/manifests/latest"); n != 1 {
		t.Errorf("manifest GETs = %d, want 1 (keys %v)", n, r.CountKeys())
	}
	if r.TotalBlobGets() != 2 { // the layer twice; the config was never fetched
		t.Errorf("TotalBlobGets = %d, want 2 (keys %v)", r.TotalBlobGets(), r.CountKeys())
	}
}
