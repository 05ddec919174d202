package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Media types accepted in manifests and indexes.
const (
	MediaTypeOCIIndex        = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIManifest     = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIConfig       = "application/vnd.oci.image.config.v1+json"
	MediaTypeOCILayer        = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeOCILayerGzip    = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeOCILayerZstd    = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeDockerList      = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Limits on what a registry may send. A real manifest is a few KiB and a
// config rarely exceeds 100 KiB; overlayfs stacks beyond ~128 lower dirs
// hit the mount option page limit.
const (
	MaxManifestSize = 4 << 20
	MaxConfigSize   = 8 << 20
	MaxLayers       = 128
	MaxLayerSize    = 64 << 30
	maxIndexEntries = 1024
)

// acceptManifests is the Accept header of a manifest request.
var acceptManifests = []string{MediaTypeOCIIndex, MediaTypeOCIManifest, MediaTypeDockerList, MediaTypeDockerManifest}

var layerTypes = map[string]bool{
	MediaTypeOCILayer: true, MediaTypeOCILayerGzip: true, MediaTypeOCILayerZstd: true,
	MediaTypeDockerLayerGzip:                       true,
	"application/vnd.docker.image.rootfs.diff.tar": true,
}

// Platform selects one manifest of an index.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// String is the platform as os/arch[/variant].
func (p Platform) String() string {
	if p.Variant == "" {
		return p.OS + "/" + p.Architecture
	}
	return p.OS + "/" + p.Architecture + "/" + p.Variant
}

// ParsePlatform parses os/arch[/variant] ("linux/arm64/v8").
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return Platform{}, invalid("platform %q is not os/arch[/variant]", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Descriptor points at a blob.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Manifest is an OCI image manifest or a Docker schema 2 manifest.
type Manifest struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType,omitempty"`
	// ArtifactType marks an OCI artifact (image-spec 1.1).
	ArtifactType string            `json:"artifactType,omitempty"`
	Config       Descriptor        `json:"config"`
	Layers       []Descriptor      `json:"layers"`
	Subject      *Descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// IsArtifact reports whether m is an OCI artifact rather than a container
// image: it declares an artifactType, or its config is not an image
// config. Its layers are files of any media type, not filesystem layers.
func (m Manifest) IsArtifact() bool {
	return m.ArtifactType != "" || m.Config.MediaType != MediaTypeOCIConfig && m.Config.MediaType != MediaTypeDockerConfig
}

// Index is an OCI image index or a Docker manifest list.
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Config is the part of an image config Cricket uses.
type Config struct {
	Created      *time.Time `json:"created,omitempty"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	Variant      string     `json:"variant,omitempty"`
	Config       struct {
		User         string              `json:"User,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		Entrypoint   []string            `json:"Entrypoint,omitempty"`
		Cmd          []string            `json:"Cmd,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
		Labels       map[string]string   `json:"Labels,omitempty"`
		StopSignal   string              `json:"StopSignal,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
		Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// Digest returns the sha256 digest of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func checkDigest(d string) error {
	if !digestPattern.MatchString(d) {
		return invalid("digest %q", d)
	}
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return invalid("decode json: %v", err)
	}
	if dec.More() {
		return invalid("trailing data after json")
	}
	return nil
}

// sniffMediaType is the media type declared in a manifest body, else the
// shape of the document (an index lists manifests), else the Content-Type.
func sniffMediaType(b []byte, header string) string {
	var probe struct {
		MediaType string          `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	_ = json.Unmarshal(b, &probe)
	ct, _, _ := strings.Cut(header, ";")
	ct = strings.TrimSpace(ct)
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return MediaTypeOCIIndex
	case IsIndex(ct):
		return ct
	}
	return MediaTypeOCIManifest
}

// IsIndex reports whether mediaType is an index or manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerList
}

// ParseIndex decodes and checks an index.
func ParseIndex(b []byte) (Index, error) {
	if len(b) > MaxManifestSize {
		return Index{}, invalid("index of %d bytes exceeds %d", len(b), MaxManifestSize)
	}
	var idx Index
	if err := strictUnmarshal(b, &idx); err != nil {
		return Index{}, fmt.Errorf("parse index: %w", err)
	}
	if idx.SchemaVersion != 2 {
		return Index{}, invalid("index schema version %d", idx.SchemaVersion)
	}
	if len(idx.Manifests) == 0 || len(idx.Manifests) > maxIndexEntries {
		return Index{}, invalid("index with %d manifests", len(idx.Manifests))
	}
	for _, d := range idx.Manifests {
		if err := checkDescriptor(d, MaxManifestSize); err != nil {
			return Index{}, fmt.Errorf("index entry: %w", err)
		}
	}
	return idx, nil
}

func checkDescriptor(d Descriptor, max int64) error {
	if err := checkDigest(d.Digest); err != nil {
		return err
	}
	if d.Size <= 0 || d.Size > max {
		return invalid("descriptor %s size %d out of range", d.Digest, d.Size)
	}
	return nil
}

// SelectPlatform picks the manifest for p from idx: an exact variant match
// beats an entry without a variant.
func SelectPlatform(idx Index, p Platform) (Descriptor, error) {
	var best *Descriptor
	for i, d := range idx.Manifests {
		if d.MediaType != "" && d.MediaType != MediaTypeOCIManifest && d.MediaType != MediaTypeDockerManifest {
			continue
		}
		if d.Platform == nil || d.Platform.OS != p.OS || d.Platform.Architecture != p.Architecture {
			continue
		}
		if d.Platform.Variant == p.Variant {
			return d, nil
		}
		if best == nil && (d.Platform.Variant == "" || p.Variant == "") {
			best = &idx.Manifests[i]
		}
	}
	if best == nil {
		return Descriptor{}, fmt.Errorf("no manifest for platform %s/%s: %w", p.OS, p.Architecture, errdefs.ErrNotFound)
	}
	return *best, nil
}

// ParseManifest decodes and checks an image manifest.
func ParseManifest(b []byte) (Manifest, error) {
	if len(b) > MaxManifestSize {
		return Manifest{}, invalid("manifest of %d bytes exceeds %d", len(b), MaxManifestSize)
	}
	var m Manifest
	if err := strictUnmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("parse manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return Manifest{}, invalid("manifest schema version %d", m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != MediaTypeOCIManifest && m.MediaType != MediaTypeDockerManifest {
		return Manifest{}, invalid("manifest media type %q", m.MediaType)
	}
	if m.Config.MediaType == "" {
		return Manifest{}, invalid("config has no media type")
	}
	if err := checkDescriptor(m.Config, MaxConfigSize); err != nil {
		return Manifest{}, fmt.Errorf("config: %w", err)
	}
	if len(m.Layers) > MaxLayers {
		return Manifest{}, invalid("manifest with %d layers exceeds %d", len(m.Layers), MaxLayers)
	}
	artifact := m.IsArtifact()
	for _, l := range m.Layers {
		if !artifact && !layerTypes[l.MediaType] || l.MediaType == "" {
			return Manifest{}, invalid("layer media type %q", l.MediaType)
		}
		if err := checkDescriptor(l, MaxLayerSize); err != nil {
			return Manifest{}, fmt.Errorf("layer: %w", err)
		}
	}
	return m, nil
}

// ParseConfig decodes an image config and checks it against layers, the
// number of layers its manifest lists.
func ParseConfig(b []byte, layers int) (Config, error) {
	if len(b) > MaxConfigSize {
		return Config{}, invalid("config of %d bytes exceeds %d", len(b), MaxConfigSize)
	}
	var c Config
	if err := strictUnmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("parse config: %w", err)
	}
	if c.RootFS.Type != "layers" {
		return Config{}, invalid("config rootfs type %q", c.RootFS.Type)
	}
	if len(c.RootFS.DiffIDs) != layers {
		return Config{}, invalid("config lists %d diff ids for %d layers", len(c.RootFS.DiffIDs), layers)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := checkDigest(d); err != nil {
			return Config{}, fmt.Errorf("diff id: %w", err)
		}
	}
	return c, nil
}

// ChainIDs computes the OCI chain IDs of a diff ID stack:
// chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " + diff[i]).
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = Digest([]byte(out[i-1] + " " + d))
	}
	return out
}
