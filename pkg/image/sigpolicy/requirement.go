package sigpolicy

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Requirement is one entry of a scope's list; an image must satisfy every
// requirement of its scope.
type Requirement struct {
	Type string `json:"type"`

	// sigstoreSigned: exactly one source of trust — public keys, or
	// Fulcio (keyless) with Rekor.
	KeyPath            string          `json:"keyPath,omitempty"`
	KeyPaths           []string        `json:"keyPaths,omitempty"`
	KeyData            string          `json:"keyData,omitempty"`
	KeyDatas           []string        `json:"keyDatas,omitempty"`
	Fulcio             *Fulcio         `json:"fulcio,omitempty"`
	RekorPublicKeyPath string          `json:"rekorPublicKeyPath,omitempty"`
	RekorPublicKeyData string          `json:"rekorPublicKeyData,omitempty"`
	SignedIdentity     *SignedIdentity `json:"signedIdentity,omitempty"`

	// signedBy (GPG simple signing) is read so that CRI-O policies load,
	// and always refuses: Cricket verifies sigstore signatures only.
	KeyType string `json:"keyType,omitempty"`

	keys  []signature.Verifier
	rekor signature.Verifier
}

// Fulcio is the keyless trust of a sigstoreSigned requirement: the CA that
// issued the signing certificates and the identity they must carry.
type Fulcio struct {
	CAPath       string `json:"caPath,omitempty"`
	CAData       string `json:"caData,omitempty"`
	OIDCIssuer   string `json:"oidcIssuer"`
	SubjectEmail string `json:"subjectEmail"`

	caPEM []byte
}

// SignedIdentity says which reference in a signature is acceptable for the
// image being pulled (containers-policy.json's signedIdentity).
type SignedIdentity struct {
	Type             string `json:"type"`
	DockerReference  string `json:"dockerReference,omitempty"`
	DockerRepository string `json:"dockerRepository,omitempty"`
	Prefix           string `json:"prefix,omitempty"`
	SignedPrefix     string `json:"signedPrefix,omitempty"`
}

// signedIdentity types.
const (
	IdentityMatchExact             = "matchExact"
	IdentityMatchRepoDigestOrExact = "matchRepoDigestOrExact"
	IdentityMatchRepository        = "matchRepository"
	IdentityExactReference         = "exactReference"
	IdentityExactRepository        = "exactRepository"
	IdentityRemapIdentity          = "remapIdentity"
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

func parseRequirement(raw json.RawMessage, dir string) (*Requirement, error) {
	var r Requirement
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, invalidf("%v", err)
	}
	switch r.Type {
	case TypeInsecureAcceptAnything, TypeReject, TypeSignedBy:
		return &r, nil
	case TypeSigstoreSigned:
		return &r, r.loadSigstore(dir)
	case "":
		return nil, invalidf("requirement without type")
	default:
		return nil, invalidf("unknown requirement type %q", r.Type)
	}
}

func (r *Requirement) loadSigstore(dir string) error {
	var pems [][]byte
	for _, p := range append(optional(r.KeyPath), r.KeyPaths...) {
		b, err := os.ReadFile(abs(dir, p))
		if err != nil {
			return invalidf("sigstoreSigned key: %v", err)
		}
		pems = append(pems, b)
	}
	for _, d := range append(optional(r.KeyData), r.KeyDatas...) {
		b, err := base64.StdEncoding.DecodeString(d)
		if err != nil {
			return invalidf("sigstoreSigned keyData is not base64: %v", err)
		}
		pems = append(pems, b)
	}
	switch {
	case len(pems) > 0 && r.Fulcio != nil:
		return invalidf("sigstoreSigned takes keys or fulcio, not both")
	case len(pems) == 0 && r.Fulcio == nil:
		return invalidf("sigstoreSigned needs keyPath, keyPaths, keyData, keyDatas or fulcio")
	}
	for i, pem := range pems {
		v, err := loadVerifier(pem)
		if err != nil {
			return invalidf("sigstoreSigned key %d: %v", i, err)
		}
		r.keys = append(r.keys, v)
	}
	if r.Fulcio != nil {
		if err := r.loadFulcio(dir); err != nil {
			return err
		}
	}
	return r.checkIdentity()
}

func (r *Requirement) loadFulcio(dir string) error {
	f := r.Fulcio
	switch {
	case f.CAPath != "" && f.CAData != "":
		return invalidf("fulcio takes caPath or caData, not both")
	case f.CAPath != "":
		b, err := os.ReadFile(abs(dir, f.CAPath))
		if err != nil {
			return invalidf("fulcio CA: %v", err)
		}
		f.caPEM = b
	case f.CAData != "":
		b, err := base64.StdEncoding.DecodeString(f.CAData)
		if err != nil {
			return invalidf("fulcio caData is not base64: %v", err)
		}
		f.caPEM = b
	default:
		return invalidf("fulcio needs caPath or caData")
	}
	if _, err := cryptoutils.UnmarshalCertificatesFromPEM(f.caPEM); err != nil {
		return invalidf("fulcio CA: %v", err)
	}
	if f.OIDCIssuer == "" || f.SubjectEmail == "" {
		return invalidf("fulcio needs oidcIssuer and subjectEmail")
	}
	var rekor []byte
	switch {
	case r.RekorPublicKeyPath != "":
		b, err := os.ReadFile(abs(dir, r.RekorPublicKeyPath))
		if err != nil {
			return invalidf("rekor key: %v", err)
		}
		rekor = b
	case r.RekorPublicKeyData != "":
		b, err := base64.StdEncoding.DecodeString(r.RekorPublicKeyData)
		if err != nil {
			return invalidf("rekorPublicKeyData is not base64: %v", err)
		}
		rekor = b
	default:
		return invalidf("fulcio needs rekorPublicKeyPath or rekorPublicKeyData (keyless signatures are trusted through Rekor's timestamp)")
	}
	v, err := loadVerifier(rekor)
	if err != nil {
		return invalidf("rekor key: %v", err)
	}
	r.rekor = v
	return nil
}

func (r *Requirement) checkIdentity() error {
	id := r.SignedIdentity
	if id == nil {
		return nil
	}
	switch id.Type {
	case IdentityMatchExact, IdentityMatchRepoDigestOrExact, IdentityMatchRepository:
	case IdentityExactReference:
		if id.DockerReference == "" {
			return invalidf("exactReference needs dockerReference")
		}
	case IdentityExactRepository:
		if id.DockerRepository == "" {
			return invalidf("exactRepository needs dockerRepository")
		}
	case IdentityRemapIdentity:
		if id.Prefix == "" || id.SignedPrefix == "" {
			return invalidf("remapIdentity needs prefix and signedPrefix")
		}
	default:
		return invalidf("unknown signedIdentity type %q", id.Type)
	}
	return nil
}

// loadVerifier makes a sigstore verifier of a PEM public key (ECDSA,
// RSA or Ed25519), hashing with SHA-256 as cosign signs.
func loadVerifier(pem []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem)
	if err != nil {
		return nil, err
	}
	return signature.LoadVerifier(pub, crypto.SHA256)
}

func optional(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
