package imagebuild

import (
	"context"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestFindCollisions(t *testing.T) {
	h := func(s string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: s} }
	specs := []Spec{
		{Ref: "registry.k8s.io/pause:3.9"},
		{Ref: "k8s.gcr.io/pause:3.9"},
		{Ref: "gcr.io/foo/bar:1"},
		{Ref: "docker.io/foo/bar:1"},
		{Ref: "docker.io/library/busybox:latest"},
	}
	for _, tc := range []struct {
		desc    string
		digests map[string]v1.Hash
		want    []Collision
	}{
		{desc: "same content under one path is no collision",
			digests: map[string]v1.Hash{"registry.k8s.io/pause:3.9": h("a"), "k8s.gcr.io/pause:3.9": h("a"), "gcr.io/foo/bar:1": h("b"), "docker.io/foo/bar:1": h("b")}},
		{desc: "different content under one path collides",
			digests: map[string]v1.Hash{"registry.k8s.io/pause:3.9": h("a"), "k8s.gcr.io/pause:3.9": h("c"), "gcr.io/foo/bar:1": h("b"), "docker.io/foo/bar:1": h("d")},
			want: []Collision{
				{Path: "foo/bar:1", Refs: []string{"docker.io/foo/bar:1", "gcr.io/foo/bar:1"}},
				{Path: "pause:3.9", Refs: []string{"k8s.gcr.io/pause:3.9", "registry.k8s.io/pause:3.9"}},
			}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := FindCollisions(specs, tc.digests); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FindCollisions = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCatalogHasNoCollisions(t *testing.T) {
	digests := map[string]v1.Hash{}
	for _, s := range Catalog() {
		d, err := buildSpec(t, s).Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests[s.Ref] = d
	}
	if cs := FindCollisions(Catalog(), digests); len(cs) != 0 {
		t.Errorf("catalog collisions: %+v", cs)
	}
}

func TestStartMirror(t *testing.T) {
	specs := []Spec{
		mustSpec(t, "registry.k8s.io/pause:3.9"),
		mustSpec(t, "k8s.gcr.io/pause:3.9"),
		mustSpec(t, critools+"test-image-1:latest"),
	}
	for _, tc := range []struct {
		desc       string
		perHost    bool
		registries int
	}{
		{desc: "one shared registry", registries: 1},
		{desc: "one registry per host", perHost: true, registries: 3},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			m, err := StartMirror(context.Background(), "127.0.0.1:0", specs, MirrorOptions{PerHost: tc.perHost})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			distinct := map[*Registry]bool{}
			for _, r := range m.Registries {
				distinct[r] = true
			}
			if len(m.Registries) != 3 || len(distinct) != tc.registries || m.PerHost != tc.perHost {
				t.Errorf("hosts %v on %d registries (PerHost %v), want 3 hosts on %d", m.Addrs(), len(distinct), m.PerHost, tc.registries)
			}
			if len(m.Pushed) != len(specs) {
				t.Errorf("pushed %d, want %d", len(m.Pushed), len(specs))
			}
			for _, p := range m.Pushed {
				if want := p.Spec.MirrorRef(m.Registries[p.Spec.Host()].Addr); p.Ref != want {
					t.Errorf("pushed %s as %s, want %s", p.Spec.Ref, p.Ref, want)
				}
			}
		})
	}
}
