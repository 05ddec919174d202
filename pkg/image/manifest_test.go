package image

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

var (
	d1 = "sha256:" + strings.Repeat("1", 64)
	d2 = "sha256:" + strings.Repeat("2", 64)
)

func manifestJSON(configType, layerType string, layers int, size int64) string {
	var ls []string
	for range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, layerType, d2, size))
	}
	return fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":%q,"digest":%q,"size":10},"layers":[%s]}`,
		configType, d1, strings.Join(ls, ","))
}

func TestParseManifest(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		in      string
		wantErr bool
	}{
		{desc: "oci", in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayerGzip, 2, 100)},
		{desc: "docker schema2", in: manifestJSON(MediaTypeDockerConfig, MediaTypeDockerLayerGzip, 1, 100)},
		{desc: "zstd layer", in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayerZstd, 1, 100)},
		{desc: "no layers", in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayer, 0, 1)},
		{desc: "schema 1", wantErr: true, in: `{"schemaVersion":1,"fsLayers":[]}`},
		{desc: "artifact: foreign config type, any layer type", in: manifestJSON("application/vnd.example.config+json", "text/plain", 1, 1)},
		{desc: "artifact: empty config", in: manifestJSON("application/vnd.oci.empty.v1+json", "application/octet-stream", 2, 1)},
		{desc: "artifact: layer without a media type", wantErr: true, in: manifestJSON("application/vnd.oci.empty.v1+json", "", 1, 1)},
		{desc: "artifact: negative size", wantErr: true, in: manifestJSON("application/vnd.oci.empty.v1+json", "text/plain", 1, -1)},
		{desc: "artifact: artifactType with an image config keeps arbitrary layers", in: strings.Replace(manifestJSON(MediaTypeOCIConfig, "text/plain", 1, 1), `{"schemaVersion":2,`, `{"schemaVersion":2,"artifactType":"application/vnd.example"`+",", 1)},
		{desc: "config without a media type", wantErr: true, in: manifestJSON("", MediaTypeOCILayer, 1, 1)},
		{desc: "foreign layer type", wantErr: true, in: manifestJSON(MediaTypeOCIConfig, "application/x-evil", 1, 1)},
		{desc: "negative size", wantErr: true, in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayer, 1, -1)},
		{desc: "huge layer", wantErr: true, in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayer, 1, MaxLayerSize+1)},
		{desc: "too many layers", wantErr: true, in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayer, MaxLayers+1, 1)},
		{desc: "bad digest", wantErr: true, in: strings.Replace(manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayer, 1, 1), d2, "sha256:zz", 1)},
		{desc: "trailing data", wantErr: true, in: manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayer, 1, 1) + "{}"},
		{desc: "not json", wantErr: true, in: "<html>"},
		{desc: "index media type", wantErr: true, in: `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `"}`},
		{desc: "oversized", wantErr: true, in: `{"schemaVersion":2,"x":"` + strings.Repeat("a", MaxManifestSize) + `"}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.in))
			if tc.wantErr != (err != nil) || (err != nil && !errdefs.IsInvalidArgument(err)) {
				t.Errorf("ParseManifest = %v, wantErr %v (InvalidArgument)", err, tc.wantErr)
			}
		})
	}
}

func TestSelectPlatform(t *testing.T) {
	entry := func(arch, variant, dgst string) string {
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":5,"platform":{"os":"linux","architecture":%q,"variant":%q}}`,
			MediaTypeOCIManifest, dgst, arch, variant)
	}
	for _, tc := range []struct {
		desc    string
		entries []string
		want    Platform
		wantDgt string
		wantErr error
	}{
		{desc: "amd64 picked", entries: []string{entry("arm64", "v8", d1), entry("amd64", "", d2)},
			want: Platform{OS: "linux", Architecture: "amd64"}, wantDgt: d2},
		{desc: "exact variant beats none", entries: []string{entry("arm", "", d1), entry("arm", "v7", d2)},
			want: Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, wantDgt: d2},
		{desc: "no match", entries: []string{entry("arm64", "", d1)},
			want: Platform{OS: "linux", Architecture: "amd64"}, wantErr: errdefs.ErrNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			idx, err := ParseIndex([]byte(`{"schemaVersion":2,"manifests":[` + strings.Join(tc.entries, ",") + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			d, err := SelectPlatform(idx, tc.want)
			if tc.wantErr != nil {
				if !errdefs.IsNotFound(err) {
					t.Errorf("err = %v", err)
				}
				return
			}
			if err != nil || d.Digest != tc.wantDgt {
				t.Errorf("selected %s, %v; want %s", d.Digest, err, tc.wantDgt)
			}
		})
	}
}

func TestParseIndexErrors(t *testing.T) {
	for _, tc := range []struct{ desc, in string }{
		{desc: "empty", in: `{"schemaVersion":2,"manifests":[]}`},
		{desc: "wrong schema", in: `{"schemaVersion":1,"manifests":[{"digest":"` + d1 + `","size":1}]}`},
		{desc: "zero size entry", in: `{"schemaVersion":2,"manifests":[{"digest":"` + d1 + `","size":0}]}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := ParseIndex([]byte(tc.in)); !errdefs.IsInvalidArgument(err) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	cfg := func(typ string, ids ...string) string {
		return fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"User":"1000"},"rootfs":{"type":%q,"diff_ids":[%s]}}`,
			typ, strings.Join(ids, ","))
	}
	q := func(s string) string { return `"` + s + `"` }
	for _, tc := range []struct {
		desc    string
		in      string
		layers  int
		wantErr bool
	}{
		{desc: "ok", in: cfg("layers", q(d1), q(d2)), layers: 2},
		{desc: "lies about layer count", in: cfg("layers", q(d1)), layers: 2, wantErr: true},
		{desc: "bad rootfs type", in: cfg("zfs", q(d1)), layers: 1, wantErr: true},
		{desc: "bad diff id", in: cfg("layers", q("md5:x")), layers: 1, wantErr: true},
		{desc: "not json", in: "nope", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.in), tc.layers)
			if tc.wantErr != (err != nil) || (err != nil && !errdefs.IsInvalidArgument(err)) {
				t.Errorf("ParseConfig = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestChainIDs(t *testing.T) {
	got := ChainIDs([]string{d1, d2})
	if got[0] != d1 || got[1] != Digest([]byte(d1+" "+d2)) {
		t.Errorf("ChainIDs = %v", got)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(manifestJSON(MediaTypeOCIConfig, MediaTypeOCILayerGzip, 2, 100)))
	f.Add([]byte(manifestJSON(MediaTypeDockerConfig, MediaTypeDockerLayerGzip, 1, 100)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error without class: %v", err)
			}
			return
		}
		for _, l := range m.Layers {
			if checkDigest(l.Digest) != nil || l.Size <= 0 {
				t.Fatalf("accepted bad layer %+v", l)
			}
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"` + MediaTypeOCIManifest + `","digest":"` + d1 + `","size":5,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ParseIndex(b)
		if err != nil {
			return
		}
		if d, err := SelectPlatform(idx, Platform{OS: "linux", Architecture: "amd64"}); err == nil && checkDigest(d.Digest) != nil {
			t.Fatalf("selected bad digest %q", d.Digest)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"architecture":"amd64","os":"linux","config":{"User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":["`+d1+`"]}}`), 1)
	f.Fuzz(func(t *testing.T, b []byte, layers int) {
		c, err := ParseConfig(b, layers)
		if err != nil {
			return
		}
		if len(c.RootFS.DiffIDs) != layers {
			t.Fatal("accepted a config that lies about its layers")
		}
		_, _ = Image{Config: c}.UID()
	})
}

func TestSniffMediaType(t *testing.T) {
	for _, tc := range []struct{ desc, body, header, want string }{
		{desc: "declared", body: `{"mediaType":"` + MediaTypeDockerList + `"}`, header: MediaTypeOCIManifest, want: MediaTypeDockerList},
		{desc: "index by shape", body: `{"manifests":[]}`, header: "application/octet-stream", want: MediaTypeOCIIndex},
		{desc: "index by header", body: `{}`, header: MediaTypeDockerList + "; charset=utf-8", want: MediaTypeDockerList},
		{desc: "manifest by default", body: `{"layers":[]}`, header: "application/json", want: MediaTypeOCIManifest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := sniffMediaType([]byte(tc.body), tc.header); got != tc.want {
				t.Errorf("sniffMediaType = %q, want %q", got, tc.want)
			}
		})
	}
}
