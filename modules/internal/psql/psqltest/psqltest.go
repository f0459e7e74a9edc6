// Package psqltest installs Debian's PostgreSQL on a fleet host for the
// tests of the postgres_* modules, and queries it.
package psqltest

import (
	"context"
	"strings"
	"testing"
	"time"

	"al.essio.dev/pkg/shellescape"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/resource"
	"github.com/pinery/pinery/engine/resource/resourcetest"
	"github.com/pinery/pinery/modules/internal/psql"
	"github.com/pinery/pinery/modules/pkg"
)

// Install installs the postgresql package on h with the package module
// (through the fleet's apt cache) and waits until the cluster accepts
// connections. When the test ends, h is put back as it was: the packages
// the install added are purged, with PostgreSQL's data, configuration
// and logs, and the postgres user when it was not there before.
func Install(t *testing.T, h resource.Runner) {
	t.Helper()
	PurgeAfter(t, h)
	cfg := resourcetest.Config(t, "package", "", map[string]cty.Value{"name": cty.StringVal("postgresql")})
	p, err := pkg.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resourcetest.Converge(t, h, p)
	WaitReady(t, h)
	t.Logf("PostgreSQL installed in %s", time.Since(start).Round(time.Second))
}

// PurgeAfter notes which packages h has, and when the test ends purges
// the packages added since, with PostgreSQL's data, configuration and
// logs, and the postgres user when it was not there before: for tests
// that install PostgreSQL some other way (a role applied by the CLI).
func PurgeAfter(t *testing.T, h resource.Runner) {
	t.Helper()
	before := resourcetest.Run(t, h, listPackages+"; if id -u postgres >/dev/null 2>&1; then echo '#user'; fi")
	t.Cleanup(func() { purge(t, h, before) })
}

const listPackages = `dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | while read -r s p; do if [ "$s" = ii ]; then echo "$p"; fi; done`

// WaitReady waits up to a minute for the cluster to accept connections.
func WaitReady(t *testing.T, h resource.Runner) {
	t.Helper()
	resourcetest.Run(t, h, "i=0; until pg_isready -q -h "+psql.SocketDir+"; do i=$((i+1)); [ $i -lt 120 ] || exit 1; sleep 0.5; done")
}

// purge removes what Install added; before is the list of packages (and
// "#user") Install found.
func purge(t *testing.T, h resource.Runner, before string) {
	t.Helper()
	had := map[string]bool{}
	for _, p := range strings.Fields(before) {
		had[p] = true
	}
	var added []string
	for _, p := range strings.Fields(resourcetest.Run(t, h, listPackages)) {
		if !had[p] {
			added = append(added, shellescape.Quote(p))
		}
	}
	script := "export DEBIAN_FRONTEND=noninteractive\nsystemctl stop postgresql 2>/dev/null\n"
	if len(added) > 0 {
		script += "apt-get purge -y -q " + strings.Join(added, " ") + " >/dev/null || exit 1\n"
	}
	script += "rm -rf /var/lib/postgresql /etc/postgresql /etc/postgresql-common /var/log/postgresql /var/run/postgresql /etc/systemd/system/postgresql@*.service.d\nsystemctl daemon-reload\n"
	if !had["#user"] {
		script += "userdel postgres 2>/dev/null; groupdel postgres 2>/dev/null; :\n"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := h.Run(ctx, script, nil)
	if err == nil {
		err = res.Err("purging PostgreSQL")
	}
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// Query runs sql as the postgres user (psql -At, one value per line) with
// the given psql variables and returns its output.
func Query(t *testing.T, h resource.Runner, sql string, vars ...psql.Var) string {
	t.Helper()
	res, err := h.Run(context.Background(), psql.Command(vars), strings.NewReader(sql))
	if err == nil {
		err = res.Err("psql")
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return string(res.Stdout)
}
