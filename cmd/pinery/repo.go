package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	aptrepo "github.com/pinery/pinery/modules/apt_repo"
)

func newRepoCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Build and publish a signed apt repository in a directory",
		Long: `repo manages a Debian (apt) repository in a directory on this machine, for
people who publish packages by hand or from CI; serve the directory with any
web server. The apt_repo resource publishes the same layout to a repo host.

Packages live in pool/; every publish makes an immutable snapshot
(snapshots/ID/dists/SUITE, signed) and switches dists/SUITE to it with one
rename, so clients running apt-get update meanwhile never see a mix. A client
can pin a snapshot with URIs: http://HOST/PATH/snapshots/ID. The repository's
public key is DIR/pubkey.asc (for Signed-By); the secret key never enters DIR.

A passphrase-protected signing key is unlocked with the passphrase in
$` + aptrepo.PassphraseEnv + ` (never a flag, never printed).`,
	}
	cmd.AddCommand(newRepoInitCmd(g), newRepoAddCmd(g), newRepoRemoveCmd(g), newRepoPublishCmd(g),
		newRepoListCmd(g), newRepoSnapshotsCmd(g), newRepoVerifyCmd(g))
	return cmd
}

// repoSettings are the flags that set a repository's Release fields.
type repoSettings struct {
	archs         []string
	origin, label string
}

func (s *repoSettings) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&s.archs, "arch", aptrepo.DefaultArchitectures, "architectures the repository has indexes for (comma-separated or repeated)")
	f.StringVar(&s.origin, "origin", "pinery", "Origin of the Release file (what apt pinning matches with o=)")
	f.StringVar(&s.label, "label", "", "Label of the Release file (default: the origin)")
}

func (s *repoSettings) settings() aptrepo.Settings {
	return aptrepo.Settings{Origin: s.origin, Label: s.label, Architectures: s.archs}
}

// changed reports whether any setting was given on the command line.
func (s *repoSettings) changed(cmd *cobra.Command) bool {
	f := cmd.Flags()
	return f.Changed("arch") || f.Changed("origin") || f.Changed("label")
}

// repoFail renders an error like pinery's other errors and exits 1.
func repoFail(g *globals, summary string, err error) error {
	g.writeDiags(errorDiag(summary, err.Error()))
	return exitError{1}
}

func readSigningKey(g *globals, file string) (*aptrepo.Key, error) {
	if file == "" {
		return nil, repoFail(g, "No signing key", fmt.Errorf("give --signing-key KEY.asc, an ASCII-armoured OpenPGP secret key (gpg --export-secret-keys --armor KEYID)"))
	}
	k, err := aptrepo.ReadKeyFile(file)
	if err != nil {
		return nil, repoFail(g, "Cannot use the signing key", err)
	}
	return k, nil
}

func newRepoInitCmd(g *globals) *cobra.Command {
	var keyFile string
	var s repoSettings
	cmd := &cobra.Command{
		Use:   "init DIR --signing-key KEY.asc",
		Short: "Create an empty repository",
		Long: `init creates the repository's directories and database (pinery-repo.json) in
DIR and writes the signing key's public key to DIR/pubkey.asc. Only that key
may sign the repository from then on. publish creates a repository too, with
the default settings, when DIR has none.`,
		Example: `  pinery repo init /srv/apt --signing-key release.asc
  pinery repo init /srv/apt --signing-key release.asc --arch arm64,amd64 --origin example --label "Example boards"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var key *aptrepo.Key
			if keyFile != "" {
				var err error
				if key, err = readSigningKey(g, keyFile); err != nil {
					return err
				}
			}
			r, err := aptrepo.Create(args[0], s.settings(), key)
			if err != nil {
				return repoFail(g, "Cannot create the repository", err)
			}
			defer r.Close()
			fmt.Fprintf(g.stdout, "Created the repository in %s (architectures %s).\n", args[0], strings.Join(r.Settings().Architectures, ", "))
			if key != nil {
				fmt.Fprintf(g.stdout, "Its public key is %s (key %s).\n", filepath.Join(args[0], "pubkey.asc"), key.Fingerprint())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "signing-key", "", "ASCII-armoured OpenPGP secret key that signs the repository")
	s.add(cmd)
	return cmd
}

// readDebs reads every .deb before the repository is touched, so that a
// bad file changes nothing.
func readDebs(g *globals, files []string) ([]*aptrepo.Package, error) {
	var debs []*aptrepo.Package
	for _, f := range files {
		p, err := aptrepo.ReadDebFile(f)
		if err != nil {
			return nil, repoFail(g, "Cannot add "+f, err)
		}
		debs = append(debs, p)
	}
	return debs, nil
}

// addDebs adds packages to suite/component and says what each did.
func addDebs(g *globals, r *aptrepo.Repo, suite, comp string, debs []*aptrepo.Package, replace bool) error {
	for _, d := range debs {
		res, err := r.Add(suite, comp, d, replace)
		if err != nil {
			return repoFail(g, "Cannot add "+d.String(), err)
		}
		switch {
		case res.Same:
			fmt.Fprintf(g.stdout, "%s is in %s/%s already.\n", res.Package, suite, comp)
		case res.Replaced != nil:
			fmt.Fprintf(g.stdout, "Replaced %s with %s in %s/%s.\n", res.Replaced, res.Package, suite, comp)
		default:
			fmt.Fprintf(g.stdout, "Added %s to %s/%s.\n", res.Package, suite, comp)
		}
	}
	return nil
}

func newRepoAddCmd(g *globals) *cobra.Command {
	var suite, comp string
	var replace bool
	cmd := &cobra.Command{
		Use:   "add DIR --suite SUITE [--component COMPONENT] FILE.deb...",
		Short: "Add .deb files to a suite, to be published by the next publish",
		Long: `add copies .deb files into the pool and lists them in SUITE/COMPONENT from the
next publish on. A suite holds one version of a package per architecture: a
new version replaces the one there. A different file with the same name,
version and architecture is refused unless --replace is given (clients that
have that version installed will not notice the change).`,
		Example: `  pinery repo add /srv/apt --suite stable dist/*.deb
  pinery repo add /srv/apt --suite testing --component contrib moosefs-client_4.56.6-1_arm64.deb`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			debs, err := readDebs(g, args[1:])
			if err != nil {
				return err
			}
			r, err := aptrepo.Open(args[0])
			if err != nil {
				return repoFail(g, "Cannot open the repository", err)
			}
			defer r.Close()
			return addDebs(g, r, suite, comp, debs, replace)
		},
	}
	f := cmd.Flags()
	f.StringVar(&suite, "suite", "", "suite to add to (stable, bookworm, ...)")
	f.StringVar(&comp, "component", "main", "component of the suite")
	f.BoolVar(&replace, "replace", false, "replace a different file of the same name, version and architecture")
	cmd.MarkFlagRequired("suite")
	return cmd
}

func newRepoRemoveCmd(g *globals) *cobra.Command {
	var suite, comp string
	cmd := &cobra.Command{
		Use:   "remove DIR --suite SUITE [--component COMPONENT] NAME[/ARCH]...",
		Short: "Remove packages from a suite, from the next publish on",
		Long: `remove drops packages (every architecture, or the one after /) from
SUITE/COMPONENT. Published snapshots keep them; their pool files go once no
kept snapshot lists them.`,
		Example: `  pinery repo remove /srv/apt --suite stable hello
  pinery repo remove /srv/apt --suite stable hello/armhf`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := aptrepo.Open(args[0])
			if err != nil {
				return repoFail(g, "Cannot open the repository", err)
			}
			defer r.Close()
			for _, a := range args[1:] {
				name, arch, _ := strings.Cut(a, "/")
				removed, err := r.Remove(suite, comp, name, arch)
				if err != nil {
					return repoFail(g, "Cannot remove "+a, err)
				}
				for _, p := range removed {
					fmt.Fprintf(g.stdout, "Removed %s from %s/%s.\n", p, suite, comp)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&suite, "suite", "", "suite to remove from")
	f.StringVar(&comp, "component", "main", "component of the suite")
	cmd.MarkFlagRequired("suite")
	return cmd
}

func newRepoPublishCmd(g *globals) *cobra.Command {
	var suite, comp, keyFile, validFor string
	var replace bool
	var keep int
	var s repoSettings
	cmd := &cobra.Command{
		Use:   "publish DIR --suite SUITE --signing-key KEY.asc [FILE.deb...]",
		Short: "Add .deb files and publish a new signed snapshot of a suite",
		Long: `publish adds the given .deb files to SUITE/COMPONENT (as add does), then
publishes the suite: Packages indexes for every architecture, a Release file
signed as InRelease and Release.gpg, by-hash copies, all in a new snapshot that
dists/SUITE then points to. DIR and its repository are created when missing,
and DIR/pubkey.asc holds the public key.

When the suite would list exactly what it lists now, nothing is published.
With --valid-for, Release carries Valid-Until and apt refuses it once that
passes: publish again (from cron, say) before then; an unchanged suite is
signed again once half the time has passed.

The oldest snapshots of the suite beyond --keep are removed, never one a
suite points to, and so are pool files no remaining snapshot lists.`,
		Example: `  pinery repo publish /srv/apt --suite stable --component main --signing-key release.asc dist/*.deb
  PINERY_SIGNING_PASSPHRASE=... pinery repo publish /srv/apt --suite stable --signing-key release.asc --valid-for 14d`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			var valid time.Duration
			if validFor != "" {
				var err error
				if valid, err = aptrepo.ParseValidFor(validFor); err != nil {
					return repoFail(g, "Invalid --valid-for", err)
				}
			}
			key, err := readSigningKey(g, keyFile)
			if err != nil {
				return err
			}
			if err := key.Check(time.Now()); err != nil {
				return repoFail(g, "Cannot use the signing key", err)
			}
			debs, err := readDebs(g, args[1:])
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return repoFail(g, "Cannot create the repository", err)
			}
			r, created, err := aptrepo.OpenOrCreate(dir, s.settings(), key)
			if err != nil {
				return repoFail(g, "Cannot open the repository", err)
			}
			defer r.Close()
			if created {
				fmt.Fprintf(g.stdout, "Created the repository in %s (architectures %s).\n", dir, strings.Join(r.Settings().Architectures, ", "))
			} else if s.changed(cmd) {
				if err := r.SetSettings(s.settings()); err != nil {
					return repoFail(g, "Cannot change the repository's settings", err)
				}
			}
			if err := addDebs(g, r, suite, comp, debs, replace); err != nil {
				return err
			}
			res, err := r.Publish(suite, key, aptrepo.PublishOptions{Keep: keep, ValidFor: valid, Components: []string{comp}})
			if err != nil {
				return repoFail(g, "Cannot publish "+suite, err)
			}
			if res.Unchanged {
				fmt.Fprintf(g.stdout, "%s is unchanged (snapshot %s): nothing to publish.\n", suite, res.Snapshot)
				return nil
			}
			fmt.Fprintf(g.stdout, "Published %s: snapshot %s, %s.\n", suite, res.Snapshot, plural(res.Packages, "package", "packages"))
			if len(res.Pruned) > 0 || len(res.PoolFreed) > 0 {
				fmt.Fprintf(g.stdout, "Removed %s and %s.\n", plural(len(res.Pruned), "old snapshot", "old snapshots"), plural(len(res.PoolFreed), "unused pool file", "unused pool files"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&suite, "suite", "", "suite to publish (stable, bookworm, ...)")
	f.StringVar(&comp, "component", "main", "component the files go to (and that is listed even when empty)")
	f.StringVar(&keyFile, "signing-key", "", "ASCII-armoured OpenPGP secret key; a protected one is unlocked with $"+aptrepo.PassphraseEnv)
	f.BoolVar(&replace, "replace", false, "replace a different file of the same name, version and architecture")
	f.IntVar(&keep, "keep", aptrepo.DefaultKeep, "snapshots of the suite to keep")
	f.StringVar(&validFor, "valid-for", "", "set Valid-Until this long after now: 14d, 36h (default: no Valid-Until)")
	s.add(cmd)
	cmd.MarkFlagRequired("suite")
	return cmd
}

func newRepoListCmd(g *globals) *cobra.Command {
	var suite string
	cmd := &cobra.Command{
		Use:   "list DIR [--suite SUITE]",
		Short: "List the packages of each suite, as the next publish will publish them",
		Example: `  pinery repo list /srv/apt
  pinery repo list /srv/apt --suite stable`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := aptrepo.Open(args[0])
			if err != nil {
				return repoFail(g, "Cannot open the repository", err)
			}
			defer r.Close()
			suites := r.Suites()
			if suite != "" {
				suites = []string{suite}
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUITE/COMPONENT\tPACKAGE\tVERSION\tARCHITECTURE\tFILE")
			for _, s := range suites {
				comps := r.Packages(s)
				for _, c := range sortedComps(comps) {
					for _, p := range sortedPackages(comps[c]) {
						fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", s, c, p.Name, p.Version, p.Architecture, p.Filename)
					}
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&suite, "suite", "", "list this suite only")
	return cmd
}

func newRepoSnapshotsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "snapshots DIR",
		Short: "List the snapshots, oldest first, and what each suite points to",
		Long: `snapshots lists the published snapshots. Each is a complete signed apt source
of its own: URIs: http://HOST/PATH/snapshots/ID pins a client to it.`,
		Example: `  pinery repo snapshots /srv/apt`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := aptrepo.Open(args[0])
			if err != nil {
				return repoFail(g, "Cannot open the repository", err)
			}
			defer r.Close()
			snaps, err := r.Snapshots()
			if err != nil {
				return repoFail(g, "Cannot list the snapshots", err)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SNAPSHOT\tSUITE\tDATE (UTC)\tPACKAGES\tSTATE")
			for _, s := range snaps {
				cur := ""
				if s.Current {
					cur = "current"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ID, s.Suite, s.Date.UTC().Format("2006-01-02 15:04:05"), s.Packages, cur)
			}
			return tw.Flush()
		},
	}
}

func newRepoVerifyCmd(g *globals) *cobra.Command {
	var suite string
	cmd := &cobra.Command{
		Use:   "verify DIR --suite SUITE",
		Short: "Check a published suite as apt would: signature, indexes, pool files",
		Long: `verify checks the suite's InRelease against DIR/pubkey.asc (signer, expiry,
Valid-Until), Release and Release.gpg against it, every index and by-hash name
against the Release checksums, and every pool file against the indexes. It
names each problem and exits 1 when there is one.`,
		Example: `  pinery repo verify /srv/apt --suite stable`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			problems := aptrepo.Verify(args[0], suite, time.Now())
			if len(problems) > 0 {
				return repoFail(g, fmt.Sprintf("Suite %s fails verification", suite), fmt.Errorf("%s", strings.Join(problems, "\n")))
			}
			fmt.Fprintf(g.stdout, "%s is sound: signed by the repository's key, indexes and pool files match.\n", suite)
			return nil
		},
	}
	cmd.Flags().StringVar(&suite, "suite", "", "suite to verify")
	cmd.MarkFlagRequired("suite")
	return cmd
}

func sortedComps(m map[string][]*aptrepo.Package) []string {
	var out []string
	for c := range m {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func sortedPackages(ps []*aptrepo.Package) []*aptrepo.Package {
	out := slices.Clone(ps)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Architecture < out[j].Architecture
	})
	return out
}
