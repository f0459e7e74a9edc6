package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pinery/pinery/engine"
	"github.com/pinery/pinery/engine/transport"
	"github.com/pinery/pinery/inventory"
)

func TestGraphsWithoutFactsDialsNothing(t *testing.T) {
	dir := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
file "a" {
  path    = "` + filepath.Join(dir, "a") + `"
  content = "a"
}
file "b" {
  path       = "` + filepath.Join(dir, "b") + `"
  content    = file.a.content
}
exec "c" {
  command      = "true"
  refresh_only = true
  watch        = [file.b]
  depends_on   = [file.a]
}
`})
	host := &inventory.Host{Name: "h", Address: "192.0.2.1", Groups: []string{"all"}}
	r, diags := engine.Load(engine.Options{
		SiteDir: site,
		Hosts:   []*inventory.Host{host},
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
			t.Error("dialed a host for a site without facts")
			return nil, errors.New("no")
		},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	views, diags := r.Graphs(context.Background())
	if diags.HasErrors() || len(views) != 1 || views[0].Err != nil {
		t.Fatalf("Graphs: %v %+v", diags, views)
	}
	v := views[0]
	var addrs []string
	for _, n := range v.Nodes {
		addrs = append(addrs, n.Addr)
	}
	if !slices.Equal(addrs, []string{"file.a", "file.b", "exec.c"}) {
		t.Errorf("nodes %v", addrs)
	}
	want := []engine.GraphEdge{
		{From: "file.a", To: "file.b", Kind: engine.EdgeReference},
		{From: "file.a", To: "exec.c", Kind: engine.EdgeDependsOn},
		{From: "file.b", To: "exec.c", Kind: engine.EdgeWatch},
	}
	for _, e := range want {
		if !slices.Contains(v.Edges, e) {
			t.Errorf("missing edge %+v in %+v", e, v.Edges)
		}
	}
	if len(v.Edges) != len(want) {
		t.Errorf("edges %+v, want %+v", v.Edges, want)
	}
}

func TestGraphsGathersFacts(t *testing.T) {
	dir := t.TempDir()
	site := writeSite(t, map[string]string{"main.hcl": `
file "motd" {
  path    = "` + filepath.Join(dir, "motd") + `"
  content = "${fact.kernel}\n"
}
`})
	r := localRun(t, site, nil)
	views, diags := r.Graphs(context.Background())
	if diags.HasErrors() || len(views) != 1 || views[0].Err != nil {
		t.Fatalf("Graphs: %v %+v", diags, views)
	}
	if len(views[0].Nodes) != 1 || views[0].Nodes[0].Addr != "file.motd" {
		t.Errorf("nodes %+v", views[0].Nodes)
	}
	if st := r.Stats(); st[0].Connections != 1 {
		t.Errorf("connections %d, want 1", st[0].Connections)
	}
}

func TestGraphsUnreachable(t *testing.T) {
	site := writeSite(t, map[string]string{"main.hcl": `
file "motd" {
  path    = "/tmp/motd"
  content = fact.kernel
}
`})
	host := &inventory.Host{Name: "h", Address: "192.0.2.1", Groups: []string{"all"}}
	r, diags := engine.Load(engine.Options{
		SiteDir: site,
		Hosts:   []*inventory.Host{host},
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Host, error) {
			return nil, transport.ErrUnreachable
		},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	views, diags := r.Graphs(context.Background())
	if diags.HasErrors() || len(views) != 1 || !errors.Is(views[0].Err, transport.ErrUnreachable) || len(views[0].Nodes) != 0 {
		t.Fatalf("Graphs: %v %+v", diags, views)
	}
}
