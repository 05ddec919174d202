package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// defaultContext is the machine a count line without an @tag is for: the
// development and CI host. Other contexts (test/vm's "vm") tag their lines.
const defaultContext = "host"

// minimumKey names one recorded count: a handler in a context.
type minimumKey struct{ Context, Handler string }

// minimum is one line of expected.txt:
//
//	[@context] handler passed  [# note]
//
// the fewest specs that must pass on a full run of handler in context.
type minimum struct {
	Passed int
	Line   int
}

// parseMinimums reads expected.txt. A handler may appear once per context.
func parseMinimums(r io.Reader, file string) (map[minimumKey]minimum, error) {
	mins := map[minimumKey]minimum{}
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		ctx := defaultContext
		if tag, ok := strings.CutPrefix(fields[0], "@"); ok {
			ctx, fields = tag, fields[1:]
		}
		if len(fields) != 2 || ctx == "" {
			errs = append(errs, fmt.Errorf("%s:%d: want `[@context] handler passed`, got %q", file, n, strings.TrimSpace(line)))
			continue
		}
		passed, err := strconv.Atoi(fields[1])
		if err != nil || passed < 0 {
			errs = append(errs, fmt.Errorf("%s:%d: passed count %q is not a non-negative number", file, n, fields[1]))
			continue
		}
		k := minimumKey{Context: ctx, Handler: fields[0]}
		if prev, ok := mins[k]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: %s in context %s is already recorded on line %d", file, n, k.Handler, k.Context, prev.Line))
			continue
		}
		mins[k] = minimum{Passed: passed, Line: n}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", file, err))
	}
	return mins, errors.Join(errs...)
}

func readMinimums(path string) (map[minimumKey]minimum, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	return parseMinimums(f, path)
}

// countCheck is the verdict on a run's passed count.
type countCheck struct {
	OK      bool
	Message string
}

// checkCount holds a full run to its recorded count: fewer passed specs
// than recorded fails (a feature regressed into a skip or a failure), and
// so does a handler with no count for the context. A partial run (focus or
// skip) is not held to it.
func checkCount(mins map[minimumKey]minimum, file, context, handler string, passed int, partial bool) countCheck {
	if partial {
		return countCheck{OK: true, Message: "count not checked: a focused run (--focus/--skip) does not run every spec"}
	}
	m, ok := mins[minimumKey{Context: context, Handler: handler}]
	switch {
	case !ok:
		return countCheck{Message: fmt.Sprintf("NO RECORDED COUNT for %s in context %s: add `%s %d` to %s once the run is right", handler, context, tagged(context, handler), passed, file)}
	case passed < m.Passed:
		return countCheck{Message: fmt.Sprintf("BELOW THE RECORDED COUNT: %d passed, %s:%d wants at least %d for %s in context %s", passed, file, m.Line, m.Passed, handler, context)}
	case passed > m.Passed:
		return countCheck{OK: true, Message: fmt.Sprintf("%d passed, more than the %d recorded in %s:%d: raise it", passed, m.Passed, file, m.Line)}
	}
	return countCheck{OK: true, Message: fmt.Sprintf("%d passed, as recorded in %s:%d", passed, file, m.Line)}
}

func tagged(context, handler string) string {
	if context == defaultContext {
		return handler
	}
	return "@" + context + " " + handler
}
