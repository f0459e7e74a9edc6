package user

import (
	"context"
	"fmt"
	"io"
	"strings"

	"al.essio.dev/pkg/shellescape"

	"github.com/pinery/pinery/engine/resource"
)

// Exit statuses of the apply script for what it checks itself; shadow's
// tools use 1 to 14.
const (
	exitNoGroups  = 97 // supplementary groups missing; their names on stdout
	exitNoPrimary = 98 // primary group missing
	exitPassword  = 99 // chpasswd failed
	exitHome      = 100
)

// Apply creates, changes or removes the account as the plan says.
func (u *User) Apply(ctx context.Context, h resource.Runner, diff *resource.Diff) error {
	if diff.Empty() {
		return nil
	}
	priv, ok := diff.Private.(*Private)
	if !ok {
		return fmt.Errorf("user %q: the plan carries no user changes", u.name)
	}
	script, verb := u.script(priv)
	var stdin io.Reader
	if priv.Password {
		// On stdin, so that the hash is in no command line and no log.
		stdin = strings.NewReader(u.name + ":" + u.password + "\n")
	}
	res, err := h.Run(ctx, script, stdin)
	if err != nil {
		return fmt.Errorf("user %q: %w", u.name, err)
	}
	switch res.ExitCode {
	case 0:
		return nil
	case exitNoGroups:
		var names []string
		for _, g := range strings.Fields(string(res.Stdout)) {
			names = append(names, fmt.Sprintf("%q", g))
		}
		return fmt.Errorf("user %q: supplementary group(s) %s do not exist on the host; create them with group resources and list those in this user's depends_on", u.name, strings.Join(names, ", "))
	case exitNoPrimary:
		return fmt.Errorf("user %q: primary group %q does not exist on the host; create it with a group resource and list that in this user's depends_on", u.name, priv.NeedPrimary)
	case exitPassword:
		// chpasswd's messages name the account, never the hash.
		return res.Err(fmt.Sprintf("user %q: setting password_hash (chpasswd -e)", u.name))
	case exitHome:
		return res.Err(fmt.Sprintf("user %q: creating the home directory (mkhomedir_helper)", u.name))
	}
	return res.Err(fmt.Sprintf("%s user %q", verb, u.name))
}

// script builds the shell script for a plan, and says what it does.
func (u *User) script(priv *Private) (string, string) {
	var b strings.Builder
	q := shellescape.Quote
	fmt.Fprintf(&b, "n=%s\n", q(u.name))
	if len(priv.NeedGroups) > 0 {
		b.WriteString("m=\nfor g in")
		for _, g := range priv.NeedGroups {
			b.WriteString(" " + q(g))
		}
		fmt.Fprintf(&b, "; do getent group \"$g\" >/dev/null || m=\"$m $g\"; done\nif [ -n \"$m\" ]; then echo \"$m\"; exit %d; fi\n", exitNoGroups)
	}
	if priv.NeedPrimary != "" {
		fmt.Fprintf(&b, "getent group %s >/dev/null || exit %d\n", q(priv.NeedPrimary), exitNoPrimary)
	}
	args := make([]string, len(priv.Args))
	for i, a := range priv.Args {
		args[i] = q(a)
	}
	opts := strings.Join(args, " ")
	verb := "changing"
	switch priv.Op {
	case opCreate:
		verb = "creating"
		b.WriteString("set --\n")
		if priv.OwnGroup {
			b.WriteString("if getent group \"$n\" >/dev/null; then set -- -g \"$n\"; fi\n")
		}
		fmt.Fprintf(&b, "useradd \"$@\" %s \"$n\" </dev/null || exit\n", opts)
	case opModify:
		if opts != "" {
			fmt.Fprintf(&b, "usermod %s \"$n\" </dev/null || exit\n", opts)
		}
	case opDelete:
		verb = "removing"
		fmt.Fprintf(&b, "userdel %s \"$n\" </dev/null || exit\n", opts)
	}
	if priv.Password {
		fmt.Fprintf(&b, "chpasswd -e || exit %d\n", exitPassword)
	}
	if priv.MakeHome {
		fmt.Fprintf(&b, "mkhomedir_helper \"$n\" </dev/null || exit %d\n", exitHome)
	}
	return b.String(), verb
}
