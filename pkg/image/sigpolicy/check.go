package sigpolicy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Annotations of a cosign signature layer.
const (
	AnnotationSignature   = "dev.cosignproject.cosign/signature"
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	AnnotationChain       = "dev.sigstore.cosign/chain"
	AnnotationBundle      = "dev.sigstore.cosign/bundle"
	// PayloadMediaType is the media type of the signed payload.
	PayloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// PayloadType is the critical.type of a cosign image signature.
	PayloadType = "cosign container image signature"
)

// SignatureTag is the tag cosign stores the signatures of the manifest
// digest under, in the image's own repository.
func SignatureTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

// Signature is one sigstore signature of an image, as cosign attaches it:
// a layer of the signature manifest and its annotations.
type Signature struct {
	// Payload is the simple-signing JSON that was signed.
	Payload []byte
	// Base64 is the signature (AnnotationSignature).
	Base64 string
	// Certificate and Chain are PEM (keyless signatures).
	Certificate, Chain string
	// Bundle is Rekor's signed entry timestamp and entry (keyless).
	Bundle string
}

// Image is what a pull asks the policy about.
type Image struct {
	// Ref is the reference the pull names.
	Ref Ref
	// ManifestDigest is the digest of the manifest (or index) Ref resolved
	// to: what cosign signs.
	ManifestDigest string
}

// Fetch returns the sigstore signatures of the image being checked; an
// image without any returns none and no error. It is called at most once
// per check, and only when a requirement needs signatures.
type Fetch func() ([]Signature, error)

// Check returns nil when img satisfies every requirement of its scope, and
// otherwise an error wrapping errdefs.ErrSignatureValidation that names the
// policy scope, the requirement that failed and why.
func (p *Policy) Check(img Image, fetch Fetch) error {
	scope, reqs := p.For(img.Ref)
	var sigs []Signature
	fetched := false
	for i, r := range reqs {
		var err error
		switch r.Type {
		case TypeInsecureAcceptAnything:
		case TypeReject:
			err = errors.New("the policy rejects every image of this scope")
		case TypeSignedBy:
			err = errors.New("signedBy (GPG simple signing) is not supported; use sigstoreSigned")
		case TypeSigstoreSigned:
			if !fetched {
				if sigs, err = fetch(); err != nil {
					return fmt.Errorf("fetch signatures of %s: %w", img.Ref, err)
				}
				fetched = true
			}
			err = p.sigstoreSigned(r, img, sigs)
		}
		if err != nil {
			return fmt.Errorf("%w: image %s (%s): policy %s scope %q requirement %d (%s): %w",
				errdefs.ErrSignatureValidation, img.Ref, img.ManifestDigest, p.Path, scope, i, r.Type, err)
		}
	}
	return nil
}

// sigstoreSigned accepts the image when one of its signatures verifies
// against the requirement's trust and says what the requirement wants.
func (p *Policy) sigstoreSigned(r *Requirement, img Image, sigs []Signature) error {
	if len(sigs) == 0 {
		return fmt.Errorf("no sigstore signature (tag %s)", SignatureTag(img.ManifestDigest))
	}
	var why []string
	for i, s := range sigs {
		err := p.checkSignature(r, img, s)
		if err == nil {
			return nil
		}
		why = append(why, fmt.Sprintf("signature %d: %v", i, err))
	}
	return errors.New(strings.Join(why, "; "))
}

func (p *Policy) checkSignature(r *Requirement, img Image, s Signature) error {
	raw, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	if r.Fulcio != nil {
		err = r.verifyKeyless(raw, s)
	} else {
		err = r.verifyKeys(raw, s.Payload)
	}
	if err != nil {
		return err
	}
	return p.checkPayload(r, img, s.Payload)
}

func (r *Requirement) verifyKeys(sig, payload []byte) error {
	for _, k := range r.keys {
		if k.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)) == nil {
			return nil
		}
	}
	if len(r.keys) == 1 {
		return errors.New("not signed by the policy's key")
	}
	return fmt.Errorf("not signed by any of the policy's %d keys", len(r.keys))
}

type payloadJSON struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// checkPayload checks what a verified signature says: that it is an image
// signature, of this manifest, for an identity the requirement accepts.
func (p *Policy) checkPayload(r *Requirement, img Image, payload []byte) error {
	var pl payloadJSON
	if err := json.Unmarshal(payload, &pl); err != nil {
		return fmt.Errorf("signed payload: %w", err)
	}
	c := pl.Critical
	if c.Type != PayloadType {
		return fmt.Errorf("signed payload type is %q, not %q", c.Type, PayloadType)
	}
	if c.Image.DockerManifestDigest != img.ManifestDigest {
		return fmt.Errorf("signature is of manifest %s, not of %s", c.Image.DockerManifestDigest, img.ManifestDigest)
	}
	signed, err := p.parse(c.Identity.DockerReference)
	if err != nil {
		return fmt.Errorf("signed identity %q: %w", c.Identity.DockerReference, err)
	}
	ok, err := p.identityMatches(r.SignedIdentity, img.Ref, signed)
	if err != nil {
		return err
	}
	if !ok {
		t := IdentityMatchRepoDigestOrExact
		if r.SignedIdentity != nil {
			t = r.SignedIdentity.Type
		}
		return fmt.Errorf("signed identity %s does not match %s (signedIdentity %s)", signed, img.Ref, t)
	}
	return nil
}

func (p *Policy) identityMatches(id *SignedIdentity, intended, signed Ref) (bool, error) {
	if id == nil {
		return matchRepoDigestOrExact(intended, signed), nil
	}
	switch id.Type {
	case IdentityMatchExact:
		return matchExact(intended, signed), nil
	case IdentityMatchRepoDigestOrExact:
		return matchRepoDigestOrExact(intended, signed), nil
	case IdentityMatchRepository:
		return intended.Repo == signed.Repo, nil
	case IdentityExactReference:
		want, err := p.parse(id.DockerReference)
		if err != nil {
			return false, fmt.Errorf("signedIdentity dockerReference: %w", err)
		}
		return matchExact(want, signed), nil
	case IdentityExactRepository:
		want, err := p.parse(id.DockerRepository)
		if err != nil {
			return false, fmt.Errorf("signedIdentity dockerRepository: %w", err)
		}
		return want.Repo == signed.Repo, nil
	case IdentityRemapIdentity:
		s := intended.String()
		if rest, ok := strings.CutPrefix(s, id.Prefix); ok && (rest == "" || strings.ContainsRune("/:@", rune(rest[0]))) {
			remapped, err := p.parse(id.SignedPrefix + rest)
			if err != nil {
				return false, fmt.Errorf("remapped identity %s: %w", id.SignedPrefix+rest, err)
			}
			intended = remapped
		}
		return matchRepoDigestOrExact(intended, signed), nil
	}
	return false, fmt.Errorf("unknown signedIdentity type %q", id.Type)
}

// matchExact: both name the same tag or digest of the same repository.
func matchExact(a, b Ref) bool {
	if a.Tag == "" && a.Digest == "" || b.Tag == "" && b.Digest == "" {
		return false
	}
	return a.String() == b.String()
}

// matchRepoDigestOrExact: an image pulled by digest needs a signature of
// its repository (the digest is checked separately); one pulled by tag, a
// signature of that tag.
func matchRepoDigestOrExact(intended, signed Ref) bool {
	if intended.Digest != "" {
		return intended.Repo == signed.Repo
	}
	return matchExact(intended, signed)
}
