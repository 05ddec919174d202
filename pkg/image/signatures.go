package image

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image/sigpolicy"
	"github.com/cricket-cri/cricket/pkg/tracing"
)

// Bounds of what a signature manifest may make a pull fetch.
const (
	maxSignatures       = 32
	maxSignaturePayload = 64 << 10
)

// LoadSignaturePolicy reads a containers-policy.json with this package's
// reference rules.
func LoadSignaturePolicy(path string) (*sigpolicy.Policy, error) {
	return sigpolicy.Load(path, policyRef)
}

// SetSignaturePolicy replaces the policy the next pulls are checked
// against; nil accepts every image.
func (s *Service) SetSignaturePolicy(p *sigpolicy.Policy) { s.policy.Store(p) }

// policyRef parses a reference as the policy sees it: normalised, and
// without the default tag a reference with neither tag nor digest gets.
func policyRef(ref string) (sigpolicy.Ref, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return sigpolicy.Ref{}, err
	}
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	if !strings.ContainsAny(last, ":@") {
		r.Tag = ""
	}
	return sigpolicy.Ref{Repo: r.Repo(), Tag: r.Tag, Digest: r.Digest}, nil
}

// verifySignatures checks the resolved image against the signature policy
// before anything of it is stored.
func (s *Service) verifySignatures(ctx context.Context, rc *repoClient, r Reference, ms manifestSet) (err error) {
	p := s.policy.Load()
	if p == nil {
		return nil
	}
	ctx, span := tracing.Start(ctx, tracing.SpanImageVerify)
	defer tracing.End(span, &err)
	img := sigpolicy.Image{Ref: sigpolicy.Ref{Repo: r.Repo(), Tag: r.Tag, Digest: r.Digest}, ManifestDigest: ms.top}
	err = p.Check(img, func() ([]sigpolicy.Signature, error) { return s.fetchSignatures(ctx, rc, ms.top) })
	if err != nil {
		return err
	}
	scope, _ := p.For(img.Ref)
	klog.FromContext(ctx).V(2).Info("image signature policy accepted the image", "digest", ms.top, "scope", scope)
	return nil
}

// sigManifest is the part of cosign's signature manifest read here.
type sigManifest struct {
	Layers []Descriptor `json:"layers"`
}

// fetchSignatures reads cosign's signatures of digest from the image's
// repository (through the same hosts, mirrors and credentials as the
// image): the manifest tagged sha256-<hex>.sig and its payload layers. No
// such tag means no signatures.
func (s *Service) fetchSignatures(ctx context.Context, rc *repoClient, digest string) ([]sigpolicy.Signature, error) {
	tag := sigpolicy.SignatureTag(digest)
	body, _, err := s.fetchManifest(ctx, rc, CapResolve, tag, Descriptor{})
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m sigManifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalid("signature manifest %s: %v", tag, err)
	}
	if len(m.Layers) > maxSignatures {
		return nil, invalid("signature manifest %s has %d signatures, more than %d", tag, len(m.Layers), maxSignatures)
	}
	var out []sigpolicy.Signature
	for _, l := range m.Layers {
		if l.MediaType != sigpolicy.PayloadMediaType || l.Annotations[sigpolicy.AnnotationSignature] == "" {
			continue
		}
		if err := checkDescriptor(l, maxSignaturePayload); err != nil {
			return nil, fmt.Errorf("signature manifest %s: %w", tag, err)
		}
		payload, err := s.downloadSmall(ctx, rc, l)
		if err != nil {
			return nil, fmt.Errorf("signature payload %s: %w", l.Digest, err)
		}
		out = append(out, sigpolicy.Signature{
			Payload: payload, Base64: l.Annotations[sigpolicy.AnnotationSignature],
			Certificate: l.Annotations[sigpolicy.AnnotationCertificate], Chain: l.Annotations[sigpolicy.AnnotationChain],
			Bundle: l.Annotations[sigpolicy.AnnotationBundle],
		})
	}
	return out, nil
}
