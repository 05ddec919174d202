package image

import (
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestParseReference(t *testing.T) {
	dgst := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		desc, in, want string
		wantErr        bool
	}{
		{desc: "hub short name", in: "busybox", want: "docker.io/library/busybox:latest"},
		{desc: "hub short name with tag", in: "busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{desc: "hub user repo", in: "user/app", want: "docker.io/user/app:latest"},
		{desc: "hub explicit", in: "docker.io/busybox", want: "docker.io/library/busybox:latest"},
		{desc: "hub index alias", in: "index.docker.io/library/busybox:1", want: "docker.io/library/busybox:1"},
		{desc: "other registry", in: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{desc: "registry with port", in: "127.0.0.1:5000/a/b/c:v1", want: "127.0.0.1:5000/a/b/c:v1"},
		{desc: "localhost", in: "localhost/app", want: "localhost/app:latest"},
		{desc: "digest only", in: "busybox@" + dgst, want: "docker.io/library/busybox@" + dgst},
		{desc: "tag and digest", in: "gcr.io/x/y:1@" + dgst, want: "gcr.io/x/y:1@" + dgst},
		{desc: "uppercase repo", in: "Busybox", wantErr: true},
		{desc: "empty", in: "", wantErr: true},
		{desc: "bad digest", in: "busybox@sha256:123", wantErr: true},
		{desc: "bad tag", in: "busybox:-x", wantErr: true},
		{desc: "double slash", in: "gcr.io//x", wantErr: true},
		{desc: "trailing colon", in: "busybox:", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Errorf("ParseReference(%q) = %v, %v; want InvalidArgument", tc.in, r, err)
				}
				return
			}
			if err != nil || r.String() != tc.want {
				t.Errorf("ParseReference(%q) = %q, %v; want %q", tc.in, r.String(), err, tc.want)
			}
		})
	}
}
