// Package scripts tests the scripts under hack/ that turn test output into
// the evidence of docs/.
package scripts

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSecurityFieldsTable runs hack/security-fields.sh on saved `go test
// -v` outputs (issue 20): only a passing run gives a table, counted in
// leaf subtests (a test with subtests is not a case of its own). The
// script ended in `|| true` and exited 0 after a failing, non-compiling or
// interrupted run, printing a table all the same.
func TestSecurityFieldsTable(t *testing.T) {
	tests := []struct {
		desc, output string
		wantOK       bool
		// wantOut are lines of the table and summary; wantErr is in stderr.
		wantOut []string
		wantErr string
	}{
		{desc: "passing run", output: "pass.txt", wantOK: true, wantOut: []string{
			"| TestResourcesFields | cpu_shares | honoured | honoured | not run |",
			"| TestResourcesFields | hugepage_limits | n/a: host mounts no hugetlb controller (/sys/fs/cgroup/hugetlb): the limit has nothing to apply to | n/a: host mounts no hugetlb controller (/sys/fs/cgroup/hugetlb): the limit has nothing to apply to | not run |",
			"| TestResourcesFields | memory_negative_is_rejected | rejected as required | rejected as required | not run |",
			"| TestSecurityMounts | propagation/private | honoured | not run | not run |",
			// 4 passed and 2 skipped cases, crun skipped whole, 2 nested leaves.
			"9 leaf subtests: 6 passed, 0 failed, 3 skipped",
		}},
		{desc: "a test binary's passing run", output: "pass-binary.txt", wantOK: true, wantOut: []string{
			"9 leaf subtests: 6 passed, 0 failed, 3 skipped",
		}},
		{desc: "a failing case", output: "fail.txt", wantErr: "FAIL: TestResourcesFields/runc/cpu_shares"},
		{desc: "a run that did not compile", output: "nocompile.txt", wantErr: "0 leaf subtests"},
		{desc: "a run cut short", output: "cutshort.txt", wantErr: "did not finish"},
	}
	script, err := filepath.Abs("../../hack/security-fields.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			output, err := filepath.Abs(filepath.Join("testdata", "security-fields", tc.output))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(script, output)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			if ok := err == nil; ok != tc.wantOK {
				t.Fatalf("exit ok = %v, want %v\nstdout:\n%s\nstderr:\n%s", ok, tc.wantOK, &stdout, &stderr)
			}
			lines := strings.Split(stdout.String(), "\n")
			for _, want := range tc.wantOut {
				if !slices.Contains(lines, want) {
					t.Errorf("output lacks the line %q:\n%s", want, &stdout)
				}
			}
			if !tc.wantOK && stdout.Len() > 0 {
				t.Errorf("a failed run printed a table:\n%s", &stdout)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, &stderr)
			}
		})
	}
}
