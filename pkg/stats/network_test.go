package stats_test

import (
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/stats"
)

const netDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     560       8    0    0    0     0          0         0      560       8    0    0    0     0       0          0
  eth0: 1234567     900    3    4    0     0          0         0   765432     800    1    2    0     0       0          0
`

func TestParseNetDev(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		want    []stats.Interface
		wantErr bool
	}{
		{desc: "loopback left out", in: netDev, want: []stats.Interface{{
			Name: "eth0", RxBytes: 1234567, RxPackets: 900, RxErrors: 3, RxDropped: 4,
			TxBytes: 765432, TxPackets: 800, TxErrors: 1, TxDropped: 2,
		}}},
		{desc: "headers only", in: strings.Join(strings.Split(netDev, "\n")[:2], "\n")},
		{desc: "short line", in: netDev + "  eth1: 1 2 3\n", wantErr: true},
		{desc: "not a number", in: netDev + "  eth1: x 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := stats.ParseNetDev(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		desc string
		ifs  []stats.Interface
		want string
	}{
		{desc: "none"},
		{desc: "eth0 wins", ifs: []stats.Interface{{Name: "net1"}, {Name: "eth0"}}, want: "eth0"},
		{desc: "else the first", ifs: []stats.Interface{{Name: "net1"}, {Name: "net2"}}, want: "net1"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := stats.Default(tc.ifs)
			if (got == nil && tc.want != "") || (got != nil && got.Name != tc.want) {
				t.Fatalf("got %v, want %q", got, tc.want)
			}
		})
	}
}
