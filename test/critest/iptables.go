package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

// The CNI bridge and portmap plugins tag every rule they add with a comment
// holding `name: "NETWORK" id: "CONTAINER"`. A run uses a network name of its
// own, so its rules are exactly those carrying that name: the daemon removes
// them on CNI DEL, and this command removes what a crashed daemon could not.

var iptablesTables = []string{"nat", "filter", "mangle"}

func iptablesCleanCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("iptables-clean", flag.ContinueOnError)
	network := fs.String("network", "", "CNI network name whose rules to remove (required)")
	dryRun := fs.Bool("dry-run", false, "print what would be removed")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if *network == "" {
		return fmt.Errorf("--network is required: %w", errUsage)
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		fmt.Fprintln(out, "iptables-clean: no iptables-save; nothing to do")
		return nil
	}
	for _, table := range iptablesTables {
		saved, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return fmt.Errorf("iptables-save -t %s: %w", table, err)
		}
		script, rules, chains := iptablesPlan(string(saved), table, *network)
		if script == "" {
			continue
		}
		fmt.Fprintf(out, "iptables-clean: table %s: %d rules and %d chains of network %s left over\n", table, rules, chains, *network)
		if *dryRun {
			fmt.Fprint(out, script)
			continue
		}
		restore := exec.Command("iptables-restore", "--noflush")
		restore.Stdin = strings.NewReader(script)
		var stderr bytes.Buffer
		restore.Stderr = &stderr
		if err := restore.Run(); err != nil {
			return fmt.Errorf("iptables-restore --noflush (table %s): %w: %s", table, err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}

var jumpTarget = regexp.MustCompile(`\s-[jg]\s+(\S+)`)

// iptablesPlan returns an iptables-restore --noflush script that deletes the
// rules of table tagged with network, and the user chains only those rules
// used; "" when there is nothing to remove.
func iptablesPlan(saved, table, network string) (script string, rules, chains int) {
	markers := []string{`name: \"` + network + `\"`, `name: "` + network + `"`}
	tagged := func(line string) bool {
		for _, m := range markers {
			if strings.Contains(line, m) {
				return true
			}
		}
		return false
	}
	userChain := map[string]bool{}
	chainRules := map[string][]string{}
	var ruleLines []string
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			fields := strings.Fields(line[1:])
			if len(fields) >= 2 && fields[1] == "-" {
				userChain[fields[0]] = true
			}
		case strings.HasPrefix(line, "-A "):
			chain := strings.Fields(line)[1]
			chainRules[chain] = append(chainRules[chain], line)
			ruleLines = append(ruleLines, line)
		}
	}
	// A user chain goes when a tagged rule jumps to it, no untagged rule
	// does, and each of its own rules is tagged.
	jumpedByTagged, jumpedByOther := map[string]bool{}, map[string]bool{}
	for _, line := range ruleLines {
		m := jumpTarget.FindStringSubmatch(line)
		if m == nil || !userChain[m[1]] {
			continue
		}
		if tagged(line) {
			jumpedByTagged[m[1]] = true
		} else {
			jumpedByOther[m[1]] = true
		}
	}
	drop := map[string]bool{}
	for chain := range jumpedByTagged {
		if jumpedByOther[chain] {
			continue
		}
		all := true
		for _, r := range chainRules[chain] {
			all = all && tagged(r)
		}
		drop[chain] = all
	}
	var b strings.Builder
	for _, line := range ruleLines {
		chain := strings.Fields(line)[1]
		if tagged(line) && !drop[chain] {
			b.WriteString("-D" + line[2:] + "\n")
			rules++
		}
	}
	var dropped []string
	for chain, ok := range drop {
		if ok {
			dropped = append(dropped, chain)
			rules += len(chainRules[chain])
		}
	}
	slices.Sort(dropped)
	for _, chain := range dropped {
		b.WriteString("-F " + chain + "\n-X " + chain + "\n")
	}
	if b.Len() == 0 {
		return "", 0, 0
	}
	return "*" + table + "\n" + b.String() + "COMMIT\n", rules, len(dropped)
}
