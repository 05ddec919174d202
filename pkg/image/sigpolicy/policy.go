// Package sigpolicy reads an image signature policy in the format of
// containers-policy.json(5) — the file CRI-O, Podman and Skopeo use — and
// decides with it whether an image may be pulled. Sigstore signatures
// (cosign's, attached to the image in its repository as the tag
// sha256-<digest>.sig) are verified with sigstore's own verifiers
// (github.com/sigstore/sigstore/pkg/signature).
package sigpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Requirement types of containers-policy.json.
const (
	TypeInsecureAcceptAnything = "insecureAcceptAnything"
	TypeReject                 = "reject"
	TypeSignedBy               = "signedBy"
	TypeSigstoreSigned         = "sigstoreSigned"
)

// Ref is an image reference as the policy sees it: Repo is the normalised
// repository (docker.io/library/busybox); Tag and Digest may be empty.
type Ref struct {
	Repo   string
	Tag    string
	Digest string
}

// String is the reference in Docker's form.
func (r Ref) String() string {
	s := r.Repo
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// ParseFunc normalises a reference the way the image service does, without
// adding a default tag.
type ParseFunc func(string) (Ref, error)

// Policy is a parsed containers-policy.json. Only the "docker" transport
// applies to a CRI runtime; other transports are read and ignored.
type Policy struct {
	// Path is the file the policy was read from, for messages.
	Path string
	// Default applies when no scope of the docker transport matches.
	Default []*Requirement
	// Docker maps scopes of transports.docker to their requirements.
	Docker map[string][]*Requirement

	parse ParseFunc
}

type policyJSON struct {
	Default    []json.RawMessage                       `json:"default"`
	Transports map[string]map[string][]json.RawMessage `json:"transports"`
}

// Load reads and checks the policy at path. Key files named by relative
// paths are found beside it.
func Load(path string, parse ParseFunc) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signature policy: %w", err)
	}
	p, err := Parse(data, filepath.Dir(path), parse)
	if err != nil {
		return nil, fmt.Errorf("signature policy %s: %w", path, err)
	}
	p.Path = path
	return p, nil
}

// Parse reads a policy; dir resolves relative key paths. Every requirement
// is checked and its keys loaded now, so that a bad policy fails at start,
// not at a pull.
func Parse(data []byte, dir string, parse ParseFunc) (*Policy, error) {
	var raw policyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	if raw.Default == nil {
		// containers/image refuses a policy without default, so that
		// a typo never means "accept everything".
		return nil, fmt.Errorf("no \"default\" requirements: %w", errdefs.ErrInvalidArgument)
	}
	p := &Policy{Docker: map[string][]*Requirement{}, parse: parse}
	var err error
	if p.Default, err = parseRequirements(raw.Default, dir, "default"); err != nil {
		return nil, err
	}
	scopes := raw.Transports["docker"]
	names := make([]string, 0, len(scopes))
	for s := range scopes {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		if err := checkScope(s); err != nil {
			return nil, fmt.Errorf("transports.docker scope %q: %w", s, err)
		}
		if p.Docker[s], err = parseRequirements(scopes[s], dir, fmt.Sprintf("transports.docker[%q]", s)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseRequirements(raw []json.RawMessage, dir, where string) ([]*Requirement, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: no requirements (use insecureAcceptAnything to accept anything): %w", where, errdefs.ErrInvalidArgument)
	}
	out := make([]*Requirement, 0, len(raw))
	for i, r := range raw {
		req, err := parseRequirement(r, dir)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		out = append(out, req)
	}
	return out, nil
}

// checkScope accepts what containers/image accepts for the docker
// transport: a host[:port], a repository or namespace, a repository with a
// tag or digest, or *.domain.
func checkScope(s string) error {
	if s == "" {
		return nil // the transport's default
	}
	if strings.HasPrefix(s, "*.") {
		if strings.ContainsAny(s[2:], "/:*@") || s[2:] == "" {
			return fmt.Errorf("a wildcard scope is *.domain only: %w", errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if strings.Contains(s, "*") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return fmt.Errorf("not a registry, repository or reference: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// Scopes lists, most specific first, the scopes of transports.docker that
// can match ref: the reference itself (with its digest or tag), the
// repository, each enclosing namespace up to the host, then *.domain
// wildcards, then the transport's default "". This is containers/image's
// order.
func Scopes(ref Ref) []string {
	var out []string
	switch {
	case ref.Digest != "":
		out = append(out, ref.Repo+"@"+ref.Digest)
	case ref.Tag != "":
		out = append(out, ref.Repo+":"+ref.Tag)
	}
	name := ref.Repo
	for {
		out = append(out, name)
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	host, _, _ := strings.Cut(name, ":")
	for {
		i := strings.IndexByte(host, '.')
		if i < 0 {
			break
		}
		host = host[i+1:]
		out = append(out, "*."+host)
	}
	return append(out, "")
}

// For returns the requirements that apply to ref and the scope they were
// found under ("default" when none of transports.docker matched).
func (p *Policy) For(ref Ref) (scope string, reqs []*Requirement) {
	for _, s := range Scopes(ref) {
		if r, ok := p.Docker[s]; ok {
			return s, r
		}
	}
	return "default", p.Default
}
