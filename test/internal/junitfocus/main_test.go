package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A ginkgo v2 JUnit report as e2e_node.test writes it (abridged): setup
// nodes, specs that ran, and specs the focus left out, reported skipped.
const sampleReport = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" disabled="0" errors="0" failures="1" time="12.5">
  <testsuite name="E2eNode Suite" package="/x" tests="4" disabled="0" skipped="1" errors="0" failures="1" time="12.5">
    <testcase name="[SynchronizedBeforeSuite]" classname="E2eNode Suite" status="passed" time="1"></testcase>
    <testcase name="[It] [sig-node] Probing container should be restarted with a exec &#34;cat /tmp/health&#34; liveness probe [NodeConformance] [Conformance]" classname="E2eNode Suite" status="passed" time="5"></testcase>
    <testcase name="[It] [sig-node] Secrets should be consumable via the environment [NodeConformance] [Conformance]" classname="E2eNode Suite" status="failed" time="3"><failure message="x" type="failed"></failure></testcase>
    <testcase name="[It] [sig-node] Kubelet when scheduling a busybox command in a pod should print the output to logs [NodeConformance] [Conformance]" classname="E2eNode Suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>`

func TestMatchCounts(t *testing.T) {
	ran, err := specsRun(strings.NewReader(sampleReport))
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 {
		t.Fatalf("specs that ran: %q, want the probe and the Secrets spec (a failed spec ran; setup nodes and skipped specs did not)", ran)
	}
	for _, tc := range []struct {
		desc  string
		lines []string
		want  []int
	}{
		{desc: "quotes are unescaped", lines: []string{`Probing container should be restarted with a exec "cat /tmp/health" liveness probe`}, want: []int{1}},
		{desc: "a failed spec counts as run", lines: []string{`Secrets should be consumable via the environment`}, want: []int{1}},
		{desc: "a skipped spec does not", lines: []string{`should print the output to logs`}, want: []int{0}},
		{desc: "a renamed spec matches nothing", lines: []string{`should print it's output to logs`}, want: []int{0}},
		{desc: "one line may select several", lines: []string{`\[NodeConformance\]`}, want: []int{2}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := matchCounts(tc.lines, ran)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("counts %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadFocus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("# comment\n\nA b\n  C \\(d\\)  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := readFocus(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A b", `C \(d\)`}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("ok\nbroken (\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readFocus(bad); err == nil || !strings.Contains(err.Error(), "broken (") {
		t.Errorf("a line that does not compile: error %v, want one naming it", err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("# only a comment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readFocus(empty); err == nil {
		t.Error("a file with no focus line was accepted")
	}
}
