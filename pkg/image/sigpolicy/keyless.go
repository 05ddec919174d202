package sigpolicy

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Fulcio's certificate extensions naming the OIDC issuer: the first as a
// raw string (older certificates), the second DER-encoded.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// rekorBundle is cosign's dev.sigstore.cosign/bundle annotation: Rekor's
// signed entry timestamp over the log entry.
type rekorBundle struct {
	SignedEntryTimestamp string       `json:"SignedEntryTimestamp"`
	Payload              rekorPayload `json:"Payload"`
}

// rekorPayload's fields are in the order of Rekor's canonical JSON, which
// the signed entry timestamp covers.
type rekorPayload struct {
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogID          string `json:"logID"`
	LogIndex       int64  `json:"logIndex"`
}

type hashedRekord struct {
	Kind string `json:"kind"`
	Spec struct {
		Data struct {
			Hash struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"value"`
			} `json:"hash"`
		} `json:"data"`
		Signature struct {
			Content   string `json:"content"`
			PublicKey struct {
				Content string `json:"content"`
			} `json:"publicKey"`
		} `json:"signature"`
	} `json:"spec"`
}

// verifyKeyless checks a keyless signature offline, as cosign does with a
// trusted root given by file: Rekor's signed entry timestamp (made with
// the policy's Rekor key) says when the signature was logged and what was
// logged; the short-lived certificate must chain to the policy's Fulcio CA
// at that time and name the policy's OIDC issuer and email; the signature
// must verify with the certificate's key. The signature checks themselves
// are sigstore's verifiers; this function only chains them.
func (r *Requirement) verifyKeyless(sig []byte, s Signature) error {
	if s.Certificate == "" || s.Bundle == "" {
		return errors.New("keyless signature without certificate or Rekor bundle")
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(s.Certificate))
	if err != nil || len(certs) == 0 {
		return fmt.Errorf("signing certificate: %v", err)
	}
	leaf := certs[0]
	logged, err := r.verifyRekor(sig, s, leaf)
	if err != nil {
		return err
	}
	if err := r.Fulcio.verifyCertificate(leaf, s.Chain, logged); err != nil {
		return err
	}
	v, err := signature.LoadVerifier(leaf.PublicKey, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("certificate key: %w", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(s.Payload)); err != nil {
		return fmt.Errorf("signature does not verify with its certificate: %w", err)
	}
	return nil
}

// verifyRekor checks the bundle's signed entry timestamp and that the
// logged entry is this signature, of this payload, by this certificate. It
// returns the time the entry was logged.
func (r *Requirement) verifyRekor(sig []byte, s Signature, leaf *x509.Certificate) (time.Time, error) {
	var b rekorBundle
	if err := json.Unmarshal([]byte(s.Bundle), &b); err != nil {
		return time.Time{}, fmt.Errorf("rekor bundle: %w", err)
	}
	set, err := base64.StdEncoding.DecodeString(b.SignedEntryTimestamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("rekor signed entry timestamp: %w", err)
	}
	var canonical bytes.Buffer
	enc := json.NewEncoder(&canonical)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b.Payload); err != nil {
		return time.Time{}, err
	}
	if err := r.rekor.VerifySignature(bytes.NewReader(set), bytes.NewReader(bytes.TrimSuffix(canonical.Bytes(), []byte("\n")))); err != nil {
		return time.Time{}, fmt.Errorf("rekor signed entry timestamp is not by the policy's Rekor key: %w", err)
	}
	body, err := base64.StdEncoding.DecodeString(b.Payload.Body)
	if err != nil {
		return time.Time{}, fmt.Errorf("rekor entry body: %w", err)
	}
	var e hashedRekord
	if err := json.Unmarshal(body, &e); err != nil {
		return time.Time{}, fmt.Errorf("rekor entry body: %w", err)
	}
	sum := sha256.Sum256(s.Payload)
	logged, _ := base64.StdEncoding.DecodeString(e.Spec.Signature.Content)
	loggedCert, _ := base64.StdEncoding.DecodeString(e.Spec.Signature.PublicKey.Content)
	certs, _ := cryptoutils.UnmarshalCertificatesFromPEM(loggedCert)
	switch {
	case e.Kind != "hashedrekord":
		return time.Time{}, fmt.Errorf("rekor entry is a %q, want hashedrekord", e.Kind)
	case e.Spec.Data.Hash.Algorithm != "sha256" || e.Spec.Data.Hash.Value != hex.EncodeToString(sum[:]):
		return time.Time{}, errors.New("rekor entry is of another payload")
	case !bytes.Equal(logged, sig):
		return time.Time{}, errors.New("rekor entry is of another signature")
	case len(certs) == 0 || !certs[0].Equal(leaf):
		return time.Time{}, errors.New("rekor entry is of another certificate")
	}
	return time.Unix(b.Payload.IntegratedTime, 0), nil
}

// verifyCertificate checks that leaf chains to the CA (with the
// intermediates of chainPEM) at time at, for code signing, and names the
// policy's issuer and email.
func (f *Fulcio) verifyCertificate(leaf *x509.Certificate, chainPEM string, at time.Time) error {
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	ca, err := cryptoutils.UnmarshalCertificatesFromPEM(f.caPEM)
	if err != nil {
		return err
	}
	for _, c := range ca {
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			roots.AddCert(c)
		} else {
			intermediates.AddCert(c)
		}
	}
	if chainPEM != "" {
		chain, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(chainPEM))
		if err != nil {
			return fmt.Errorf("certificate chain: %w", err)
		}
		for _, c := range chain {
			intermediates.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return fmt.Errorf("signing certificate is not from the policy's Fulcio CA at the time Rekor logged it: %w", err)
	}
	if !slices.Contains(leaf.EmailAddresses, f.SubjectEmail) {
		return fmt.Errorf("signing certificate is for %v, not %s", leaf.EmailAddresses, f.SubjectEmail)
	}
	if iss := issuer(leaf); iss != f.OIDCIssuer {
		return fmt.Errorf("signing certificate's OIDC issuer is %q, not %q", iss, f.OIDCIssuer)
	}
	return nil
}

func issuer(c *x509.Certificate) string {
	for _, e := range c.Extensions {
		switch {
		case e.Id.Equal(oidIssuerV2):
			var s string
			if _, err := asn1.Unmarshal(e.Value, &s); err == nil {
				return s
			}
		case e.Id.Equal(oidIssuerV1):
			return string(e.Value)
		}
	}
	return ""
}
