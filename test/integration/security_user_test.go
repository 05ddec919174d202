package integration

import (
	"context"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSecurityUser covers users and groups on every handler: run_as_user,
// run_as_group (and its rejection alone), run_as_username, the image's
// USER, supplemental groups under both policies, and ContainerStatus.user.
func TestSecurityUser(t *testing.T) {
	d := startSecurityDaemon(t, "")
	wantIDs := func(uid, gid, groups string) func(*testing.T, *secEnv, string) {
		return func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "id -u; id -g", uid+"\n"+gid)
			if groups != "" {
				e.wantSh(t, id, "id -G | tr ' ' '\\n' | sort -n | tr '\\n' ' '", groups)
			}
		}
	}
	cases := []fieldCase{
		{desc: "run_as_user", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 1234}
		}, check: wantIDs("1234", "0", "")},
		{desc: "run_as_user from passwd gets its group", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 33}
		}, check: wantIDs("33", "33", "")},
		{desc: "run_as_group", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 1234}
			sc(c).RunAsGroup = &runtimeapi.Int64Value{Value: 5678}
		}, check: wantIDs("1234", "5678", "")},
		{desc: "run_as_group without user is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsGroup = &runtimeapi.Int64Value{Value: 5678}
		}, wantCode: codes.InvalidArgument, wantErr: "run_as_group"},
		{desc: "run_as_username from passwd", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUsername = "nobody"
		}, check: wantIDs("65534", "65534", "")},
		{desc: "run_as_username unknown is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUsername = "no-such-user"
		}, wantCode: codes.InvalidArgument, wantErr: "no-such-user"},
		{desc: "image USER name", image: imgUserName, check: wantIDs("33", "33", "")},
		{desc: "image USER uid:gid", image: imgUserUIDGroup, check: wantIDs("1003", "1004", "")},
		{desc: "supplemental groups Merge", image: imgGroupInImage, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).SupplementalGroups = []int64{1234}
			sc(c).SupplementalGroupsPolicy = runtimeapi.SupplementalGroupsPolicy_Merge
		}, check: wantIDs("1000", "1000", "1000 1234 50000")},
		{desc: "supplemental groups Strict", image: imgGroupInImage, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).SupplementalGroups = []int64{1234}
			sc(c).SupplementalGroupsPolicy = runtimeapi.SupplementalGroupsPolicy_Strict
		}, check: wantIDs("1000", "1000", "1000 1234")},
		{desc: "host /dev/null keeps its owner", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			// A runtime that fchowns the stdio it was given to the
			// container's user must not be handed the host's /dev/null.
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 4321}
			var st unix.Stat_t
			if err := unix.Stat("/dev/null", &st); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				var now unix.Stat_t
				if unix.Stat("/dev/null", &now) == nil && now.Uid == 4321 {
					_ = unix.Chown("/dev/null", int(st.Uid), int(st.Gid)) // undo what a failure did
				}
			})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "id -u", "4321")
			var st unix.Stat_t
			if err := unix.Stat("/dev/null", &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid == 4321 {
				t.Errorf("the host's /dev/null was chowned to the container's user %d:%d", st.Uid, st.Gid)
			}
		}},
		{desc: "ContainerStatus.user", image: imgGroupInImage, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).SupplementalGroups = []int64{1234}
		}, check: func(t *testing.T, e *secEnv, id string) {
			u := containerStatus(t, e.rt, id).GetUser().GetLinux()
			groups := slices.Clone(u.GetSupplementalGroups())
			slices.Sort(groups)
			if u.GetUid() != 1000 || u.GetGid() != 1000 || !slices.Equal(groups, []int64{1000, 1234, 50000}) {
				t.Errorf("status user = %v, want uid 1000 gid 1000 groups [1000 1234 50000]", u)
			}
			got := strings.Fields(e.mustSh(t, id, "id -G"))
			if len(got) != len(groups) {
				t.Errorf("id -G = %v, status groups %v", got, groups)
			}
		}},
	}
	runFieldCases(t, d, cases)
	t.Run("Status advertises supplemental_groups_policy", func(t *testing.T) {
		resp, err := d.Runtime().Status(context.Background(), &runtimeapi.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetFeatures().GetSupplementalGroupsPolicy() {
			t.Errorf("features = %v", resp.GetFeatures())
		}
	})
}
