package sigpolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// simpleSigning is cosign's payload for an image.
func simpleSigning(ref, digest string) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":%q},"optional":null}`,
		ref, digest, PayloadType)
}

func signRaw(t *testing.T, k *ecdsa.PrivateKey, data []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(data)
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func keyedSig(t *testing.T, k *ecdsa.PrivateKey, ref, digest string) Signature {
	p := simpleSigning(ref, digest)
	return Signature{Payload: p, Base64: base64.StdEncoding.EncodeToString(signRaw(t, k, p))}
}

func keyedPolicy(t *testing.T, identity string, keys ...*ecdsa.PrivateKey) *Policy {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, k := range keys {
		p := filepath.Join(dir, fmt.Sprintf("k%d.pub", i))
		if err := os.WriteFile(p, pubPEM(t, k), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	keyPaths, _ := json.Marshal(paths)
	js := fmt.Sprintf(`{"default": [{"type": "reject"}], "transports": {"docker": {"registry.example.com/app": [
		{"type": "sigstoreSigned", "keyPaths": %s %s}]}}}`, keyPaths, identity)
	p, err := Parse([]byte(js), dir, testParse)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sigs(s ...Signature) Fetch { return func() ([]Signature, error) { return s, nil } }

func TestKeyedSignatures(t *testing.T) {
	trusted, other, second := newKey(t), newKey(t), newKey(t)
	byTag := Image{Ref: Ref{Repo: "registry.example.com/app", Tag: "v1"}, ManifestDigest: digestA}
	byDigest := Image{Ref: Ref{Repo: "registry.example.com/app", Digest: digestA}, ManifestDigest: digestA}
	matchRepo := `, "signedIdentity": {"type": "matchRepository"}`
	for _, tc := range []struct {
		desc    string
		policy  *Policy
		img     Image
		fetch   Fetch
		refusal string // "" when accepted
	}{
		{desc: "signed, by digest, cosign's repository identity", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: sigs(keyedSig(t, trusted, "registry.example.com/app", digestA))},
		{desc: "signed, by tag, matchRepository", policy: keyedPolicy(t, matchRepo, trusted), img: byTag,
			fetch: sigs(keyedSig(t, trusted, "registry.example.com/app", digestA))},
		{desc: "by tag needs the tag signed under matchRepoDigestOrExact", policy: keyedPolicy(t, "", trusted), img: byTag,
			fetch: sigs(keyedSig(t, trusted, "registry.example.com/app", digestA)), refusal: "does not match"},
		{desc: "by tag, tag signed", policy: keyedPolicy(t, "", trusted), img: byTag,
			fetch: sigs(keyedSig(t, trusted, "registry.example.com/app:v1", digestA))},
		{desc: "unsigned", policy: keyedPolicy(t, "", trusted), img: byDigest, fetch: sigs(), refusal: "no sigstore signature (tag sha256-aaaa"},
		{desc: "other key", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: sigs(keyedSig(t, other, "registry.example.com/app", digestA)), refusal: "not signed by the policy's key"},
		{desc: "any of two keys", policy: keyedPolicy(t, "", trusted, second), img: byDigest,
			fetch: sigs(keyedSig(t, second, "registry.example.com/app", digestA))},
		{desc: "signature of another manifest", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: sigs(keyedSig(t, trusted, "registry.example.com/app", digestB)), refusal: "signature is of manifest " + digestB},
		{desc: "payload changed after signing", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: func() ([]Signature, error) {
				s := keyedSig(t, trusted, "registry.example.com/app", digestB)
				s.Payload = simpleSigning("registry.example.com/app", digestA)
				return []Signature{s}, nil
			}, refusal: "not signed by the policy's key"},
		{desc: "signed for another repository", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: sigs(keyedSig(t, trusted, "registry.example.com/evil", digestA)), refusal: "does not match"},
		{desc: "one good signature among bad ones", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: sigs(keyedSig(t, other, "registry.example.com/app", digestA), keyedSig(t, trusted, "registry.example.com/app", digestA))},
		{desc: "exactRepository remaps the signed repository", img: byDigest,
			policy: keyedPolicy(t, `, "signedIdentity": {"type": "exactRepository", "dockerRepository": "quay.io/upstream/app"}`, trusted),
			fetch:  sigs(keyedSig(t, trusted, "quay.io/upstream/app", digestA))},
		{desc: "remapIdentity", img: byDigest,
			policy: keyedPolicy(t, `, "signedIdentity": {"type": "remapIdentity", "prefix": "registry.example.com", "signedPrefix": "quay.io/upstream"}`, trusted),
			fetch:  sigs(keyedSig(t, trusted, "quay.io/upstream/app", digestA))},
		{desc: "fetch error", policy: keyedPolicy(t, "", trusted), img: byDigest,
			fetch: func() ([]Signature, error) { return nil, errdefs.ErrUnavailable }, refusal: "fetch signatures"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.policy.Check(tc.img, tc.fetch)
			switch {
			case tc.refusal == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refusal == "":
			case err == nil || !strings.Contains(err.Error(), tc.refusal):
				t.Errorf("err = %v, want one with %q", err, tc.refusal)
			case tc.refusal != "fetch signatures" && !errors.Is(err, errdefs.ErrSignatureValidation):
				t.Errorf("err = %v does not wrap ErrSignatureValidation", err)
			}
		})
	}
}

// keyless is a Fulcio CA, a Rekor key and a signer's short-lived
// certificate, made here as the public-good instance would make them.
type keyless struct {
	caPEM, rekorPEM []byte
	rekor, signer   *ecdsa.PrivateKey
	certPEM         []byte
}

func newKeyless(t *testing.T, email, issuer string, notBefore time.Time) keyless {
	t.Helper()
	caKey, rekor, signer := newKey(t), newKey(t), newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test fulcio"},
		NotBefore: notBefore.Add(-time.Hour), NotAfter: notBefore.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	iss, _ := asn1.Marshal(issuer)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: notBefore, NotAfter: notBefore.Add(10 * time.Minute),
		EmailAddresses: []string{email}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidIssuerV2, Value: iss}}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &signer.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return keyless{
		caPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		rekorPEM: pubPEM(t, rekor), rekor: rekor, signer: signer,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
	}
}

// sign makes a keyless signature of payload logged at time at.
func (k keyless) sign(t *testing.T, payload []byte, at time.Time) Signature {
	sig := signRaw(t, k.signer, payload)
	sum := sha256.Sum256(payload)
	body := fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":%q}},"signature":{"content":%q,"publicKey":{"content":%q}}}}`,
		hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(k.certPEM))
	pl := rekorPayload{Body: base64.StdEncoding.EncodeToString([]byte(body)), IntegratedTime: at.Unix(), LogID: "c0ffee", LogIndex: 7}
	canonical, _ := json.Marshal(pl)
	bundle, _ := json.Marshal(rekorBundle{SignedEntryTimestamp: base64.StdEncoding.EncodeToString(signRaw(t, k.rekor, canonical)), Payload: pl})
	return Signature{Payload: payload, Base64: base64.StdEncoding.EncodeToString(sig), Certificate: string(k.certPEM), Bundle: string(bundle)}
}

func (k keyless) policy(t *testing.T, email, issuer string) *Policy {
	t.Helper()
	js := fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caData": %q, "oidcIssuer": %q, "subjectEmail": %q},
		"rekorPublicKeyData": %q, "signedIdentity": {"type": "matchRepository"}}]}`,
		base64.StdEncoding.EncodeToString(k.caPEM), issuer, email, base64.StdEncoding.EncodeToString(k.rekorPEM))
	p, err := Parse([]byte(js), "/", testParse)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeylessSignatures(t *testing.T) {
	const email, issuer = "dev@example.com", "https://accounts.example.com"
	issued := time.Now().Add(-48 * time.Hour) // the certificate expired long ago: Rekor's time counts
	k := newKeyless(t, email, issuer, issued)
	img := Image{Ref: Ref{Repo: "registry.example.com/app", Tag: "v1"}, ManifestDigest: digestA}
	payload := simpleSigning("registry.example.com/app", digestA)
	good := k.sign(t, payload, issued.Add(time.Minute))
	for _, tc := range []struct {
		desc    string
		policy  *Policy
		sig     func() Signature
		refusal string
	}{
		{desc: "valid", policy: k.policy(t, email, issuer), sig: func() Signature { return good }},
		{desc: "other email", policy: k.policy(t, "boss@example.com", issuer), sig: func() Signature { return good }, refusal: "not boss@example.com"},
		{desc: "other issuer", policy: k.policy(t, email, "https://evil.example"), sig: func() Signature { return good }, refusal: "OIDC issuer"},
		{desc: "logged after the certificate expired", policy: k.policy(t, email, issuer),
			sig: func() Signature { return k.sign(t, payload, issued.Add(time.Hour)) }, refusal: "not from the policy's Fulcio CA"},
		{desc: "bundle tampered", policy: k.policy(t, email, issuer), sig: func() Signature {
			s := good
			s.Bundle = strings.Replace(s.Bundle, `"logIndex":7`, `"logIndex":8`, 1)
			return s
		}, refusal: "not by the policy's Rekor key"},
		{desc: "other CA", policy: newKeyless(t, email, issuer, issued).policy(t, email, issuer), sig: func() Signature { return good },
			refusal: "Rekor key"},
		{desc: "no bundle", policy: k.policy(t, email, issuer), sig: func() Signature { s := good; s.Bundle = ""; return s },
			refusal: "without certificate or Rekor bundle"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.policy.Check(img, sigs(tc.sig()))
			switch {
			case tc.refusal == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
				t.Errorf("err = %v, want one with %q", err, tc.refusal)
			}
		})
	}
}

func TestSignatureTag(t *testing.T) {
	if got := SignatureTag(digestA); got != "sha256-"+strings.Repeat("a", 64)+".sig" {
		t.Errorf("SignatureTag = %s", got)
	}
}
