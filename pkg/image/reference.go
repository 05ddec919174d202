// Package image pulls images from OCI registries and keeps them: registry
// hosts configuration (containerd's hosts.toml layout), auth, manifest
// parsing, a content-addressed blob store, the image index and the pull
// orchestration that feeds layers into the snapshot store.
package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

const (
	// DockerHub is the canonical name of Docker Hub in references.
	DockerHub  = "docker.io"
	defaultTag = "latest"
)

var (
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	domainPattern = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$`)
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// Reference is a normalised image reference: docker.io/library/busybox:latest.
type Reference struct {
	// Domain is the registry host, with port if any (docker.io for Hub).
	Domain string
	// Path is the repository path inside the registry (library/busybox).
	Path string
	// Tag is empty when the reference has only a digest.
	Tag string
	// Digest is "sha256:<hex>" or empty.
	Digest string
}

// Repo returns domain/path.
func (r Reference) Repo() string { return r.Domain + "/" + r.Path }

// String returns the fully qualified reference.
func (r Reference) String() string {
	s := r.Repo()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Object returns what to ask the registry's manifests endpoint for: the
// digest when there is one (it pins content), otherwise the tag.
func (r Reference) Object() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// ParseReference normalises an image reference the way Docker does: a
// missing registry means docker.io, a single-component Hub path gets
// library/, and a reference without tag or digest gets :latest.
func ParseReference(s string) (Reference, error) {
	bad := func(why string) (Reference, error) {
		return Reference{}, fmt.Errorf("image reference %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if s == "" || len(s) > 4096 {
		return bad("empty or too long")
	}
	var r Reference
	name := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		name, r.Digest = s[:i], s[i+1:]
		if !digestPattern.MatchString(r.Digest) {
			return bad("bad digest")
		}
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
		if !tagPattern.MatchString(r.Tag) {
			return bad("bad tag")
		}
	}
	r.Domain, r.Path = splitDomain(name)
	if !domainPattern.MatchString(r.Domain) {
		return bad("bad registry host")
	}
	for _, c := range strings.Split(r.Path, "/") {
		if !pathComponent.MatchString(c) {
			return bad("bad repository path")
		}
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = defaultTag
	}
	return r, nil
}

func splitDomain(name string) (domain, path string) {
	first, rest, found := strings.Cut(name, "/")
	if !found || (!strings.ContainsAny(first, ".:") && first != "localhost" && strings.ToLower(first) == first) {
		domain, path = DockerHub, name
	} else {
		domain, path = first, rest
	}
	if domain == "index.docker.io" {
		domain = DockerHub
	}
	if domain == DockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return domain, path
}
