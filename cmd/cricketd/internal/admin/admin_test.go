package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
)

// fakeImporter records what it was sent and answers with ims and err.
type fakeImporter struct {
	body string
	opts image.ImportOptions
	ims  []image.Image
	err  error
}

func (f *fakeImporter) ImportReader(_ context.Context, r io.Reader, opts image.ImportOptions) ([]image.Image, error) {
	b, _ := io.ReadAll(r)
	f.body, f.opts = string(b), opts
	return f.ims, f.err
}

func serveFake(t *testing.T, imp Importer) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), SocketName)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(l, imp)
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return sock
}

func TestImport(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		opts    image.ImportOptions
		ims     []image.Image
		err     error
		wantErr string
	}{
		{desc: "images imported", opts: image.ImportOptions{Platform: "linux/arm64"},
			ims: []image.Image{{ID: "sha256:1", RepoTags: []string{"example.com/a:1"}}, {ID: "sha256:2"}}},
		{desc: "all platforms", opts: image.ImportOptions{AllPlatforms: true}, ims: []image.Image{{ID: "sha256:1"}}},
		{desc: "bad archive", err: fmt.Errorf("archive is not a tar: %w", errdefs.ErrInvalidArgument),
			wantErr: "cricketd: archive is not a tar"},
		{desc: "half done", ims: []image.Image{{ID: "sha256:1"}}, err: errors.New("disk full"), wantErr: "disk full"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			imp := &fakeImporter{ims: tc.ims, err: tc.err}
			sock := serveFake(t, imp)
			got, err := Import(context.Background(), sock, strings.NewReader("archive bytes"), tc.opts)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Import error = %v, want %q", err, tc.wantErr)
			}
			if imp.body != "archive bytes" || imp.opts != tc.opts {
				t.Errorf("daemon got %q with %+v, want the archive with %+v", imp.body, imp.opts, tc.opts)
			}
			if len(got) != len(tc.ims) {
				t.Fatalf("answer %+v, want %d images", got, len(tc.ims))
			}
			for i, im := range tc.ims {
				if got[i].ID != im.ID || strings.Join(got[i].RepoTags, ",") != strings.Join(im.RepoTags, ",") {
					t.Errorf("image %d = %+v, want %s %v", i, got[i], im.ID, im.RepoTags)
				}
			}
		})
	}
}

func TestImportNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), SocketName)
	_, err := Import(context.Background(), sock, strings.NewReader("x"), image.ImportOptions{})
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Import with no socket = %v, want ErrNoDaemon", err)
	}
	// A socket file left by a daemon that died refuses connections.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := Import(context.Background(), sock, strings.NewReader("x"), image.ImportOptions{}); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Import with a stale socket = %v, want ErrNoDaemon", err)
	}
}
