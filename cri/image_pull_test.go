package cri

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/image/imagetest"
)

// newImageClient serves a Service backed by fake over an in-memory
// connection, through the daemon's interceptors.
func newImageClient(t *testing.T, fake *imagetest.Fake) runtimeapi.ImageServiceClient {
	t.Helper()
	svc := New(testConfig, Deps{Images: fake})
	srv := grpc.NewServer(ServerOptions(1<<20, 1<<20)...)
	svc.Register(srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewImageServiceClient(conn)
}

var (
	busyboxID = "sha256:" + "1111111111111111111111111111111111111111111111111111111111111111"
	busybox   = image.Image{ID: busyboxID, RepoTags: []string{"docker.io/library/busybox:latest"},
		RepoDigests: []string{"docker.io/library/busybox@sha256:2222222222222222222222222222222222222222222222222222222222222222"},
		Size:        1234}
)

func fakeWithBusybox() *imagetest.Fake {
	bb := busybox
	bb.Config.Config.User = "nobody"
	return &imagetest.Fake{Registry: map[string]image.Image{"busybox": bb}}
}

func TestPullImage(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		req      *runtimeapi.PullImageRequest
		wantCode codes.Code
		wantRef  string
	}{
		{desc: "pull by name", req: &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox"},
			Auth: &runtimeapi.AuthConfig{Username: "u", Password: "p"}}, wantRef: busyboxID},
		{desc: "empty spec", req: &runtimeapi.PullImageRequest{}, wantCode: codes.InvalidArgument},
		{desc: "unknown image", req: &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "nope"}}, wantCode: codes.NotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fake := fakeWithBusybox()
			client := newImageClient(t, fake)
			resp, err := client.PullImage(context.Background(), tc.req)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.wantCode)
			}
			if resp.GetImageRef() != tc.wantRef {
				t.Errorf("image ref = %q, want %q", resp.GetImageRef(), tc.wantRef)
			}
			if tc.req.Auth != nil && (len(fake.Pulls) != 1 || fake.Pulls[0].Auth.Password != "p") {
				t.Errorf("auth not passed: %+v", fake.Pulls)
			}
		})
	}
}
