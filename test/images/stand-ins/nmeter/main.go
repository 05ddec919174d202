// Command nmeter stands in for busybox's nmeter applet, which Debian's
// busybox lacks, for the one use Kubernetes' e2e suites make of it: the
// wall-clock time with a fraction of a second, which busybox's date cannot
// print,
//
//	date -u +%FT$(nmeter -d0 '%3t' | head -n1)Z
//
// nmeter [-d MSEC] FORMAT prints FORMAT every MSEC milliseconds (default
// 1000; 0: again at once) until its output goes away, as the applet does.
// FORMAT is text with %[N]t (the local time, HH:MM:SS and N digits, 0-6, of
// the second's fraction); any other % item is refused. It is a compiled
// program, not a script, because the suites stamp every line of their
// lifecycle containers with it, the first before the container's TERM trap
// is set: a slow stamp widens the window in which a TERM is lost.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	delay, format, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "nmeter:", err)
		fmt.Fprintln(os.Stderr, "usage: nmeter [-d MSEC] '%[N]t' (test-image stand-in: the time format only)")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		if _, err := w.WriteString(render(format, time.Now()) + "\n"); err != nil {
			os.Exit(0)
		}
		if err := w.Flush(); err != nil {
			os.Exit(0) // the reader went away (head -n1)
		}
		time.Sleep(delay)
	}
}

// item is a piece of a format: literal text, or the time with digits of
// fraction (digits >= 0).
type item struct {
	text   string
	digits int
}

func parseArgs(args []string) (time.Duration, []item, error) {
	delay := time.Second
	for len(args) > 1 {
		var v string
		switch {
		case args[0] == "-d":
			v, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "-d"):
			v, args = args[0][2:], args[1:]
		default:
			return 0, nil, fmt.Errorf("unknown option %q", args[0])
		}
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return 0, nil, fmt.Errorf("bad -d %q", v)
		}
		delay = time.Duration(ms) * time.Millisecond
	}
	if len(args) != 1 {
		return 0, nil, fmt.Errorf("one FORMAT expected")
	}
	format, err := parseFormat(args[0])
	return delay, format, err
}

func parseFormat(s string) ([]item, error) {
	var out []item
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			out = append(out, item{text: s, digits: -1})
			break
		}
		if i > 0 {
			out = append(out, item{text: s[:i], digits: -1})
		}
		s = s[i+1:]
		digits := 0
		if s != "" && s[0] >= '0' && s[0] <= '6' {
			digits, s = int(s[0]-'0'), s[1:]
		}
		if s == "" || s[0] != 't' {
			return nil, fmt.Errorf("only %%[N]t is supported, not %%%s", s)
		}
		out = append(out, item{digits: digits})
		s = s[1:]
	}
	return out, nil
}

func render(format []item, now time.Time) string {
	var b strings.Builder
	for _, it := range format {
		if it.digits < 0 {
			b.WriteString(it.text)
			continue
		}
		b.WriteString(now.Format("15:04:05"))
		if it.digits > 0 {
			frac := fmt.Sprintf("%06d", now.Nanosecond()/1000)
			b.WriteString("." + frac[:it.digits])
		}
	}
	return b.String()
}
