package cri

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestImageStatusListRemove(t *testing.T) {
	fake := fakeWithBusybox()
	client := newImageClient(t, fake)
	ctx := context.Background()
	spec := &runtimeapi.ImageSpec{Image: "docker.io/library/busybox:latest"}
	if _, err := client.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox"}}); err != nil {
		t.Fatal(err)
	}
	st, err := client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Image.GetId() != busyboxID || st.Image.Username != "nobody" || st.Image.Uid != nil || st.Info["info"] == "" {
		t.Errorf("status = %+v", st)
	}
	for _, tc := range []struct {
		desc   string
		filter *runtimeapi.ImageFilter
		want   int
	}{
		{desc: "no filter", want: 1},
		{desc: "filter by id", filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: busyboxID}}, want: 1},
		{desc: "filter misses", filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: "other"}}, want: 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l, err := client.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: tc.filter})
			if err != nil || len(l.Images) != tc.want {
				t.Fatalf("ListImages = %v, %v; want %d", l, err, tc.want)
			}
			stream, err := client.StreamImages(ctx, &runtimeapi.StreamImagesRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				resp, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n += len(resp.Images)
			}
			if n != tc.want {
				t.Errorf("StreamImages sent %d images, want %d", n, tc.want)
			}
		})
	}
	for i := range 2 {
		if _, err := client.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
			t.Fatalf("RemoveImage #%d = %v", i, err)
		}
	}
	st, err = client.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
	if err != nil || st.Image != nil {
		t.Errorf("status of removed image = %v, %v; want nil image", st, err)
	}
	if _, err := client.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RemoveImage without spec = %v", err)
	}
}
