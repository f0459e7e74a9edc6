package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/atomicfile"
	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/bundle"
	"github.com/pinery/pinery/engine/eval"
	"github.com/pinery/pinery/engine/plan"
)

// hostKeyIdentity decrypts a bundle's secrets encrypted to the board's
// SSH host key (age_recipient = its ssh-ed25519 public key).
const hostKeyIdentity = "/etc/ssh/ssh_host_ed25519_key"

type pullFlags struct {
	trusted        []string
	host           string
	stateDir       string
	allowDowngrade bool
}

func newPullCmd(g *globals) *cobra.Command {
	var f pullFlags
	cmd := &cobra.Command{
		Use:   "pull URL|FILE",
		Short: "Fetch, verify and apply a signed bundle on this host (pull mode)",
		Long: `pull runs on a board: it fetches a bundle made by "pinery bundle" (an http,
https or file URL, or a path) and its signature (the same with .sig), and
applies it to this host with the local connection, without any controller
(docs/pull.md). It prints the plan and the apply as apply does, and exits
with apply's exit codes.

Before anything is unpacked, the signature must verify with a key of
--trusted-key, the archive must be the signed one (size and SHA-256), and
every file must match the manifest: a tampered or foreign bundle is refused
and nothing changes (exit 1). A bundle created before the last one applied
here is refused as a possible replay unless --allow-downgrade.

The run is recorded in --backend ($PINERY_BACKEND; a postgres:// URL shared
with the controller, where "pinery status" shows it), else in a SQLite file
in --state-dir; a failure to record is a warning, not a failure.

Secrets in the bundle are decrypted with --age-identity, else the usual
defaults, else this host's SSH host key (` + hostKeyIdentity + `).`,
		Example: `  pinery pull --trusted-key /etc/pinery/bundle.pub https://repo.example/bundles/h2.tar.gz
  PINERY_BACKEND=postgres://pinery@db/pinery pinery pull --trusted-key bundle.pub /tmp/h2.tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.pull(args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.trusted, "trusted-key", nil, "public key file (authorized_keys or .pub form, ssh-ed25519) whose signatures are accepted (repeatable; required)")
	fl.StringVar(&f.host, "host", "", "the bundle's inventory host to apply (default: its only host, else the one named as this machine)")
	fl.StringVar(&f.stateDir, "state-dir", "/var/lib/pinery/pull", "where the last applied bundle (and, without --backend, the run history) is kept")
	fl.BoolVar(&f.allowDowngrade, "allow-downgrade", false, "apply a bundle older than the one applied last (a deliberate rollback)")
	fl.StringArrayVar(&g.ageIDs, "age-identity", nil, "age identity file that decrypts the bundle's secrets (repeatable)")
	fl.IntVar(&g.parallelism, "parallelism", 64, "hosts handled at once")
	fl.DurationVar(&g.hostTimeout, "host-timeout", 0, "fail the apply if it takes longer than this (e.g. 15m); default: no limit")
	cmd.Flags().StringVar(&g.state.backend, "backend", "", "where the run is reported: a postgres:// URL (default $PINERY_BACKEND, else STATE-DIR/.pinery/state.db)")
	return cmd
}

func (g *globals) pull(src string, f pullFlags) error {
	ctx, stop := signalContext()
	defer stop()
	if len(f.trusted) == 0 {
		return fmt.Errorf("--trusted-key is required: the public key whose bundles this host applies")
	}
	var trusted []ssh.PublicKey
	for _, name := range f.trusted {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("--trusted-key: %w", err)
		}
		keys, err := bundle.ParseTrustedKeys(data)
		if err != nil {
			return fmt.Errorf("--trusted-key %s: %w", name, err)
		}
		trusted = append(trusted, keys...)
	}
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	unlock, err := lockFile(filepath.Join(f.stateDir, "pull.lock"))
	if err != nil {
		return err
	}
	defer unlock()

	// The signature first, and only then the archive, of the signed size.
	sigData, err := fetch(ctx, sigURL(src), 4096)
	if err != nil {
		return fmt.Errorf("fetching the signature: %w", err)
	}
	s, err := bundle.ParseSignature(sigData)
	if err != nil {
		return fmt.Errorf("bundle %s refused: %w", src, err)
	}
	if err := s.Verify(trusted); err != nil {
		return fmt.Errorf("bundle %s refused: %w", src, err)
	}
	archive, err := fetch(ctx, src, min(s.Size, bundle.DefaultLimits.Archive))
	if err != nil {
		return fmt.Errorf("fetching the bundle: %w", err)
	}
	_, m, files, err := bundle.Open(archive, sigData, trusted, bundle.DefaultLimits)
	if err != nil {
		return fmt.Errorf("bundle %s refused: %w", src, err)
	}
	host, err := pickHost(m.Hosts, f.host)
	if err != nil {
		return err
	}
	appliedPath := filepath.Join(f.stateDir, "applied.json")
	last, err := readApplied(appliedPath)
	if err != nil {
		return err
	}
	if err := bundle.CheckReplay(last, s); err != nil && !f.allowDowngrade {
		return fmt.Errorf("bundle %s refused: %w", src, err)
	}
	dir, err := os.MkdirTemp("", "pinery-pull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := unpack(dir, files); err != nil {
		return fmt.Errorf("unpacking the bundle: %w", err)
	}
	applied, _ := json.Marshal(bundle.Applied{Version: s.Version, Created: s.Created, SHA256: hex.EncodeToString(s.SHA256[:])})
	if err := atomicfile.Write(appliedPath, append(applied, '\n'), 0o600); err != nil {
		return err
	}
	commit := m.Commit
	if commit == "" {
		commit = "not in git"
	} else if m.Dirty {
		commit += ", with uncommitted changes"
	}
	fmt.Fprintf(g.stdout, "Bundle %s (created %s, site commit %s) for %s: signature by %s verified.\n",
		m.Version, m.Created.Local().Format(time.RFC3339), commit, host, s.Key)
	for _, n := range m.Notes {
		fmt.Fprintf(g.stderr, "Note: %s.\n", n)
	}

	g.inventory, g.limit, g.site = filepath.Join(dir, "inventory.hcl"), host, filepath.Join(dir, "site")
	g.varFiles = []string{filepath.Join(dir, "vars.hcl")}
	if _, err := os.Stat(filepath.Join(dir, "secrets.hcl.age")); err == nil {
		g.varFiles = append(g.varFiles, filepath.Join(dir, "secrets.hcl.age"))
		g.defaultHostKeyIdentity()
	}
	if !g.readCarried(dir) {
		return exitError{1}
	}
	rep := &pullReport{spec: g.backendSpec(), stateDir: f.stateDir, host: host, m: m,
		command: commandLine(os.Args[1:], nil)}
	g.state.pull = rep
	defer rep.close()
	start := time.Now()
	r, ok := g.prepare([]string{g.site})
	if !ok {
		rep.report(ctx, g, start, backend.NotApplied, 0, "the bundle's site or inventory has errors (see the output)")
		return exitError{1}
	}
	defer r.Close()
	p, diags := r.Plan(ctx)
	if g.writeDiags(diags, r.Site.Parser) {
		rep.report(ctx, g, start, backend.NotApplied, 0, "the plan failed (see the output)")
		return exitError{1}
	}
	if err := g.writePlan(p); err != nil {
		return err
	}
	if !p.HasChanges() {
		if p.HasErrors() {
			fmt.Fprintln(g.stdout, "\nNothing to apply; see the errors above.")
			rep.report(ctx, g, start, backend.NotApplied, 0, planError(p))
			return exitError{exitNotApplied}
		}
		fmt.Fprintln(g.stdout, "\nNo changes. This host is converged.")
		rep.report(ctx, g, start, backend.Converged, 0, "")
		return nil
	}
	return g.runApply(ctx, r, p, start)
}

// readCarried reads the outputs of other hosts that the bundle carries
// for its host (outputs.json, or outputs.json.age when some are
// sensitive), evaluated by the controller when bundling.
func (g *globals) readCarried(dir string) bool {
	path := filepath.Join(dir, "outputs.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		path += ".age"
		var enc []byte
		if enc, err = os.ReadFile(path); errors.Is(err, fs.ErrNotExist) {
			return true // the site reads no outputs
		}
		if err == nil {
			g.defaultHostKeyIdentity()
			in, diags := g.inputs()
			if g.writeDiags(diags) {
				return false
			}
			if data, diags = eval.DecryptFile(path, enc, in); g.writeDiags(diags) {
				return false
			}
			defer clear(data)
		}
	}
	if err == nil {
		g.carried, err = engine.UnmarshalOutputs(data)
	}
	if err != nil {
		g.writeDiags(errorDiag("Cannot read the bundle's outputs of other hosts", err.Error()+"."))
		return false
	}
	return true
}

// defaultHostKeyIdentity adds the host's SSH key as the identity of the
// bundle's secrets when no other identity is given or found.
func (g *globals) defaultHostKeyIdentity() {
	if len(g.ageIDs) > 0 || os.Getenv(eval.EnvAgeIdentityFile) != "" || os.Getenv(eval.EnvAgeIdentity) != "" {
		return
	}
	if d, err := os.UserConfigDir(); err == nil {
		if _, err := os.Stat(filepath.Join(d, eval.DefaultAgeIdentityFile)); err == nil {
			return
		}
	}
	if _, err := os.Stat(hostKeyIdentity); err == nil {
		g.ageIDs = []string{hostKeyIdentity}
	}
}

func planError(p *plan.Plan) string {
	for _, h := range p.Hosts {
		if h.Error != nil {
			return h.Error.Error()
		}
	}
	return "the plan failed"
}

// lockFile takes an exclusive lock on path: one pull at a time per host.
// The lock ends with the process, however it ends.
func lockFile(path string) (func(), error) {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fh.Close()
		return nil, fmt.Errorf("another pinery pull is running on this host (%s is locked)", path)
	}
	return func() { fh.Close() }, nil
}

// pickHost is the bundle host this machine applies.
func pickHost(hosts []string, want string) (string, error) {
	if want == "" && len(hosts) == 1 {
		return hosts[0], nil
	}
	if want == "" {
		name, _ := os.Hostname()
		want, _, _ = strings.Cut(name, ".")
		if !slices.Contains(hosts, want) {
			return "", fmt.Errorf("the bundle is for %s, and this machine (%s) is none of them: give --host", strings.Join(hosts, ", "), name)
		}
	}
	if !slices.Contains(hosts, want) {
		return "", fmt.Errorf("the bundle is for %s, not %s", strings.Join(hosts, ", "), want)
	}
	return want, nil
}

// sigURL is where a bundle's detached signature is: URL.sig (the query,
// if any, kept after it).
func sigURL(src string) string {
	if u, err := url.Parse(src); err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file") {
		u.RawPath = u.EscapedPath() + ".sig"
		u.Path += ".sig"
		return u.String()
	}
	return src + ".sig"
}

// fetch reads a URL or a file, refusing more than max bytes.
func fetch(ctx context.Context, src string, max int64) ([]byte, error) {
	var body io.ReadCloser
	u, err := url.Parse(src)
	switch {
	case err == nil && (u.Scheme == "http" || u.Scheme == "https"):
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: %s", u.Redacted(), resp.Status)
		}
		body = resp.Body
	case err == nil && u.Scheme == "file":
		if body, err = os.Open(u.Path); err != nil {
			return nil, err
		}
	case err == nil && u.Scheme != "" && len(u.Scheme) > 1:
		return nil, fmt.Errorf("%s: only http, https and file URLs or paths are supported", u.Redacted())
	default:
		if body, err = os.Open(src); err != nil {
			return nil, err
		}
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than the %d bytes expected", src, max)
	}
	return data, nil
}

func readApplied(path string) (*bundle.Applied, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a bundle.Applied
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%s: %w (remove it to accept any signed bundle once)", path, err)
	}
	return &a, nil
}

// unpack writes the bundle's files under dir, a fresh private directory
// (the paths were checked: clean, relative, no file under another).
func unpack(dir string, files []bundle.File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		fh, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, f.Mode())
		if err != nil {
			return err
		}
		_, err = fh.Write(f.Data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pullReport records a pull in the backend: as the board's own run of the
// bundle's site, without the site lock.
type pullReport struct {
	spec, stateDir, host, command string
	m                             *bundle.Manifest
	db                            backend.Backend
}

// open opens the backend once; a backend that cannot be reached is a
// warning (the host is applied all the same) and no report.
func (rep *pullReport) open(ctx context.Context, g *globals) backend.Reports {
	if rep.db == nil {
		b, err := backend.Open(ctx, rep.spec, rep.stateDir, true)
		if err != nil {
			fmt.Fprintf(g.stderr, "Warning: the run is not reported: %v.\n", err)
			return nil
		}
		rep.db = b
	}
	r, ok := rep.db.(backend.Reports)
	if !ok {
		fmt.Fprintf(g.stderr, "Warning: the run is not reported: the backend takes no reports.\n")
	}
	return r
}

func (rep *pullReport) close() {
	if rep.db != nil {
		rep.db.Close()
	}
}

func (rep *pullReport) run(start time.Time) backend.Run {
	me := backend.CurrentHolder(rep.command)
	return backend.Run{Site: rep.m.Site, User: me.User, Machine: me.Machine, Version: version, Commit: rep.m.Commit,
		Dirty: rep.m.Dirty, Command: rep.command, Started: start, Hosts: []backend.Host{{Host: rep.host}}}
}

// begin records the start of an apply for runApply, which records its end.
func (rep *pullReport) begin(ctx context.Context, g *globals, _ *plan.Plan) *runRecord {
	r := rep.open(ctx, g)
	if r == nil {
		return nil
	}
	id, err := r.RecordPull(ctx, rep.run(time.Now()), rep.m.Version)
	if err != nil {
		fmt.Fprintf(g.stderr, "Warning: the run is not reported: %v.\n", err)
		return nil
	}
	return &runRecord{db: rep.db, id: id, changes: map[string][]backend.Resource{}}
}

// report records a pull that applied nothing: converged, or not applied.
func (rep *pullReport) report(ctx context.Context, g *globals, start time.Time, outcome backend.Outcome, changed int, why string) {
	r := rep.open(ctx, g)
	if r == nil {
		return
	}
	id, err := r.RecordPull(ctx, rep.run(start), rep.m.Version)
	if err == nil {
		err = rep.db.FinishRun(ctx, id, outcome, []backend.Host{{Host: rep.host, Outcome: outcome, Changed: changed, Error: why}})
	}
	if err != nil {
		fmt.Fprintf(g.stderr, "Warning: the run is not reported: %v.\n", err)
	}
}
