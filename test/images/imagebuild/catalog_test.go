package imagebuild

import (
	"testing"
)

func TestSpecNames(t *testing.T) {
	for _, tc := range []struct {
		desc, ref, host, repo, tag string
	}{
		{desc: "e2e image", ref: "registry.k8s.io/e2e-test-images/busybox:1.29-2", host: "registry.k8s.io", repo: "e2e-test-images/busybox", tag: "1.29-2"},
		{desc: "docker hub official image", ref: "docker.io/library/busybox:latest", host: "docker.io", repo: "library/busybox", tag: "latest"},
		{desc: "docker hub short name", ref: "docker.io/busybox:1.37.0", host: "docker.io", repo: "library/busybox", tag: "1.37.0"},
		{desc: "no tag", ref: "gcr.io/k8s-staging-cri-tools/test-image-latest", host: "gcr.io", repo: "k8s-staging-cri-tools/test-image-latest", tag: "latest"},
		{desc: "registry with port", ref: "localhost:5000/a/b:c", host: "localhost:5000", repo: "a/b", tag: "c"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := Spec{Ref: tc.ref}
			if s.Host() != tc.host || s.Repository() != tc.repo || s.Tag() != tc.tag {
				t.Errorf("got %s %s %s, want %s %s %s", s.Host(), s.Repository(), s.Tag(), tc.host, tc.repo, tc.tag)
			}
		})
	}
	if got := (Spec{Ref: "docker.io/library/busybox:latest"}).MirrorRef("127.0.0.1:5000"); got != "127.0.0.1:5000/library/busybox:latest" {
		t.Errorf("MirrorRef = %s", got)
	}
}

// TestCatalogCoversCritest lists what critest v1.37.0 pulls on linux/amd64
// (pkg/validate/consts.go, consts_linux.go, multi_container_linux.go,
// security_context_linux.go, pkg/framework/util.go).
func TestCatalogCoversCritest(t *testing.T) {
	for _, ref := range []string{
		"registry.k8s.io/e2e-test-images/busybox:1.29-2",
		"registry.k8s.io/e2e-test-images/nginx:1.14-2",
		"registry.k8s.io/e2e-test-images/httpd:2.4.39-4",
		"registry.k8s.io/e2e-test-images/nonewprivs:1.3",
		"gcr.io/k8s-staging-cri-tools/test-image-user-uid:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-user-username:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-user-uid-group:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-user-username-group:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-latest:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-tag:test",
		"gcr.io/k8s-staging-cri-tools/test-image-tag:all",
		"gcr.io/k8s-staging-cri-tools/test-image-digest:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-1:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-2:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-3:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-tags:1",
		"gcr.io/k8s-staging-cri-tools/test-image-tags:2",
		"gcr.io/k8s-staging-cri-tools/test-image-tags:3",
		"gcr.io/k8s-staging-cri-tools/hostnet-nginx-amd64:latest",
		"registry.k8s.io/pause:3.9",
		"k8s.gcr.io/pause:3.9",
	} {
		if _, ok := Lookup(ref); !ok {
			t.Errorf("catalog lacks %s", ref)
		}
	}
	seen := map[string]bool{}
	for _, s := range Catalog() {
		if seen[s.Ref] {
			t.Errorf("duplicate catalog entry %s", s.Ref)
		}
		seen[s.Ref] = true
		if s.Contents == "" {
			t.Errorf("%s has no Contents", s.Ref)
		}
	}
	if s, _ := Lookup(critools + "test-image-digest:latest"); s.UpstreamDigest != digestPinnedByCritest {
		t.Errorf("test-image-digest does not record the digest critest pins")
	}
}
