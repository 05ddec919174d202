package main

import (
	"bufio"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// junitReport is the part of ginkgo's JUnit report the summary reads.
type junitReport struct {
	Suites []struct {
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitCase struct {
	Name    string `xml:"name,attr"`
	Status  string `xml:"status,attr"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	Failure *struct {
		Message string `xml:"message,attr"`
	} `xml:"failure"`
	Error *struct {
		Message string `xml:"message,attr"`
	} `xml:"error"`
}

// outcome is what one JUnit test case means for the summary.
type outcome int

const (
	passed      outcome = iota
	failed              // failed, timed out, panicked, interrupted, aborted
	skipped             // skipped at run time, with a reason (Skip(...))
	notSelected         // filtered out by focus/skip, or pending
	setupPassed         // a passing suite-level node: not a spec
)

// spec is one test case of the report.
type spec struct {
	Name    string // full spec text, without ginkgo's "[It] " prefix
	Outcome outcome
	Reason  string // skip reason or failure message
}

// parseJUnit reads a ginkgo JUnit report.
func parseJUnit(r io.Reader) ([]spec, error) {
	var rep junitReport
	if err := xml.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("decode JUnit report: %w", err)
	}
	var specs []spec
	for _, s := range rep.Suites {
		for _, c := range s.Cases {
			specs = append(specs, classify(c))
		}
	}
	return specs, nil
}

// classify maps a test case onto an outcome. Ginkgo names spec cases
// "[It] TEXT"; other leaf types ([BeforeSuite], [SynchronizedBeforeSuite],
// [ReportAfterSuite], ...) are suite setup: they only count when they fail,
// since then no spec could run properly.
func classify(c junitCase) spec {
	name, isSpec := strings.CutPrefix(c.Name, "[It] ")
	s := spec{Name: name}
	switch c.Status {
	case "passed":
		s.Outcome = passed
		if !isSpec {
			s.Outcome = setupPassed
		}
	case "skipped":
		msg := ""
		if c.Skipped != nil {
			msg = c.Skipped.Message
		}
		// Ginkgo writes "skipped" for a spec it never selected and
		// "skipped - REASON" for one that called Skip(REASON).
		if reason, ok := strings.CutPrefix(msg, "skipped - "); ok {
			s.Outcome, s.Reason = skipped, reason
		} else {
			s.Outcome = notSelected
		}
	case "pending":
		s.Outcome = notSelected
	default:
		s.Outcome = failed
		switch {
		case c.Failure != nil:
			s.Reason = c.Failure.Message
		case c.Error != nil:
			s.Reason = c.Error.Message
		default:
			s.Reason = c.Status
		}
	}
	return s
}

// expectation is one line of known-failures.txt or known-skips.txt:
//
//	[@handler[,handler...]] REGEX  # reason
//
// REGEX is matched against the spec name (and, for skips, the skip reason);
// the reason is required so that every entry says why it is there.
type expectation struct {
	Handlers []string // empty: every handler
	Pattern  *regexp.Regexp
	Reason   string
	Line     int
}

// reasonSep separates a pattern from its reason: whitespace, then '#'.
var reasonSep = regexp.MustCompile(`\s+#\s*`)

func parseExpectations(r io.Reader, file string) ([]expectation, error) {
	var exps []expectation
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e := expectation{Line: n}
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			tag, after, _ := strings.Cut(rest, " ")
			e.Handlers = strings.Split(tag, ",")
			line = strings.TrimSpace(after)
		}
		loc := reasonSep.FindStringIndex(line)
		if loc == nil {
			errs = append(errs, fmt.Errorf("%s:%d: no reason: write `REGEX  # why it cannot pass`", file, n))
			continue
		}
		e.Reason = strings.TrimSpace(line[loc[1]:])
		re, err := regexp.Compile(strings.TrimSpace(line[:loc[0]]))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, n, err))
			continue
		}
		e.Pattern = re
		exps = append(exps, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", file, err))
	}
	return exps, errors.Join(errs...)
}

func readExpectations(path string) ([]expectation, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	return parseExpectations(f, path)
}

// match returns the first expectation for handler that matches one of texts.
func match(exps []expectation, handler string, texts ...string) *expectation {
	for i, e := range exps {
		if len(e.Handlers) > 0 && !slices.Contains(e.Handlers, handler) {
			continue
		}
		for _, t := range texts {
			if t != "" && e.Pattern.MatchString(t) {
				return &exps[i]
			}
		}
	}
	return nil
}

// tally is the result of one handler's run.
type tally struct {
	Passed, Failed, Skipped, NotSelected int
	UnexpectedFailures                   []spec
	ExpectedFailures                     []spec
	UnexpectedSkips                      []spec
	ExpectedSkips                        []spec
	DiscrepancySkips                     []spec
	KnownFailuresPassed                  []spec
}

func count(specs []spec, handler string, knownFailures, knownSkips []expectation) tally {
	var t tally
	for _, s := range specs {
		switch s.Outcome {
		case passed:
			t.Passed++
			if match(knownFailures, handler, s.Name) != nil {
				t.KnownFailuresPassed = append(t.KnownFailuresPassed, s)
			}
		case failed:
			t.Failed++
			if match(knownFailures, handler, s.Name) != nil {
				t.ExpectedFailures = append(t.ExpectedFailures, s)
			} else {
				t.UnexpectedFailures = append(t.UnexpectedFailures, s)
			}
		case skipped:
			t.Skipped++
			if isDiscrepancy(s.Reason) {
				t.DiscrepancySkips = append(t.DiscrepancySkips, s)
			} else if match(knownSkips, handler, s.Name, s.Reason) != nil {
				t.ExpectedSkips = append(t.ExpectedSkips, s)
			} else {
				t.UnexpectedSkips = append(t.UnexpectedSkips, s)
			}
		case notSelected:
			t.NotSelected++
		}
	}
	return t
}

// isDiscrepancy says whether critest skipped a spec because the runtime
// under test departs from the CRI ("spec discrepancy: ..."): critest skips
// them so that containerd's known bugs do not fail its own CI, but for
// Cricket each is a bug to fix, never a known skip.
func isDiscrepancy(reason string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(reason)), "spec discrepancy")
}

// Line is the summary line without the handler: "N passed, N failed, N skipped".
func (t tally) Line() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", t.Passed, t.Failed, t.Skipped)
}

// write prints the lists, then countNote (the verdict on the recorded
// count, when there is one), then the two summary lines last: run.sh and
// CI read them from the end.
func (t tally) write(out io.Writer, handler string, strictSkips bool, countNote string) {
	list := func(title string, specs []spec) {
		if len(specs) == 0 {
			return
		}
		fmt.Fprintf(out, "%s (%d):\n", title, len(specs))
		for _, s := range specs {
			if s.Reason != "" {
				fmt.Fprintf(out, "  %s\n      %s\n", s.Name, oneLine(s.Reason))
			} else {
				fmt.Fprintf(out, "  %s\n", s.Name)
			}
		}
	}
	list("expected failures (known-failures.txt)", t.ExpectedFailures)
	list("expected skips (known-skips.txt)", t.ExpectedSkips)
	list("known failures that passed: remove them from known-failures.txt", t.KnownFailuresPassed)
	skipTitle := "unexpected skips (a warning; --strict-skips makes them fail the run)"
	if strictSkips {
		skipTitle = "UNEXPECTED SKIPS"
	}
	list(skipTitle, t.UnexpectedSkips)
	list("SPEC DISCREPANCIES (skips that are failures: the runtime departs from the CRI)", t.DiscrepancySkips)
	list("UNEXPECTED FAILURES", t.UnexpectedFailures)
	if t.NotSelected > 0 {
		fmt.Fprintf(out, "(%d specs not selected by --ginkgo.focus/--ginkgo.skip)\n", t.NotSelected)
	}
	if countNote != "" {
		fmt.Fprintf(out, "count: %s\n", countNote)
	}
	fmt.Fprintf(out, "critest %s: %s\n%s\n", handler, t.Line(), t.Line())
}

// oneLine flattens a (gomega, multi-line) message into one line of at most
// 300 bytes: enough to show the gRPC error under "Unexpected error:".
func oneLine(s string) string {
	line := gomegaTypeTag.ReplaceAllString(strings.Join(strings.Fields(s), " "), "")
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}

// gomegaTypeTag matches the "<*status.Error | 0xc0001234>: " gomega puts
// before an error's text.
var gomegaTypeTag = regexp.MustCompile(`<\*?[\w.]+ \| 0x[0-9a-f]+>:? ?`)

// summaryOptions are the summary command's flags.
type summaryOptions struct {
	junit, handler            string
	knownFailures, knownSkips string
	expected, context         string
	strictSkips, partial      bool
}

func parseSummaryFlags(args []string) (summaryOptions, error) {
	var o summaryOptions
	fs := flag.NewFlagSet("summary", flag.ContinueOnError)
	fs.StringVar(&o.junit, "junit", "", "ginkgo JUnit report (required)")
	fs.StringVar(&o.handler, "handler", "", "runtime handler the run used (required)")
	fs.StringVar(&o.knownFailures, "known-failures", "", "known-failures.txt")
	fs.StringVar(&o.knownSkips, "known-skips", "", "known-skips.txt")
	fs.BoolVar(&o.strictSkips, "strict-skips", false, "fail on skips that known-skips.txt does not list")
	fs.StringVar(&o.expected, "expected", "", "expected.txt: the fewest passed specs per handler and context; a full run below it fails")
	fs.StringVar(&o.context, "context", defaultContext, "the machine the run is on, for --expected (host, vm)")
	fs.BoolVar(&o.partial, "partial", false, "the run was focused (--focus/--skip): --expected is not enforced")
	if err := parse(fs, args, nil); err != nil {
		return o, err
	}
	if o.junit == "" || o.handler == "" {
		return o, fmt.Errorf("--junit and --handler are required: %w", errUsage)
	}
	return o, nil
}

func summaryCmd(args []string, out io.Writer) (int, error) {
	o, err := parseSummaryFlags(args)
	if err != nil {
		return exitUsage, err
	}
	knownFailures, err := readExpectations(o.knownFailures)
	if err != nil {
		return exitFail, err
	}
	knownSkips, err := readExpectations(o.knownSkips)
	if err != nil {
		return exitFail, err
	}
	var mins map[minimumKey]minimum
	if o.expected != "" {
		if mins, err = readMinimums(o.expected); err != nil {
			return exitFail, err
		}
	}
	f, err := os.Open(o.junit)
	if err != nil {
		return exitFail, fmt.Errorf("critest wrote no JUnit report: %w", err)
	}
	defer f.Close()
	specs, err := parseJUnit(f)
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", o.junit, err)
	}
	t := count(specs, o.handler, knownFailures, knownSkips)
	c := countCheck{OK: true}
	if o.expected != "" {
		c = checkCount(mins, o.expected, o.context, o.handler, t.Passed, o.partial)
	}
	t.write(out, o.handler, o.strictSkips, c.Message)
	switch {
	case len(t.UnexpectedFailures) > 0, len(t.DiscrepancySkips) > 0, !c.OK:
		return exitFail, nil
	case o.strictSkips && len(t.UnexpectedSkips) > 0:
		return exitFail, nil
	case t.Passed+t.Failed+t.Skipped == 0:
		return exitFail, errors.New("the report holds no spec that ran")
	}
	return exitOK, nil
}
