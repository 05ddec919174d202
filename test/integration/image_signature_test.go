package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	crierrors "k8s.io/cri-api/pkg/errors"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
)

// sigRepo is the namespace the test's signature policy covers.
const sigRepo = "registry.k8s.io/cricket-sig"

// TestImageSignaturePolicy signs copies of busybox in the test registry
// offline, as cosign does (an ECDSA key made here, the simple-signing
// payload, the signature manifest under sha256-<digest>.sig), and pulls
// them through a daemon whose policy requires that key: unsigned, tampered
// (a signature of another digest) and wrongly signed (another key) copies
// are refused with the kubelet's SignatureValidationFailed and leave nothing
// stored; the signed one pulls and runs.
func TestImageSignaturePolicy(t *testing.T) {
	m := sharedMirror(t)
	addr := m.Registries["registry.k8s.io"].Addr
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := imagebuild.RemoteOptions(ctx)
	trusted, other := ecKey(t), ecKey(t)

	digest := copyImage(t, addr+"/e2e-test-images/busybox:1.29-2", addr+"/cricket-sig/signed:1", opts)
	pushSignature(t, addr+"/cricket-sig/signed", sigRepo+"/signed", digest, digest, trusted, opts)
	copyImage(t, addr+"/e2e-test-images/busybox:1.29-2", addr+"/cricket-sig/unsigned:1", opts)
	copyImage(t, addr+"/e2e-test-images/busybox:1.29-2", addr+"/cricket-sig/tampered:1", opts)
	pushSignature(t, addr+"/cricket-sig/tampered", sigRepo+"/tampered", digest,
		"sha256:"+strings.Repeat("0", 64), trusted, opts)
	copyImage(t, addr+"/e2e-test-images/busybox:1.29-2", addr+"/cricket-sig/wrongkey:1", opts)
	pushSignature(t, addr+"/cricket-sig/wrongkey", sigRepo+"/wrongkey", digest, digest, other, opts)

	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(&trusted.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "cosign.pub")
	policyPath := filepath.Join(dir, "policy.json")
	writeFile(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	// CRI-O's policy.json, as a CRI-O node would have it.
	writeFile(t, policyPath, fmt.Sprintf(`{
  "default": [{"type": "insecureAcceptAnything"}],
  "transports": {
    "docker": {
      %q: [{"type": "sigstoreSigned", "keyPath": %q, "signedIdentity": {"type": "matchRepository"}}]
    }
  }
}`, sigRepo, keyPath))
	d := startImageDaemonWith(t, m.Addrs(), fmt.Sprintf("\n[image.policy]\nsignature_policy = %q\n", policyPath))
	t.Cleanup(func() { removeAllPods(t, d) })

	for _, tc := range []struct{ repo, why string }{
		{repo: "unsigned", why: "no sigstore signature"},
		{repo: "tampered", why: "signature is of manifest sha256:0000"},
		{repo: "wrongkey", why: "not signed by the policy's key"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			ref := sigRepo + "/" + tc.repo + ":1"
			_, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			st := status.Convert(err)
			if err == nil || st.Code() != codes.Unknown || !strings.HasPrefix(st.Message(), crierrors.ErrSignatureValidationFailed.Error()) {
				t.Fatalf("PullImage(%s) = %v; want Unknown with a message that starts with %q (what the kubelet matches)",
					ref, err, crierrors.ErrSignatureValidationFailed)
			}
			if !strings.Contains(st.Message(), tc.why) {
				t.Errorf("message %q does not say why (%q)", st.Message(), tc.why)
			}
			if resp, err := d.Image().ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil || resp.Image != nil {
				t.Errorf("ImageStatus after refusal = %v, %v; want no image", resp, err)
			}
			if left := storedFiles(t, d.Root); len(left) > 0 {
				t.Errorf("the refused pull left %v", left)
			}
			want := fmt.Sprintf(`scope \"%s\" requirement 0 (sigstoreSigned): `, sigRepo)
			if log := d.RunLog(); !strings.Contains(log, want) || !strings.Contains(log, tc.repo+":1") {
				t.Errorf("the daemon's log does not name the failed requirement (%s) for %s", want, ref)
			}
		})
	}

	// SIGHUP reads the policy again: the unsigned image is let in once the
	// policy accepts anything of its repository.
	writeFile(t, policyPath, fmt.Sprintf(`{"default": [{"type": "insecureAcceptAnything"}],
  "transports": {"docker": {%q: [{"type": "insecureAcceptAnything"}]}}}`, sigRepo+"/unsigned"))
	hup(t, d, "configuration reloaded")
	if err := tryPull(d, sigRepo+"/unsigned:1"); err != nil {
		t.Errorf("after the policy let it in and SIGHUP, the unsigned image is refused: %v", err)
	}
	writeFile(t, policyPath, `{"default": [{"type": "reject"}]}`)
	hup(t, d, "configuration reloaded")
	if err := tryPull(d, sigRepo+"/signed:1"); !strings.HasPrefix(status.Convert(err).Message(), crierrors.ErrSignatureValidationFailed.Error()) {
		t.Errorf("after the policy rejected everything and SIGHUP, PullImage = %v", err)
	}
	writeFile(t, policyPath, fmt.Sprintf(`{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {
  %q: [{"type": "sigstoreSigned", "keyPath": %q, "signedIdentity": {"type": "matchRepository"}}]}}}`, sigRepo, keyPath))
	hup(t, d, "configuration reloaded")

	ref := sigRepo + "/signed:1"
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatalf("PullImage of the signed image: %v", err)
	}
	rt := d.Runtime()
	pod := testPod(t, "signed", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	c := testContainer("signed", "echo signed image runs")
	c.Image = &runtimeapi.ImageSpec{Image: ref}
	id := startContainer(t, rt, podID, pod, c)
	testutil.Eventually(t, "the signed image's container exits 0", 30*time.Second, func() error {
		st := containerStatus(t, rt, id)
		if st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			return fmt.Errorf("state %v", st.State)
		}
		if st.ExitCode != 0 {
			return fmt.Errorf("exit code %d", st.ExitCode)
		}
		return nil
	})
	if err := logContains(t, filepath.Join(pod.LogDirectory, c.LogPath), "signed image runs"); err != nil {
		t.Error(err)
	}
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// copyImage copies the image or index at src to dst in the test registry
// and returns its top-level digest.
func copyImage(t *testing.T, src, dst string, opts []remote.Option) string {
	t.Helper()
	from, err := name.ParseReference(src, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	to, err := name.ParseReference(dst, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(from, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			err = remote.WriteIndex(to, idx, opts...)
		}
		if err != nil {
			t.Fatal(err)
		}
	} else {
		img, err := desc.Image()
		if err == nil {
			err = remote.Write(to, img, opts...)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return desc.Digest.String()
}

// pushSignature pushes to repo what `cosign sign --key` pushes: a manifest
// tagged sha256-<digest>.sig whose layer is the simple-signing payload for
// identity and signed (the digest the signature vouches for) and whose
// annotation is the payload's ECDSA signature.
func pushSignature(t *testing.T, repo, identity, digest, signed string, key *ecdsa.PrivateKey, opts []remote.Option) {
	t.Helper()
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`,
		identity, signed)
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.Replace(digest, ":", "-", 1) + ".sig"
	ref, err := name.ParseReference(repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
}

// storedFiles lists the blobs and unpacked layers under a daemon's root.
func storedFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{filepath.Join(root, "images", "content", "blobs", "sha256"), filepath.Join(root, "snapshots", "snapshots")} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range entries {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
