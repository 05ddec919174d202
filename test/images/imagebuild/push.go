package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pushed records one spec pushed to a registry.
type Pushed struct {
	Spec Spec
	// Ref is where it was pushed: "127.0.0.1:5000/e2e-test-images/busybox:1.29-2".
	Ref string
	// Digest is the digest of the pushed top-level manifest.
	Digest v1.Hash
}

// PushAll builds specs with the default Options and pushes each one under its
// upstream repository path and tag to the registry at registryHost
// ("127.0.0.1:5000"): registry.k8s.io/e2e-test-images/busybox:1.29-2 becomes
// 127.0.0.1:5000/e2e-test-images/busybox:1.29-2.
func PushAll(ctx context.Context, registryHost string, specs []Spec) ([]Pushed, error) {
	b, err := NewBuilder(Options{})
	if err != nil {
		return nil, err
	}
	return b.PushAll(ctx, registryHost, specs)
}

// PushAll is PushAll with this Builder's options and caches.
func (b *Builder) PushAll(ctx context.Context, registryHost string, specs []Spec) ([]Pushed, error) {
	out := make([]Pushed, 0, len(specs))
	for _, s := range specs {
		art, err := b.Build(s)
		if err != nil {
			return out, err
		}
		p, err := Push(ctx, registryHost, s, art)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Push pushes one built artifact of spec to the registry at registryHost.
func Push(ctx context.Context, registryHost string, spec Spec, art Artifact) (Pushed, error) {
	target := spec.MirrorRef(registryHost)
	ref, err := name.ParseReference(target, name.Insecure)
	if err != nil {
		return Pushed{}, fmt.Errorf("parse %s: %w", target, err)
	}
	opts := RemoteOptions(ctx)
	if art.Index != nil {
		err = remote.WriteIndex(ref, art.Index, opts...)
	} else {
		err = remote.Write(ref, art.Image, opts...)
	}
	if err != nil {
		return Pushed{}, fmt.Errorf("push %s as %s: %w", spec.Ref, target, err)
	}
	d, err := art.Digest()
	if err != nil {
		return Pushed{}, fmt.Errorf("digest of %s: %w", spec.Ref, err)
	}
	return Pushed{Spec: spec, Ref: target, Digest: d}, nil
}

// RemoteOptions are the go-containerregistry remote options for talking to a
// test registry: the given context and a transport that never uses a proxy,
// so that requests to 127.0.0.1 stay on the machine.
func RemoteOptions(ctx context.Context) []remote.Option {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr)}
}

// Collision is a repository path and tag that two upstream references with
// different content would share on a single mirror registry.
type Collision struct {
	// Path is "repository:tag" below the registry host.
	Path string
	// Refs are the upstream references that land on Path.
	Refs []string
}

// FindCollisions reports the mirror paths claimed by upstream references of
// different hosts whose digests (keyed by Spec.Ref) differ. The same path
// with the same content, like registry.k8s.io/pause:3.9 and
// k8s.gcr.io/pause:3.9, is no collision.
func FindCollisions(specs []Spec, digests map[string]v1.Hash) []Collision {
	byPath := map[string][]Spec{}
	for _, s := range specs {
		p := s.Repository() + ":" + s.Tag()
		byPath[p] = append(byPath[p], s)
	}
	var out []Collision
	for p, ss := range byPath {
		distinct := map[v1.Hash]bool{}
		for _, s := range ss {
			distinct[digests[s.Ref]] = true
		}
		if len(distinct) > 1 {
			c := Collision{Path: p}
			for _, s := range ss {
				c.Refs = append(c.Refs, s.Ref)
			}
			sort.Strings(c.Refs)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Hosts lists the upstream hosts of specs, sorted.
func Hosts(specs []Spec) []string {
	seen := map[string]bool{}
	var hosts []string
	for _, s := range specs {
		if h := s.Host(); !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	sort.Strings(hosts)
	return hosts
}

// MirrorOptions configures StartMirror.
type MirrorOptions struct {
	Build Options
	// PerHost starts one registry per upstream host even when the catalog
	// has no collisions.
	PerHost bool
}

// Mirror is the catalog built and served from registries on 127.0.0.1, each
// upstream host mapped to one of them.
type Mirror struct {
	// Registries maps each upstream host ("registry.k8s.io", "gcr.io",
	// "k8s.gcr.io", "docker.io") to the registry that serves its images.
	Registries map[string]*Registry
	// PerHost is true when every host has a registry of its own.
	PerHost bool
	// Collisions that forced one registry per host, if any.
	Collisions []Collision
	// Pushed lists every image pushed, in catalog order.
	Pushed []Pushed

	all []*Registry
}

// StartMirror builds specs, starts the registries and pushes every image under
// its upstream path. With no collisions (and PerHost unset) one registry on
// addr serves every host. Otherwise each host gets its own registry: on
// addr's port plus the host's index in Hosts(specs), or on a free port when
// addr's port is 0.
func StartMirror(ctx context.Context, addr string, specs []Spec, opts MirrorOptions) (_ *Mirror, err error) {
	b, err := NewBuilder(opts.Build)
	if err != nil {
		return nil, err
	}
	arts := make([]Artifact, len(specs))
	digests := map[string]v1.Hash{}
	for i, s := range specs {
		if arts[i], err = b.Build(s); err != nil {
			return nil, err
		}
		if digests[s.Ref], err = arts[i].Digest(); err != nil {
			return nil, fmt.Errorf("digest of %s: %w", s.Ref, err)
		}
	}
	m := &Mirror{Registries: map[string]*Registry{}, Collisions: FindCollisions(specs, digests)}
	m.PerHost = opts.PerHost || len(m.Collisions) > 0
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	if err := m.start(addr, Hosts(specs)); err != nil {
		return nil, err
	}
	for i, s := range specs {
		p, err := Push(ctx, m.Registries[s.Host()].Addr, s, arts[i])
		if err != nil {
			return nil, err
		}
		m.Pushed = append(m.Pushed, p)
	}
	return m, nil
}

func (m *Mirror) start(addr string, hosts []string) error {
	if !m.PerHost {
		r, err := StartRegistry(addr)
		if err != nil {
			return err
		}
		m.all = append(m.all, r)
		for _, h := range hosts {
			m.Registries[h] = r
		}
		return nil
	}
	ip, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("registry address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("registry address %q: %w", addr, err)
	}
	for i, h := range hosts {
		p := 0
		if port != 0 {
			p = port + i
		}
		r, err := StartRegistry(net.JoinHostPort(ip, strconv.Itoa(p)))
		if err != nil {
			return fmt.Errorf("registry for %s: %w", h, err)
		}
		m.all = append(m.all, r)
		m.Registries[h] = r
	}
	return nil
}

// Addrs maps each upstream host to the address of its registry.
func (m *Mirror) Addrs() map[string]string {
	out := make(map[string]string, len(m.Registries))
	for h, r := range m.Registries {
		out[h] = r.Addr
	}
	return out
}

// Close stops every registry of the mirror.
func (m *Mirror) Close() error {
	var errs []error
	for _, r := range m.all {
		errs = append(errs, r.Close())
	}
	m.all = nil
	return errors.Join(errs...)
}

// String describes the host mapping, one "host -> addr" per line.
func (m *Mirror) String() string {
	var lines []string
	for h, a := range m.Addrs() {
		lines = append(lines, h+" -> "+a)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
