package sockets

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "s.sock")
	l, err := Listen(path, os.Getuid(), os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Errorf("socket mode = %o, want 660", perm)
	}
}

func TestListenStaleAndLive(t *testing.T) {
	cases := []struct {
		desc    string
		prepare func(t *testing.T, path string) func()
		wantErr error
	}{
		{
			desc: "stale socket is replaced",
			prepare: func(t *testing.T, path string) func() {
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				// Keep the file: a crashed daemon leaves it behind.
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				l.Close()
				return func() {}
			},
		},
		{
			desc: "live socket is refused",
			prepare: func(t *testing.T, path string) func() {
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				return func() { l.Close() }
			},
			wantErr: ErrInUse,
		},
		{
			desc: "regular file is refused",
			prepare: func(t *testing.T, path string) func() {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return func() {}
			},
			wantErr: errors.New("any"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.sock")
			defer tc.prepare(t, path)()
			l, err := Listen(path, os.Getuid(), os.Getgid())
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatal("want an error")
			}
			if tc.wantErr == ErrInUse && !errors.Is(err, ErrInUse) {
				t.Errorf("err = %v, want ErrInUse", err)
			}
		})
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.lock")
	f, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("second lock: err = %v, want ErrInUse", err)
	}
	f.Close()
	f2, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	f2.Close()
}
