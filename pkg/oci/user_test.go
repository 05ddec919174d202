package oci

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1001::/home/app:/bin/sh
broken:x:notanumber:1::/:/bin/sh
`

const testGroup = `root:x:0:
daemon:x:1:
appgrp:x:1001:
audio:x:29:app,other
video:x:44:other, app
`

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"etc/passwd": {Data: []byte(testPasswd)},
		"etc/group":  {Data: []byte(testGroup)},
	}
}

func i64(v int64) *int64 { return &v }

func TestParsePasswd(t *testing.T) {
	got, err := ParsePasswd(strings.NewReader(testPasswd))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2] != (PasswdEntry{Name: "app", UID: 1000, GID: 1001, Home: "/home/app"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestParseGroup(t *testing.T) {
	got, err := ParseGroup(strings.NewReader(testGroup))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || !slices.Equal(got[4].Members, []string{"other", "app"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestResolveUser(t *testing.T) {
	tests := []struct {
		desc    string
		fsys    fstest.MapFS
		req     UserRequest
		want    User
		wantErr bool
	}{
		{desc: "default root", req: UserRequest{}, want: User{UID: 0, GID: 0, AdditionalGids: []uint32{0}, Username: "root"}},
		{desc: "run_as_user known", req: UserRequest{RunAsUser: i64(1000)}, want: User{UID: 1000, GID: 1001, AdditionalGids: []uint32{1001, 29, 44}, Username: "app"}},
		{desc: "run_as_user unknown gets gid 0", req: UserRequest{RunAsUser: i64(4242)}, want: User{UID: 4242, AdditionalGids: []uint32{0}}},
		{desc: "run_as_group overrides", req: UserRequest{RunAsUser: i64(1000), RunAsGroup: i64(7)}, want: User{UID: 1000, GID: 7, AdditionalGids: []uint32{7, 29, 44}, Username: "app"}},
		{desc: "strict skips image groups", req: UserRequest{RunAsUser: i64(1000), Strict: true, SupplementalGroups: []int64{5, 5}}, want: User{UID: 1000, GID: 1001, AdditionalGids: []uint32{1001, 5}, Username: "app"}},
		{desc: "merge adds supplemental after image groups", req: UserRequest{RunAsUser: i64(1000), SupplementalGroups: []int64{29, 99}}, want: User{UID: 1000, GID: 1001, AdditionalGids: []uint32{1001, 29, 44, 99}, Username: "app"}},
		{desc: "run_as_username", req: UserRequest{RunAsUsername: "daemon"}, want: User{UID: 1, GID: 1, AdditionalGids: []uint32{1}, Username: "daemon"}},
		{desc: "run_as_username missing", req: UserRequest{RunAsUsername: "nobody"}, wantErr: true},
		{desc: "image user name", req: UserRequest{ImageUser: "app"}, want: User{UID: 1000, GID: 1001, AdditionalGids: []uint32{1001, 29, 44}, Username: "app"}},
		{desc: "image uid:gid", req: UserRequest{ImageUser: "5:6"}, want: User{UID: 5, GID: 6, AdditionalGids: []uint32{6}}},
		{desc: "image name:group", req: UserRequest{ImageUser: "app:audio"}, want: User{UID: 1000, GID: 29, AdditionalGids: []uint32{29, 44}, Username: "app"}},
		{desc: "image unknown group", req: UserRequest{ImageUser: "app:nope"}, wantErr: true},
		{desc: "image unknown user", req: UserRequest{ImageUser: "nope"}, wantErr: true},
		{desc: "no passwd numeric", fsys: fstest.MapFS{}, req: UserRequest{ImageUser: "65532"}, want: User{UID: 65532, AdditionalGids: []uint32{0}}},
		{desc: "group without user", req: UserRequest{RunAsGroup: i64(1)}, wantErr: true},
		{desc: "negative uid", req: UserRequest{RunAsUser: i64(-1)}, wantErr: true},
		{desc: "negative supplemental", req: UserRequest{SupplementalGroups: []int64{-3}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			fsys := tc.fsys
			if fsys == nil {
				fsys = testFS()
			}
			got, err := ResolveUser(fsys, tc.req)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.UID != tc.want.UID || got.GID != tc.want.GID || got.Username != tc.want.Username || !slices.Equal(got.AdditionalGids, tc.want.AdditionalGids) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRootFSConfinesSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An absolute symlink must resolve inside root, where it does not exist.
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	u, err := ResolveUser(RootFS(root), UserRequest{ImageUser: "evil"})
	if err == nil {
		t.Fatalf("resolved %+v through a symlink out of the rootfs", u)
	}
}
