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
	return newImageClientWith(t, testConfig, fake)
}

func newImageClientWith(t *testing.T, cfg Config, fake *imagetest.Fake) runtimeapi.ImageServiceClient {
	t.Helper()
	svc := New(cfg, Deps{Images: fake})
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

// TestImageRuntimeHandler: the image spec's runtime_handler (KEP-4216)
// picks the platform a pull is for: a handler's own, or the daemon's ("")
// for a handler without one and for the empty name; an unknown handler is
// NotFound on every image RPC that carries it.
func TestImageRuntimeHandler(t *testing.T) {
	cfg := testConfig
	cfg.Handlers = append(append([]Handler(nil), testConfig.Handlers...), Handler{Name: "arm", Platform: "linux/arm64"})
	armDefault := testConfig
	armDefault.Handlers = []Handler{{Name: "arm", Platform: "linux/arm64"}, {Name: "runc"}}
	for _, tc := range []struct {
		desc, handler, wantPlatform string
		wantCode                    codes.Code
		cfg                         *Config
	}{
		{desc: "empty name: the default handler's platform", cfg: &armDefault, wantPlatform: "linux/arm64"},
		{desc: "default handler", wantPlatform: ""},
		{desc: "handler without a platform", handler: "runc", wantPlatform: ""},
		{desc: "handler with a platform", handler: "arm", wantPlatform: "linux/arm64"},
		{desc: "unknown handler", handler: "kata", wantCode: codes.NotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fake := fakeWithBusybox()
			c := cfg
			if tc.cfg != nil {
				c = *tc.cfg
			}
			client := newImageClientWith(t, c, fake)
			ctx := context.Background()
			spec := &runtimeapi.ImageSpec{Image: "busybox", RuntimeHandler: tc.handler}
			_, err := client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec})
			if status.Code(err) != tc.wantCode {
				t.Fatalf("PullImage: %v, want %v", err, tc.wantCode)
			}
			if tc.wantCode == codes.OK && (len(fake.Pulls) != 1 || fake.Pulls[0].Platform != tc.wantPlatform) {
				t.Errorf("pulls = %+v, want one for platform %q", fake.Pulls, tc.wantPlatform)
			}
			_, err = client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
			if status.Code(err) != tc.wantCode {
				t.Errorf("ImageStatus: %v, want %v", err, tc.wantCode)
			}
			_, err = client.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec}})
			if status.Code(err) != tc.wantCode {
				t.Errorf("ListImages: %v, want %v", err, tc.wantCode)
			}
			_, err = client.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec})
			if status.Code(err) != tc.wantCode {
				t.Errorf("RemoveImage: %v, want %v", err, tc.wantCode)
			}
		})
	}
}
