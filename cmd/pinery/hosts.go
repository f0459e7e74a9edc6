package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/pinery/pinery/engine/transport"
)

func newHostsCmd(g *globals) *cobra.Command {
	hosts := &cobra.Command{
		Use:   "hosts",
		Short: "Manage the host keys pinery trusts",
	}
	var yes, replace bool
	trust := &cobra.Command{
		Use:   "trust SELECTOR",
		Short: "Record the SSH host keys of hosts in their known_hosts file",
		Long: `trust connects to the selected hosts (a host name, a group or any --limit
selector), shows the fingerprint of the key each presents, and, once you
confirm (or with --yes), records it in the host's known_hosts file (the
inventory's known_hosts). Check the fingerprints first (on the board's console:
ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub): whoever answers at that
address now is trusted from then on. A host whose recorded key differs is
refused unless --replace (a re-flashed board).`,
		Example: `  pinery hosts trust -i inventory.hcl sopine05
  pinery hosts trust -i inventory.hcl --replace --yes rockpro64-07`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.limit = args[0]
			_, hs, diags := g.loadInventory()
			if g.writeDiags(diags) {
				return exitError{1}
			}
			ctx, stop := signalContext()
			defer stop()
			keys := make([]ssh.PublicKey, len(hs))
			failed := 0
			for i, h := range hs {
				k, err := transport.ScanHostKey(ctx, h.Address, h.Port, h.ConnectTimeout)
				if err != nil {
					failed++
					fmt.Fprintf(g.stdout, "%s (%s): %v\n", h.Name, h.Address, err)
					continue
				}
				keys[i] = k
				fmt.Fprintf(g.stdout, "%s (%s): %s %s\n", h.Name, h.Address, k.Type(), ssh.FingerprintSHA256(k))
			}
			if failed == len(hs) {
				return exitError{exitNotApplied}
			}
			if !yes {
				fmt.Fprint(g.stdout, "\nTrust these keys? Only 'yes' is accepted: ")
				ok, err := g.readYes()
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(g.stdout, "Nothing recorded.")
					return exitError{1}
				}
			}
			for i, h := range hs {
				if keys[i] == nil {
					continue
				}
				status, err := transport.TrustHostKey(h.KnownHosts, h.Address, h.Port, keys[i], replace)
				if err != nil {
					failed++
					fmt.Fprintf(g.stdout, "%s: %v\n", h.Name, err)
					continue
				}
				fmt.Fprintf(g.stdout, "%s: %s in %s\n", h.Name, status, h.KnownHosts)
			}
			if failed > 0 {
				return exitError{exitNotApplied}
			}
			return nil
		},
	}
	trust.Flags().BoolVar(&yes, "yes", false, "record the keys without asking")
	trust.Flags().BoolVar(&replace, "replace", false, "replace a different key already recorded (a re-flashed board)")
	hosts.AddCommand(trust)
	return hosts
}
