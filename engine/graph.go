package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/sourcegraph/conc/pool"
	"github.com/zclconf/go-cty/cty"

	"github.com/pinery/pinery/engine/eval"
)

// EdgeKind says why one resource comes before another in a host's graph.
type EdgeKind string

// The kinds of edges, from the requisites that make them.
const (
	EdgeDependsOn EdgeKind = "depends_on" // depends_on
	EdgeReference EdgeKind = "reference"  // an expression refers to the other resource
	EdgeWatch     EdgeKind = "watch"      // watch, or notify declared on the other end
	EdgeOnChanges EdgeKind = "onchanges"
	EdgeOnFail    EdgeKind = "onfail"
	EdgePrereq    EdgeKind = "prereq" // From is a prereq of To
)

// GraphNode is one resource instance.
type GraphNode struct {
	Addr string // file.motd, file.conf["a"], role.web.service.nginx
	Type string // the resource type: file, service, ...
}

// GraphEdge says that From is applied before To, and why.
type GraphEdge struct {
	From, To string // instance addresses
	Kind     EdgeKind
}

// HostGraphView is the resource graph of one host, for display.
type HostGraphView struct {
	Host  string
	Nodes []GraphNode // in apply order
	Edges []GraphEdge // grouped by To, in apply order
	// Err is set when the host's facts could not be gathered (sites that
	// use facts only); Nodes and Edges are empty then.
	Err error
}

// Graphs evaluates the graph of every selected host. A site that uses no
// facts was evaluated by Load and nothing is contacted; otherwise each
// host is connected to once to gather its facts, and the connection is
// closed again. Diagnostics are configuration errors found with the facts.
func (r *Run) Graphs(ctx context.Context) ([]HostGraphView, hcl.Diagnostics) {
	out := make([]HostGraphView, len(r.hosts))
	var diags hcl.Diagnostics
	if r.program.UsesFacts {
		var mu sync.Mutex
		facts := map[*hostRun]cty.Value{}
		p := pool.New().WithMaxGoroutines(r.opts.Parallelism)
		for i, h := range r.hosts {
			p.Go(func() {
				h.dials++
				conn, err := r.opts.Dial(ctx, h.inv)
				if err != nil {
					out[i].Err = fmt.Errorf("cannot gather facts (the site uses fact.*): %w", err)
					return
				}
				defer conn.Close()
				f, err := GatherFacts(ctx, conn)
				if err != nil {
					out[i].Err = fmt.Errorf("gathering facts: %w", err)
					return
				}
				mu.Lock()
				facts[h] = f.Value()
				mu.Unlock()
			})
		}
		p.Wait()
		diags = r.evalHosts(facts)
	}
	for i, h := range r.hosts {
		out[i].Host = h.inv.Name
		if out[i].Err == nil && h.graph != nil {
			out[i].Nodes, out[i].Edges = graphView(h.graph)
		}
	}
	return out, diags
}

func graphView(g *eval.HostGraph) ([]GraphNode, []GraphEdge) {
	var nodes []GraphNode
	var edges []GraphEdge
	for _, n := range g.Nodes {
		nodes = append(nodes, GraphNode{Addr: n.Addr(), Type: n.Res.Type.Name})
		for _, d := range n.Deps {
			for _, k := range edgeKinds(d, n) {
				edges = append(edges, GraphEdge{From: d.Addr(), To: n.Addr(), Kind: k})
			}
		}
	}
	return nodes, edges
}

// edgeKinds lists why n depends on d: its requisites, else depends_on or
// a reference.
func edgeKinds(d, n *eval.Node) []EdgeKind {
	var out []EdgeKind
	if slices.Contains(n.Watch, d) {
		out = append(out, EdgeWatch)
	}
	if slices.Contains(n.OnChanges, d) {
		out = append(out, EdgeOnChanges)
	}
	if slices.Contains(n.OnFail, d) {
		out = append(out, EdgeOnFail)
	}
	if slices.Contains(d.PrereqOf, n) {
		out = append(out, EdgePrereq)
	}
	if len(out) > 0 {
		return out
	}
	for _, ref := range n.Res.DependsOn {
		if ref.Addr == d.Res.Addr() || d.Res.Role != nil && ref.Addr == d.Res.Role.Addr() {
			return []EdgeKind{EdgeDependsOn}
		}
	}
	return []EdgeKind{EdgeReference}
}
