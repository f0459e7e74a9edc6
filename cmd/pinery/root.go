package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	_ "github.com/pinery/pinery/modules/all" // every resource type registers itself
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// globals are the flags every command shares.
type globals struct {
	inventory   string
	limit       string
	shard       string // "I/N" of --shard
	vars        []string
	varFiles    []string
	ageIDs      []string
	carried     map[string]cty.Value // pull: the outputs of other hosts its bundle carries
	parallelism int
	hostTimeout time.Duration
	stats       bool
	become      becomeFlags
	jsonEvents  bool // apply --json: JSON lines instead of text
	rollout     rolloutFlags
	state       stateFlags
	site        string // the site directory of the run
	tally       *tally // what an apply has done, for an interrupt's report (interrupt.go)
	noColor     bool
	live        *liveDisplay // apply's status area on a terminal (progress.go)
	stdout      io.Writer
	stderr      io.Writer
	stdin       io.Reader
}

func run(args []string) int {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}
	root := newRoot(g)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(g.stderr, "Error:", err)
		return 1
	}
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "pinery",
		Short: "Agentless configuration management for fleets of small boards",
		Long: `pinery reads HCL states and an HCL inventory, connects to each host over SSH,
shows what would change (plan) and changes exactly that (apply).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// The environment's default is read here, not as the flag's default,
		// so that the generated reference does not depend on who built it.
		PersistentPreRun: func(*cobra.Command, []string) {
			if g.inventory == "" {
				g.inventory = os.Getenv("PINERY_INVENTORY")
			}
		},
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.inventory, "inventory", "i", "", "inventory file (default $PINERY_INVENTORY)")
	pf.StringVarP(&g.limit, "limit", "l", "", "select hosts: names, groups, globs; ! excludes, & intersects (e.g. 'web,!h3')")
	pf.StringVar(&g.shard, "shard", "", "only the I-th of N stable slices of the selected hosts, for a CI matrix of N runners (e.g. 2/4)")
	pf.BoolVar(&g.noColor, "no-color", false, "plain output without colours (also NO_COLOR=1)")
	root.AddCommand(
		newValidateCmd(g), newFmtCmd(g), newPlanCmd(g), newApplyCmd(g), newFactsCmd(g), newVersionCmd(g), newDocsCmd(g),
		newSecretsCmd(g), newUnlockCmd(g), newRunCmd(g), newHostsCmd(g),
		newGraphCmd(g), newInventoryCmd(g),
		newRepoCmd(g),
		newHistoryCmd(g),
		newBundleCmd(g), newPullCmd(g), newStatusCmd(g),
		newPowerCmd(g),
	)
	return root
}

// addRunFlags adds the flags of commands that evaluate a site.
func addRunFlags(cmd *cobra.Command, g *globals) {
	addVarFlags(cmd, g)
	f := cmd.Flags()
	f.IntVar(&g.parallelism, "parallelism", 64, "hosts handled at once")
	f.DurationVar(&g.hostTimeout, "host-timeout", 0, "fail a host whose plan, or whose apply, takes longer than this (e.g. 15m), ending its command; default: no limit")
	f.BoolVar(&g.stats, "stats", false, "print SSH connections and command sessions per host to stderr")
	f.BoolVarP(&g.become.ask, "ask-become-pass", "K", false, "ask once, on the terminal, for the sudo password of the hosts with become_password = true (else $"+becomeEnv+")")
	f.StringVar(&g.become.file, "become-password-file", "", "read the sudo password of the hosts with become_password = true from the first line of FILE")
}

// addVarFlags adds the flags that give variables' values.
func addVarFlags(cmd *cobra.Command, g *globals) {
	f := cmd.Flags()
	f.StringArrayVar(&g.vars, "var", nil, "set a variable: --var name=value (repeatable)")
	f.StringArrayVar(&g.varFiles, "var-file", nil, "read variables from an HCL file, age-encrypted when it ends in .age (repeatable)")
	f.StringArrayVar(&g.ageIDs, "age-identity", nil, "age identity file that decrypts encrypted var files (repeatable; default $PINERY_AGE_IDENTITY_FILE, ~/.config/pinery/age/keys.txt)")
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  pinery version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(g.stdout, "pinery %s (commit %s, built %s)\n", version, commit, date)
			return nil
		},
	}
}
