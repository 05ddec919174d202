package image

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Capabilities say what a registry host may be used for.
type Capabilities uint8

// Host capabilities, as in containerd's hosts.toml.
const (
	CapPull Capabilities = 1 << iota
	CapResolve
	CapPush
)

// maxHostsFile bounds a hosts.toml file; real ones are a few hundred bytes.
const maxHostsFile = 1 << 20

// RegistryHost is one endpoint a repository can be fetched from: a mirror
// or the upstream server.
type RegistryHost struct {
	// Scheme is "https" or "http"; http only when configured so.
	Scheme string
	// Host is host[:port].
	Host string
	// Path is the API root, "/v2" unless override_path set another.
	Path         string
	Capabilities Capabilities
	SkipVerify   bool
	// CAs are PEM files trusted in addition to the system roots.
	CAs []string
	// Clients are client certificate and key file pairs (key may be empty
	// when the certificate file holds it).
	Clients [][2]string
	Header  http.Header
	// Mirror is true for [host] entries, false for the upstream server.
	Mirror bool
}

// URL returns the API root of h, e.g. https://mirror:5000/v2.
func (h RegistryHost) URL() string {
	return h.Scheme + "://" + h.Host + h.Path
}

// hostsFile is the decoded form of hosts.toml. Fields with several accepted
// shapes are decoded as any and normalised afterwards.
type hostsFile struct {
	Server       string                 `toml:"server"`
	Capabilities []string               `toml:"capabilities"`
	SkipVerify   *bool                  `toml:"skip_verify"`
	CA           any                    `toml:"ca"`
	Client       any                    `toml:"client"`
	Header       map[string]any         `toml:"header"`
	OverridePath bool                   `toml:"override_path"`
	Host         map[string]hostSection `toml:"host"`
}

type hostSection struct {
	Capabilities []string       `toml:"capabilities"`
	SkipVerify   *bool          `toml:"skip_verify"`
	CA           any            `toml:"ca"`
	Client       any            `toml:"client"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
}

// ParseHostsFile parses one hosts.toml for registry host registry and returns
// its endpoints in the order to try them: the [host] mirrors in file order,
// then the server (which defaults to the registry itself). Relative ca and
// client paths are taken relative to dir.
func ParseHostsFile(registry, dir string, data []byte) ([]RegistryHost, error) {
	if len(data) > maxHostsFile {
		return nil, fmt.Errorf("hosts file for %s: too large: %w", registry, errdefs.ErrInvalidArgument)
	}
	var f hostsFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("parse hosts file for %s: %w: %w", registry, errdefs.ErrInvalidArgument, err)
	}
	var hosts []RegistryHost
	for _, name := range hostOrder(md) {
		sec := f.Host[name]
		h, err := newHost(name, dir, sec.OverridePath, hostSection(sec))
		if err != nil {
			return nil, fmt.Errorf("hosts file for %s: host %q: %w", registry, name, err)
		}
		h.Mirror = true
		hosts = append(hosts, h)
	}
	server := f.Server
	if server == "" {
		server = defaultServer(registry)
	}
	top := hostSection{Capabilities: f.Capabilities, SkipVerify: f.SkipVerify, CA: f.CA, Client: f.Client, Header: f.Header}
	if top.Capabilities == nil {
		top.Capabilities = []string{"pull", "resolve", "push"}
	}
	h, err := newHost(server, dir, f.OverridePath, top)
	if err != nil {
		return nil, fmt.Errorf("hosts file for %s: server %q: %w", registry, server, err)
	}
	return append(hosts, h), nil
}

// hostOrder returns the [host."..."] names in the order the file lists them;
// TOML tables are maps, so the order comes from the decoder's metadata.
func hostOrder(md toml.MetaData) []string {
	var names []string
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) >= 2 && k[0] == "host" && !seen[k[1]] {
			seen[k[1]] = true
			names = append(names, k[1])
		}
	}
	return names
}

func newHost(raw, dir string, overridePath bool, sec hostSection) (RegistryHost, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return RegistryHost{}, fmt.Errorf("bad url: %w", errdefs.ErrInvalidArgument)
	}
	h := RegistryHost{Scheme: u.Scheme, Host: u.Host, Path: apiPath(u.Path, overridePath)}
	if h.Capabilities, err = parseCapabilities(sec.Capabilities); err != nil {
		return RegistryHost{}, err
	}
	if sec.SkipVerify != nil {
		h.SkipVerify = *sec.SkipVerify
	}
	if h.CAs, err = stringList(sec.CA); err != nil {
		return RegistryHost{}, fmt.Errorf("ca: %w", err)
	}
	for i, ca := range h.CAs {
		h.CAs[i] = relTo(dir, ca)
	}
	if h.Clients, err = clientPairs(sec.Client, dir); err != nil {
		return RegistryHost{}, fmt.Errorf("client: %w", err)
	}
	if h.Header, err = headers(sec.Header); err != nil {
		return RegistryHost{}, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// apiPath follows containerd: without override_path the path gets /v2
// appended unless it already ends in it; with it the path is the API root.
func apiPath(p string, override bool) string {
	p = strings.TrimSuffix(p, "/")
	if override {
		return p
	}
	if !strings.HasSuffix(p, "/v2") {
		p += "/v2"
	}
	return path.Clean(p)
}

func parseCapabilities(names []string) (Capabilities, error) {
	if names == nil {
		return CapPull | CapResolve, nil
	}
	var c Capabilities
	for _, n := range names {
		switch n {
		case "pull":
			c |= CapPull
		case "resolve":
			c |= CapResolve
		case "push":
			c |= CapPush
		default:
			return 0, fmt.Errorf("unknown capability %q: %w", n, errdefs.ErrInvalidArgument)
		}
	}
	return c, nil
}

// stringList accepts a string or a list of strings.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want string, got %T: %w", e, errdefs.ErrInvalidArgument)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want string or list, got %T: %w", v, errdefs.ErrInvalidArgument)
}

// clientPairs accepts "cert", ["cert", ...], or [["cert", "key"], ...].
func clientPairs(v any, dir string) ([][2]string, error) {
	if list, ok := v.([]any); ok && len(list) > 0 {
		if _, nested := list[0].([]any); nested {
			var out [][2]string
			for _, e := range list {
				pair, err := stringList(e)
				if err != nil || len(pair) == 0 || len(pair) > 2 {
					return nil, fmt.Errorf("want [cert, key] pairs: %w", errdefs.ErrInvalidArgument)
				}
				p := [2]string{relTo(dir, pair[0])}
				if len(pair) == 2 {
					p[1] = relTo(dir, pair[1])
				}
				out = append(out, p)
			}
			return out, nil
		}
	}
	certs, err := stringList(v)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, c := range certs {
		out = append(out, [2]string{relTo(dir, c)})
	}
	return out, nil
}

func headers(m map[string]any) (http.Header, error) {
	if len(m) == 0 {
		return nil, nil
	}
	h := http.Header{}
	for k, v := range m {
		vals, err := stringList(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, s := range vals {
			h.Add(k, s)
		}
	}
	return h, nil
}

func relTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

func defaultServer(registry string) string {
	if registry == DockerHub {
		return "https://registry-1.docker.io"
	}
	return "https://" + registry
}

// HostsConfig finds the endpoints of a registry in a containerd-style
// certs.d directory: <dir>/<host>/hosts.toml, else <dir>/_default/hosts.toml,
// else the registry itself over HTTPS.
type HostsConfig struct {
	Dir string
}

// Hosts returns the endpoints to try for registry, mirrors first.
func (c HostsConfig) Hosts(registry string) ([]RegistryHost, error) {
	if c.Dir != "" {
		for _, name := range hostDirNames(registry) {
			dir := filepath.Join(c.Dir, name)
			data, err := readLimited(filepath.Join(dir, "hosts.toml"))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return ParseHostsFile(registry, dir, data)
		}
	}
	return ParseHostsFile(registry, "", nil)
}

// hostDirNames lists the directory names tried for registry: its name,
// "host_port_" for host:port (a ':' is awkward in paths, as containerd
// also accepts), then _default.
func hostDirNames(registry string) []string {
	names := []string{registry}
	if h, p, ok := strings.Cut(registry, ":"); ok {
		names = append(names, h+"_"+p+"_")
	}
	return append(names, "_default")
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", p, err)
	}
	if fi.Size() > maxHostsFile {
		return nil, fmt.Errorf("%s: too large: %w", p, errdefs.ErrInvalidArgument)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return data, nil
}
