package image

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image/sigpolicy"
)

// cosignSign pushes a cosign signature of signed, made with key for the
// identity, as the signature of digest (sha256-<hex>.sig) in repo of reg.
// A signed other than digest is a tampered signature.
func cosignSign(t *testing.T, reg *testRegistry, repo, identity, digest, signed string, key *ecdsa.PrivateKey) {
	t.Helper()
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, identity, signed)
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`{}`)
	reg.pushBlob(repo, cfg)
	reg.pushBlob(repo, payload)
	m := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
		"config": Descriptor{MediaType: MediaTypeOCIConfig, Digest: Digest(cfg), Size: int64(len(cfg))},
		"layers": []Descriptor{{MediaType: sigpolicy.PayloadMediaType, Digest: Digest(payload), Size: int64(len(payload)),
			Annotations: map[string]string{sigpolicy.AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}}},
	})
	reg.putManifest(repo, sigpolicy.SignatureTag(digest), MediaTypeOCIManifest, m)
}

func TestPullChecksTheSignaturePolicy(t *testing.T) {
	reg := newTestRegistry(t)
	key, other := mustKey(t), mustKey(t)
	im := buildImage(t, "0:0", layerTar(t, map[string]string{"bin/sh": "shell"}))
	im2 := buildImage(t, "0:0", layerTar(t, map[string]string{"bin/sh": "other shell"}))
	for _, repo := range []string{"signed/app", "signed/bare", "signed/tampered", "signed/wrongkey", "open/app"} {
		reg.push(repo, "v1", im)
	}
	cosignSign(t, reg, "signed/app", reg.host()+"/signed/app", im.digest(), im.digest(), key)
	cosignSign(t, reg, "signed/tampered", reg.host()+"/signed/tampered", im.digest(), im2.digest(), key)
	cosignSign(t, reg, "signed/wrongkey", reg.host()+"/signed/wrongkey", im.digest(), im.digest(), other)

	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := os.WriteFile(filepath.Join(dir, "cosign.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {
		%q: [{"type": "sigstoreSigned", "keyPath": "cosign.pub", "signedIdentity": {"type": "matchRepository"}}]}}}`, reg.host()+"/signed")
	path := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadSignaturePolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, t.TempDir(), reg, func(o *Options) { o.SignaturePolicy = p })
	ctx := context.Background()
	// The refusals come first: the store must still be empty after each.
	for _, tc := range []struct {
		repo, refusal string
	}{
		{repo: "signed/bare", refusal: "no sigstore signature"},
		{repo: "signed/tampered", refusal: "signature is of manifest " + im2.digest()},
		{repo: "signed/wrongkey", refusal: "not signed by the policy's key"},
		{repo: "signed/app"},
		{repo: "open/app"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			_, err := s.Pull(ctx, reg.host()+"/"+tc.repo+":v1", nil, "")
			if tc.refusal == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errdefs.IsSignatureValidation(err) || !strings.Contains(err.Error(), tc.refusal) {
				t.Fatalf("err = %v, want ErrSignatureValidation with %q", err, tc.refusal)
			}
			if !strings.Contains(err.Error(), `scope "`+reg.host()+`/signed" requirement 0 (sigstoreSigned)`) {
				t.Errorf("error does not name the requirement: %v", err)
			}
			if blobs, _ := s.content.Digests(); len(blobs) != 0 || len(s.snaps.Layers()) != 0 {
				t.Errorf("refused pull left %d blobs and %d layers", len(blobs), len(s.snaps.Layers()))
			}
			if n := reg.count(blobPath(tc.repo, Digest(im.layers[0]))); n != 0 {
				t.Errorf("refused pull fetched the layer %d times", n)
			}
		})
	}
	s.SetSignaturePolicy(nil)
	if _, err := s.Pull(ctx, reg.host()+"/signed/bare:v1", nil, ""); err != nil {
		t.Errorf("without a policy the unsigned image is refused: %v", err)
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
