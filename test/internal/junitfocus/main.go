// Command junitfocus checks that every line of a focus file (ginkgo --focus
// regular expressions, one a line, as test/e2enode/smoke.txt and
// test/cluster/smoke.txt hold them) selected at least one spec that ran in
// a ginkgo JUnit report. ginkgo joins the lines with | and runs what any of
// them matches, so a line that matches nothing (a spec renamed upstream, a
// typo) would otherwise go unnoticed.
//
//	junitfocus -file smoke.txt -junit report/junit.xml
//
// It prints each line with the number of specs it selected and exits 1 if
// one selected none. With -join it prints the lines joined with | instead,
// the focus to hand to ginkgo.
package main

import (
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

func main() {
	file := flag.String("file", "", "focus file: one regular expression a line; # comments and blank lines are ignored")
	junit := flag.String("junit", "", "ginkgo JUnit report of the run")
	join := flag.Bool("join", false, "print the lines joined with | and exit")
	flag.Parse()
	if *file == "" || (*junit == "" && !*join) {
		fmt.Fprintln(os.Stderr, "usage: junitfocus -file FOCUS_FILE (-junit REPORT | -join)")
		os.Exit(2)
	}
	lines, err := readFocus(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "junitfocus:", err)
		os.Exit(2)
	}
	if *join {
		fmt.Println(strings.Join(lines, "|"))
		return
	}
	f, err := os.Open(*junit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "junitfocus:", err)
		os.Exit(2)
	}
	defer f.Close()
	ran, err := specsRun(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "junitfocus: %s: %v\n", *junit, err)
		os.Exit(2)
	}
	counts, err := matchCounts(lines, ran)
	if err != nil {
		fmt.Fprintln(os.Stderr, "junitfocus:", err)
		os.Exit(2)
	}
	missing := 0
	for i, l := range lines {
		fmt.Printf("%3d  %s\n", counts[i], l)
		if counts[i] == 0 {
			missing++
		}
	}
	if missing > 0 {
		fmt.Fprintf(os.Stderr, "junitfocus: %d focus line(s) of %s selected no spec that ran\n", missing, *file)
		os.Exit(1)
	}
}

// readFocus returns the focus file's expressions, each checked to compile.
func readFocus(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := regexp.Compile(l); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, l, err)
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no focus lines", path)
	}
	return lines, nil
}

type report struct {
	Suites []struct {
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Status  string    `xml:"status,attr"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// specsRun lists the names of the report's specs that ran: passed or
// failed, not skipped (ginkgo reports the specs its focus left out as
// skipped) and not the suite's setup nodes.
func specsRun(r io.Reader) ([]string, error) {
	var rep report
	if err := xml.NewDecoder(r).Decode(&rep); err != nil {
		return nil, err
	}
	var names []string
	for _, s := range rep.Suites {
		for _, c := range s.Cases {
			if c.Skipped != nil || c.Status == "skipped" || c.Status == "pending" || !strings.HasPrefix(c.Name, "[It] ") {
				continue
			}
			names = append(names, strings.TrimPrefix(c.Name, "[It] "))
		}
	}
	return names, nil
}

// matchCounts counts, for each focus line, the specs that ran whose full
// text it matches, as ginkgo's --focus matches it.
func matchCounts(lines, ran []string) ([]int, error) {
	counts := make([]int, len(lines))
	for i, l := range lines {
		re, err := regexp.Compile(l)
		if err != nil {
			return nil, err
		}
		for _, n := range ran {
			if re.MatchString(n) {
				counts[i]++
			}
		}
	}
	return counts, nil
}
