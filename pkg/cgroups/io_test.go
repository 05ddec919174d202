package cgroups

import (
	"reflect"
	"testing"
)

func TestReadIOStatV2(t *testing.T) {
	tests := []struct {
		desc    string
		content string // "" writes no file
		want    []IODevice
		wantErr bool
	}{
		{desc: "no io controller"},
		{
			desc:    "devices sorted, unknown keys ignored",
			content: "259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0 cost.usage=5\n8:0 rbytes=1 wbytes=0 rios=1 wios=0\n",
			want: []IODevice{
				{Major: 8, Minor: 0, ReadBytes: 1, Reads: 1},
				{Major: 259, Minor: 0, ReadBytes: 10, WriteBytes: 20, Reads: 1, Writes: 2},
			},
		},
		{desc: "bad device", content: "sda rbytes=1\n", wantErr: true},
		{desc: "bad value", content: "8:0 rbytes=x\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				writeFiles(t, dir, map[string]string{"io.stat": tc.content})
			}
			got, err := readIOStatV2(dir)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReadBlkioV1(t *testing.T) {
	tests := []struct {
		desc    string
		files   map[string]string
		want    []IODevice
		wantErr bool
	}{
		{desc: "no blkio files"},
		{
			desc: "throttle counters",
			files: map[string]string{
				"blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 0\n8:0 Discard 0\n8:0 Total 4096\nTotal 4096\n",
				"blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
			},
			want: []IODevice{{Major: 8, ReadBytes: 4096, Reads: 1}},
		},
		{
			desc: "empty CFQ counters fall through",
			files: map[string]string{
				"blkio.io_service_bytes_recursive":          "Total 0\n",
				"blkio.throttle.io_service_bytes_recursive": "8:0 Write 512\n",
			},
			want: []IODevice{{Major: 8, WriteBytes: 512}},
		},
		{desc: "bad value", files: map[string]string{"blkio.throttle.io_service_bytes_recursive": "8:0 Read x\n"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			got, err := readBlkioV1(dir)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReadHugetlb(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hugetlb.2MB.current": "4194304\n", "hugetlb.1GB.current": "0\n", "hugetlb.2MB.rsvd.current": "2097152\n",
		"hugetlb.2MB.max": "max\n",
	})
	got, err := readHugetlb(dir, "current", "")
	want := map[string]HugetlbStats{"2MB": {Usage: 4194304}, "1GB": {}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
}
