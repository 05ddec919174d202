package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A trimmed ginkgo v2 JUnit report with every outcome the summary knows.
const sampleJUnit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="7" disabled="3" errors="0" failures="2" time="1">
  <testsuite name="CRI validation" package="/x" tests="7" skipped="3" failures="2" errors="0" time="1">
    <testcase name="[BeforeSuite]" classname="CRI validation" status="passed" time="0.1"></testcase>
    <testcase name="[It] [k8s.io] Runtime info runtime should return version info [Conformance]" classname="CRI validation" status="passed" time="0.1"></testcase>
    <testcase name="[It] [k8s.io] Image Manager public image with digest should be pulled and removed [Conformance] [Serial]" classname="CRI validation" status="failed" time="2">
      <failure message="failed to pull image" type="failed">stack</failure>
    </testcase>
    <testcase name="[It] [k8s.io] Container runtime should support basic operations on container" classname="CRI validation" status="timedout" time="60">
      <failure message="A spec timeout occurred" type="timedout">stack</failure>
    </testcase>
    <testcase name="[It] [k8s.io] AppArmor runtime should support AppArmor should fail" classname="CRI validation" status="skipped" time="0">
      <skipped message="skipped - AppArmor is disabled on this host"></skipped>
    </testcase>
    <testcase name="[It] [k8s.io] Container Mount Readonly should support recursive readonly mounts" classname="CRI validation" status="skipped" time="0">
      <skipped message="skipped - runtime does not implement recursive readonly mounts"></skipped>
    </testcase>
    <testcase name="[It] [k8s.io] Networking runtime should support DNS config" classname="CRI validation" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [k8s.io] Streaming runtime should support exec" classname="CRI validation" status="pending" time="0">
      <skipped message="pending"></skipped>
    </testcase>
  </testsuite>
</testsuites>
`

func TestParseJUnit(t *testing.T) {
	specs, err := parseJUnit(strings.NewReader(sampleJUnit))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		outcome outcome
		reason  string
	}{
		{setupPassed, ""},
		{passed, ""},
		{failed, "failed to pull image"},
		{failed, "A spec timeout occurred"},
		{skipped, "AppArmor is disabled on this host"},
		{skipped, "runtime does not implement recursive readonly mounts"},
		{notSelected, ""},
		{notSelected, ""},
	}
	if len(specs) != len(want) {
		t.Fatalf("got %d specs, want %d", len(specs), len(want))
	}
	for i, w := range want {
		if specs[i].Outcome != w.outcome || specs[i].Reason != w.reason {
			t.Errorf("spec %d (%s): got outcome %d reason %q, want %d %q", i, specs[i].Name, specs[i].Outcome, specs[i].Reason, w.outcome, w.reason)
		}
	}
	if strings.HasPrefix(specs[1].Name, "[It]") {
		t.Errorf("spec name keeps ginkgo's leaf prefix: %q", specs[1].Name)
	}
}

func TestParseExpectations(t *testing.T) {
	tests := []struct {
		desc     string
		in       string
		wantN    int
		wantErr  string
		handlers []string
		reason   string
	}{
		{desc: "comment and blank lines", in: "# header\n\n   \n", wantN: 0},
		{desc: "pattern with reason", in: `public image with digest  # pins an upstream digest`, wantN: 1, reason: "pins an upstream digest"},
		{desc: "handler tag", in: `@runc,crun ^\[k8s.io\] Foo # only the CLI handlers`, wantN: 1, handlers: []string{"runc", "crun"}, reason: "only the CLI handlers"},
		{desc: "missing reason", in: `^\[k8s.io\] Foo`, wantErr: "no reason"},
		{desc: "bad regex", in: `(unclosed  # reason`, wantErr: "missing closing"},
		{desc: "hash inside pattern without space", in: `a#b  # reason`, wantN: 1, reason: "reason"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			exps, err := parseExpectations(strings.NewReader(tc.in), "f.txt")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(exps) != tc.wantN {
				t.Fatalf("got %d expectations, want %d", len(exps), tc.wantN)
			}
			if tc.wantN == 0 {
				return
			}
			if got := strings.Join(exps[0].Handlers, ","); got != strings.Join(tc.handlers, ",") {
				t.Errorf("handlers %q, want %q", got, tc.handlers)
			}
			if exps[0].Reason != tc.reason {
				t.Errorf("reason %q, want %q", exps[0].Reason, tc.reason)
			}
		})
	}
}

func TestCount(t *testing.T) {
	specs, err := parseJUnit(strings.NewReader(sampleJUnit))
	if err != nil {
		t.Fatal(err)
	}
	knownFailures, err := parseExpectations(strings.NewReader(
		"public image with digest should be pulled and removed  # upstream digest\n"+
			"@crun basic operations on container  # only crun\n"), "kf")
	if err != nil {
		t.Fatal(err)
	}
	knownSkips, err := parseExpectations(strings.NewReader("AppArmor is disabled on this host  # no AppArmor\n"), "ks")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc           string
		handler        string
		wantUnexpected int
	}{
		{desc: "handler-scoped entry applies", handler: "crun", wantUnexpected: 0},
		{desc: "handler-scoped entry does not apply elsewhere", handler: "cricket", wantUnexpected: 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := count(specs, tc.handler, knownFailures, knownSkips)
			if got.Line() != "1 passed, 2 failed, 2 skipped" {
				t.Errorf("line %q", got.Line())
			}
			if got.NotSelected != 2 {
				t.Errorf("not selected %d, want 2", got.NotSelected)
			}
			if len(got.UnexpectedFailures) != tc.wantUnexpected {
				t.Errorf("unexpected failures %v, want %d", got.UnexpectedFailures, tc.wantUnexpected)
			}
			if len(got.ExpectedSkips) != 1 || len(got.UnexpectedSkips) != 1 {
				t.Errorf("skips: expected %v, unexpected %v", got.ExpectedSkips, got.UnexpectedSkips)
			}
		})
	}
}

func TestSummaryCmd(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	if err := os.WriteFile(junit, []byte(sampleJUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(dir, "kf.txt")
	if err := os.WriteFile(kf, []byte("with digest  # upstream digest\nbasic operations  # test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ks := filepath.Join(dir, "ks.txt")
	if err := os.WriteFile(ks, []byte("AppArmor  # no AppArmor\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		args     []string
		wantCode int
	}{
		{desc: "all failures known", args: []string{"--known-failures", kf, "--known-skips", ks}, wantCode: exitOK},
		{desc: "strict skips", args: []string{"--known-failures", kf, "--known-skips", ks, "--strict-skips"}, wantCode: exitFail},
		{desc: "no known failures", args: nil, wantCode: exitFail},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var out bytes.Buffer
			code, err := summaryCmd(append([]string{"--junit", junit, "--handler", "cricket"}, tc.args...), &out)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tc.wantCode, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			n := len(lines)
			if lines[n-2] != "critest cricket: 1 passed, 2 failed, 2 skipped" || lines[n-1] != "1 passed, 2 failed, 2 skipped" {
				t.Errorf("summary lines:\n%s", out.String())
			}
		})
	}
}

func TestSummaryCmdMissingReport(t *testing.T) {
	var out bytes.Buffer
	code, err := summaryCmd([]string{"--junit", filepath.Join(t.TempDir(), "none.xml"), "--handler", "runc"}, &out)
	if err == nil || code != exitFail {
		t.Fatalf("got code %d err %v, want a failure", code, err)
	}
}

// TestRepoExpectationFiles keeps the checked-in lists parseable, and the
// recorded counts present for every handler run.sh knows on the host.
func TestRepoExpectationFiles(t *testing.T) {
	for _, f := range []string{"known-failures.txt", "known-skips.txt"} {
		if _, err := readExpectations(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	mins, err := readMinimums("expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cricket", "runc", "crun"} {
		if m, ok := mins[minimumKey{Context: defaultContext, Handler: h}]; !ok || m.Passed == 0 {
			t.Errorf("expected.txt records no passed count for %s on the host", h)
		}
	}
}

// discrepancyJUnit has one passing spec and one critest skipped as a
// "spec discrepancy", which known-skips.txt must not be able to excuse.
const discrepancyJUnit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="CRI validation">
    <testcase name="[It] [k8s.io] Runtime info runtime should return version info [Conformance]" status="passed"></testcase>
    <testcase name="[It] [k8s.io] NRI should have container name" status="skipped">
      <skipped message="skipped - spec discrepancy: runtime does not populate container name in NRI CreateContainer event metadata"></skipped>
    </testcase>
  </testsuite>
</testsuites>
`

func TestSummaryCmdFailsOnSpecDiscrepancy(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	ks := filepath.Join(dir, "ks.txt")
	if err := os.WriteFile(junit, []byte(discrepancyJUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ks, []byte("container name  # tries to excuse it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, strict := range []bool{false, true} {
		args := []string{"--junit", junit, "--handler", "cricket", "--known-skips", ks}
		if strict {
			args = append(args, "--strict-skips")
		}
		var out bytes.Buffer
		code, err := summaryCmd(args, &out)
		if err != nil {
			t.Fatal(err)
		}
		if code != exitFail || !strings.Contains(out.String(), "SPEC DISCREPANCIES (skips that are failures") {
			t.Errorf("strict=%v: exit %d, want %d with the discrepancy listed:\n%s", strict, code, exitFail, out.String())
		}
	}
}

func TestSummaryCmdRecordedCount(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	if err := os.WriteFile(junit, []byte(sampleJUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(dir, "kf.txt")
	if err := os.WriteFile(kf, []byte("with digest  # upstream digest\nbasic operations  # test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expected := filepath.Join(dir, "expected.txt")
	if err := os.WriteFile(expected, []byte("cricket 1\nrunc 2\n@vm cricket 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		args     []string
		wantCode int
		wantNote string
	}{
		{desc: "reaches its count", args: []string{"--handler", "cricket"}, wantCode: exitOK, wantNote: "count: 1 passed, as recorded"},
		{desc: "below its count", args: []string{"--handler", "runc"}, wantCode: exitFail, wantNote: "count: BELOW THE RECORDED COUNT"},
		{desc: "no count recorded", args: []string{"--handler", "crun"}, wantCode: exitFail, wantNote: "count: NO RECORDED COUNT"},
		{desc: "vm context", args: []string{"--handler", "cricket", "--context", "vm"}, wantCode: exitFail, wantNote: "wants at least 5"},
		{desc: "focused run", args: []string{"--handler", "runc", "--partial"}, wantCode: exitOK, wantNote: "count not checked"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{"--junit", junit, "--known-failures", kf, "--expected", expected}, tc.args...)
			code, err := summaryCmd(args, &out)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantNote) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.wantCode, tc.wantNote, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if !strings.HasPrefix(lines[len(lines)-2], "critest ") {
				t.Errorf("the summary lines are not last:\n%s", out.String())
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "gomega error", in: "Unexpected error:\n    <*fmt.wrapError | 0xc000123>: \n    validate: rpc error: code = Internal\n", want: "Unexpected error: validate: rpc error: code = Internal"},
		{desc: "long", in: strings.Repeat("x", 400), want: strings.Repeat("x", 300) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := oneLine(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
