package cri

import (
	"context"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/image/imagetest"
)

func TestImageFsInfo(t *testing.T) {
	now := time.Now()
	fake := &imagetest.Fake{
		ImagesUsage:     image.FsUsage{Mountpoint: "/var/lib/cricket/images", Timestamp: now, UsedBytes: 100, Inodes: 7},
		ContainersUsage: image.FsUsage{Mountpoint: "/var/lib/cricket/snapshots", Timestamp: now, UsedBytes: 5, Inodes: 2},
	}
	resp, err := newImageClient(t, fake).ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	img, ctr := resp.ImageFilesystems[0], resp.ContainerFilesystems[0]
	if img.FsId.Mountpoint != "/var/lib/cricket/images" || img.UsedBytes.Value != 100 || img.InodesUsed.Value != 7 ||
		ctr.UsedBytes.Value != 5 || img.Timestamp != now.UnixNano() {
		t.Errorf("ImageFsInfo = %+v", resp)
	}
}
