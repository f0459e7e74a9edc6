package inventory

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var (
	rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "defaults"},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "group", LabelNames: []string{"name"}},
	}}
	connAttrs = []hcl.AttributeSchema{
		{Name: "user"}, {Name: "port"}, {Name: "identity_file"},
		{Name: "known_hosts"}, {Name: "connect_timeout"}, {Name: "become_password"},
		{Name: "vars"},
	}
	powerBlock     = []hcl.BlockHeaderSchema{{Type: "power"}}
	defaultsSchema = &hcl.BodySchema{Attributes: connAttrs, Blocks: powerBlock}
	hostSchema     = &hcl.BodySchema{Attributes: append([]hcl.AttributeSchema{
		{Name: "address"}, {Name: "groups"}, {Name: "connection"},
	}, connAttrs...), Blocks: powerBlock}
	groupSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "hosts"}, {Name: "children"}, {Name: "vars"},
	}}
)

// Parse parses an inventory. filename names the source in diagnostics, and
// its directory is the base for relative paths. On errors the inventory is
// nil and the diagnostics hold every error found, not only the first.
func Parse(src []byte, filename string) (*Inventory, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	p := newParser(filename)
	p.diags = diags
	p.decode(file.Body)
	inv := p.build()
	sortDiags(p.diags)
	if p.diags.HasErrors() {
		return nil, p.diags
	}
	inv.Path = filename
	return inv, p.diags
}

// sortDiags orders diagnostics by source position, so that they read top
// to bottom whatever pass found them.
func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// conn holds connection settings as written in a defaults or host block;
// nil fields are unset.
type conn struct {
	user     *string
	port     *int
	identity *string // "" set explicitly: no identity file
	known    *string
	timeout  *time.Duration
	become   *bool // become_password
	vars     map[string]cty.Value
	power    hcl.Attributes // of its power block
}

type hostEntry struct {
	host      *Host
	fromBlock bool
	address   string
	conn      conn
}

type groupEntry struct {
	group    *Group
	declared bool
	direct   map[string]bool // direct member host names
	children []nameRef
	depth    int
}

type nameRef struct {
	name string
	rng  hcl.Range
}

type parser struct {
	filename string
	base     string
	diags    hcl.Diagnostics

	defaults      conn
	defaultsRange *hcl.Range
	hosts         map[string]*hostEntry
	hostOrder     []*hostEntry
	groups        map[string]*groupEntry
	groupOrder    []*groupEntry
}

func newParser(filename string) *parser {
	base, err := filepath.Abs(filepath.Dir(filename))
	if err != nil {
		base = filepath.Dir(filename)
	}
	p := &parser{
		filename: filename,
		base:     base,
		hosts:    map[string]*hostEntry{},
		groups:   map[string]*groupEntry{},
	}
	p.group(AllGroup, hcl.Range{})
	return p
}

func (p *parser) errorf(subject hcl.Range, summary, detail string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject.Ptr(),
	})
}

func (p *parser) decode(body hcl.Body) {
	content, diags := body.Content(rootSchema)
	p.diags = append(p.diags, diags...)
	for _, b := range content.Blocks {
		switch b.Type {
		case "defaults":
			if p.defaultsRange != nil {
				p.errorf(b.DefRange, "Duplicate defaults block",
					"Only one defaults block is allowed; the first is at %s. Merge the two.", p.defaultsRange)
				continue
			}
			p.defaultsRange = b.DefRange.Ptr()
			attrs, blocks := p.contentBlocks(b, defaultsSchema)
			p.defaults = p.conn(attrs)
			p.defaults.power = p.powerBlocks(blocks)
		case "host":
			p.hostBlock(b)
		case "group":
			p.groupBlock(b)
		}
	}
}

func (p *parser) content(b *hcl.Block, schema *hcl.BodySchema) hcl.Attributes {
	attrs, _ := p.contentBlocks(b, schema)
	return attrs
}

func (p *parser) contentBlocks(b *hcl.Block, schema *hcl.BodySchema) (hcl.Attributes, hcl.Blocks) {
	c, diags := b.Body.Content(schema)
	p.diags = append(p.diags, diags...)
	return c.Attributes, c.Blocks
}

// host returns the entry for name, creating an implicit host first seen at rng.
func (p *parser) host(name string, rng hcl.Range) *hostEntry {
	if e, ok := p.hosts[name]; ok {
		return e
	}
	e := &hostEntry{host: &Host{Name: name, DeclRange: rng}}
	p.hosts[name] = e
	p.hostOrder = append(p.hostOrder, e)
	return e
}

// group returns the entry for name, creating an undeclared group first named at rng.
func (p *parser) group(name string, rng hcl.Range) *groupEntry {
	if e, ok := p.groups[name]; ok {
		return e
	}
	e := &groupEntry{group: &Group{Name: name, DeclRange: rng}, direct: map[string]bool{}}
	p.groups[name] = e
	p.groupOrder = append(p.groupOrder, e)
	return e
}

func (p *parser) hostBlock(b *hcl.Block) {
	name := b.Labels[0]
	attrs, blocks := p.contentBlocks(b, hostSchema)
	c := p.conn(attrs)
	c.power = p.powerBlocks(blocks)
	var address string
	if a, ok := attrs["address"]; ok {
		if s, ok := p.str(a); ok && s != nil {
			if *s == "" || strings.ContainsAny(*s, " \t\r\n") {
				p.errorf(a.Expr.Range(), "Invalid address",
					"address must be a host name or IP address without spaces, e.g. address = \"10.231.0.11\"; leave it out to use the host name.")
			} else {
				address = *s
			}
		}
	}
	local := false
	if a, ok := attrs["connection"]; ok {
		if s, ok := p.str(a); ok && s != nil {
			switch *s {
			case "ssh":
			case "local":
				local = true
			default:
				p.errorf(a.Expr.Range(), "Invalid connection",
					"connection must be \"ssh\" (the default) or \"local\" (this machine, without SSH, as the user running pinery); %q is neither.", *s)
			}
		}
	}
	var groups []strElem
	if a, ok := attrs["groups"]; ok {
		for _, g := range p.strList(a) {
			if p.checkName("group", g.name, g.rng) {
				groups = append(groups, g)
			}
		}
	}
	if !p.checkName("host", name, b.LabelRanges[0]) {
		return
	}
	e := p.host(name, b.DefRange)
	if e.fromBlock {
		p.errorf(b.DefRange, "Duplicate host",
			"Host %q is already declared at %s. Merge the two host blocks or rename one.", name, e.host.DeclRange)
		return
	}
	e.fromBlock = true
	e.host.DeclRange = b.DefRange
	e.conn = c
	e.address = address
	e.host.Local = local
	for _, g := range groups {
		p.group(g.name, g.rng).direct[name] = true
	}
}

func (p *parser) groupBlock(b *hcl.Block) {
	name := b.Labels[0]
	attrs := p.content(b, groupSchema)
	var hosts []strElem // expanded
	if a, ok := attrs["hosts"]; ok {
		for _, pat := range p.strList(a) {
			names, err := ExpandPattern(pat.name)
			if err != nil {
				p.errorf(pat.rng, "Invalid host range",
					"%s. Write ranges as name[01:07], name[1:12], name[a:c] or name[1:10:2].", trimErr(err))
				continue
			}
			for _, n := range names {
				if !p.checkName("host", n, pat.rng) {
					break
				}
				hosts = append(hosts, strElem{n, pat.rng})
			}
		}
	}
	var children []nameRef
	if a, ok := attrs["children"]; ok {
		seen := map[string]bool{}
		for _, c := range p.strList(a) {
			if !p.checkName("group", c.name, c.rng) || seen[c.name] {
				continue
			}
			if c.name == AllGroup {
				p.errorf(c.rng, "Invalid child group",
					"%q holds every host and cannot be a child of another group. Remove it from children.", AllGroup)
				continue
			}
			seen[c.name] = true
			children = append(children, nameRef(c))
		}
	}
	var vars map[string]cty.Value
	if a, ok := attrs["vars"]; ok {
		vars = p.vars(a)
	}
	if !p.checkName("group", name, b.LabelRanges[0]) {
		return
	}
	g := p.group(name, b.DefRange)
	if g.declared {
		p.errorf(b.DefRange, "Duplicate group",
			"Group %q is already declared at %s. Merge the two group blocks or rename one.", name, g.group.DeclRange)
		return
	}
	g.declared = true
	g.group.DeclRange = b.DefRange
	for _, h := range hosts {
		p.host(h.name, h.rng)
		g.direct[h.name] = true
	}
	g.children = children
	for _, c := range children {
		g.group.Children = append(g.group.Children, c.name)
	}
	g.group.Vars = vars
}

func trimErr(err error) string {
	return strings.TrimPrefix(err.Error(), ErrPattern.Error()+" ")
}

// checkName reports whether name is a valid host or group name, and adds a
// diagnostic when it is not.
func (p *parser) checkName(kind, name string, rng hcl.Range) bool {
	if validName(name) {
		return true
	}
	detail := "%s names may hold only letters, digits, '.', '-' and '_', must start with a letter, digit or '_', and be at most 253 characters long; %q does not."
	if kind == "host" {
		detail += " Put addresses that need other characters (IPv6) in address = \"...\"."
	}
	p.errorf(rng, "Invalid "+kind+" name", detail, strings.ToUpper(kind[:1])+kind[1:], name)
	return false
}

func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// conn decodes the connection settings and vars shared by defaults and host blocks.
func (p *parser) conn(attrs hcl.Attributes) conn {
	var c conn
	if a, ok := attrs["user"]; ok {
		if s, ok := p.str(a); ok && s != nil {
			if *s == "" || strings.ContainsAny(*s, " \t\r\n") {
				p.errorf(a.Expr.Range(), "Invalid user", "user must be a login name without spaces, e.g. user = \"root\".")
			} else {
				c.user = s
			}
		}
	}
	if a, ok := attrs["port"]; ok {
		c.port = p.port(a)
	}
	if a, ok := attrs["identity_file"]; ok {
		if s, ok := p.str(a); ok && s != nil {
			if *s == "" {
				c.identity = s
			} else if path, ok := p.path(*s, a.Expr.Range(), "identity_file"); ok {
				c.identity = &path
			}
		}
	}
	if a, ok := attrs["known_hosts"]; ok {
		if s, ok := p.str(a); ok && s != nil {
			if *s == "" {
				p.errorf(a.Expr.Range(), "Empty known_hosts",
					"known_hosts must name a file; host keys are always checked. Leave it out to use %s.", DefaultKnownHosts)
			} else if path, ok := p.path(*s, a.Expr.Range(), "known_hosts"); ok {
				c.known = &path
			}
		}
	}
	if a, ok := attrs["connect_timeout"]; ok {
		if s, ok := p.str(a); ok && s != nil {
			d, err := time.ParseDuration(*s)
			switch {
			case err != nil:
				p.errorf(a.Expr.Range(), "Invalid duration",
					"connect_timeout must be a Go duration such as \"5s\", \"1m30s\" or \"500ms\"; %q is not.", *s)
			case d <= 0:
				p.errorf(a.Expr.Range(), "Invalid duration", "connect_timeout must be greater than zero, e.g. \"5s\".")
			default:
				c.timeout = &d
			}
		}
	}
	if a, ok := attrs["become_password"]; ok {
		c.become = p.boolean(a, "become_password = true (this user's sudo asks for a password)")
	}
	if a, ok := attrs["vars"]; ok {
		c.vars = p.vars(a)
	}
	return c
}

// boolean decodes a bool attribute; nil means null or an error.
func (p *parser) boolean(a *hcl.Attribute, example string) *bool {
	v, ok := p.literal(a.Expr)
	if !ok || v.IsNull() {
		return nil
	}
	if v.Type() != cty.Bool {
		p.errorf(a.Expr.Range(), "Incorrect attribute value type",
			"%s must be true or false, e.g. %s; got %s.", a.Name, example, v.Type().FriendlyName())
		return nil
	}
	b := v.True()
	return &b
}

// literal evaluates expr without variables or functions.
func (p *parser) literal(expr hcl.Expression) (cty.Value, bool) {
	refs := expr.Variables()
	for _, r := range refs {
		p.errorf(r.SourceRange(), "Reference in inventory",
			"Inventory values are literals, but this refers to %q. Write the value itself; compute derived values in states, where host vars and facts are available.", traversalString(r))
	}
	v, diags := expr.Value(nil)
	for _, d := range diags {
		// References are reported above, with a better message.
		if len(refs) > 0 && d.Summary == "Variables not allowed" {
			continue
		}
		if d.Summary == "Function calls not allowed" {
			c := *d
			c.Detail = "Inventory values are literals: functions are not available here. Write the resulting value; compute derived values in states."
			d = &c
		}
		p.diags = append(p.diags, d)
	}
	if len(refs) > 0 || diags.HasErrors() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		p.errorf(expr.Range(), "Unknown value", "Inventory values must be literals.")
		return cty.NilVal, false
	}
	return v, true
}

func traversalString(t hcl.Traversal) string {
	var b strings.Builder
	for _, s := range t {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			b.WriteString("[…]")
		case hcl.TraverseSplat:
			b.WriteString(".*")
		}
	}
	return b.String()
}

// str decodes a string attribute; a nil result with ok means null.
func (p *parser) str(a *hcl.Attribute) (*string, bool) {
	v, ok := p.literal(a.Expr)
	if !ok {
		return nil, false
	}
	if v.IsNull() {
		return nil, true
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		p.errorf(a.Expr.Range(), "Incorrect attribute value type",
			"%s must be a string, e.g. %s = \"...\"; got %s.", a.Name, a.Name, v.Type().FriendlyName())
		return nil, false
	}
	str := s.AsString()
	return &str, true
}

func (p *parser) port(a *hcl.Attribute) *int {
	v, ok := p.literal(a.Expr)
	if !ok || v.IsNull() {
		return nil
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		p.errorf(a.Expr.Range(), "Incorrect attribute value type",
			"port must be a whole number from 1 to 65535, e.g. port = 22; got %s.", v.Type().FriendlyName())
		return nil
	}
	f := n.AsBigFloat()
	i, acc := f.Int64()
	if acc != big.Exact || i < 1 || i > 65535 {
		p.errorf(a.Expr.Range(), "Invalid port", "port must be a whole number from 1 to 65535, e.g. port = 22; got %s.", f.Text('g', -1))
		return nil
	}
	port := int(i)
	return &port
}

// path resolves a file path: "~/" expands to the home directory, relative
// paths resolve against the inventory's directory.
func (p *parser) path(s string, rng hcl.Range, attr string) (string, bool) {
	switch {
	case s == "~" || strings.HasPrefix(s, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			p.errorf(rng, "Cannot expand ~", "%s starts with ~ but the home directory is unknown (%s). Write an absolute path.", attr, err)
			return "", false
		}
		s = filepath.Join(home, s[1:])
	case strings.HasPrefix(s, "~"):
		p.errorf(rng, "Unsupported path", "%s: only ~/ (your own home directory) is expanded, not ~user. Write an absolute path.", attr)
		return "", false
	case !filepath.IsAbs(s):
		s = filepath.Join(p.base, s)
	}
	return filepath.Clean(s), true
}

type strElem struct {
	name string
	rng  hcl.Range
}

// strList decodes a list of strings, keeping each entry's range when the
// list is written literally.
func (p *parser) strList(a *hcl.Attribute) []strElem {
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		v, ok := p.literal(a.Expr)
		if !ok || v.IsNull() {
			return nil
		}
		l, err := convert.Convert(v, cty.List(cty.String))
		if err != nil || !l.IsWhollyKnown() {
			p.errorf(a.Expr.Range(), "Incorrect attribute value type",
				"%s must be a list of strings, e.g. %s = [\"a\", \"b\"]; got %s.", a.Name, a.Name, v.Type().FriendlyName())
			return nil
		}
		var out []strElem
		for it := l.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				p.errorf(a.Expr.Range(), "Null list entry", "%s must not hold null entries.", a.Name)
				continue
			}
			out = append(out, strElem{e.AsString(), a.Expr.Range()})
		}
		return out
	}
	var out []strElem
	for _, e := range exprs {
		v, ok := p.literal(e)
		if !ok {
			continue
		}
		s, err := convert.Convert(v, cty.String)
		if err != nil || s.IsNull() {
			p.errorf(e.Range(), "Incorrect list entry type",
				"Each entry of %s must be a string, e.g. %s = [\"a\", \"b\"]; got %s.", a.Name, a.Name, v.Type().FriendlyName())
			continue
		}
		out = append(out, strElem{s.AsString(), e.Range()})
	}
	return out
}

func (p *parser) vars(a *hcl.Attribute) map[string]cty.Value {
	v, ok := p.literal(a.Expr)
	if !ok || v.IsNull() {
		return nil
	}
	t := v.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		p.errorf(a.Expr.Range(), "Incorrect attribute value type",
			"vars must be an object of name = value pairs, e.g. vars = { tz = \"UTC\" }; got %s.", t.FriendlyName())
		return nil
	}
	out := map[string]cty.Value{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		out[k.AsString()] = e
	}
	return out
}

// build resolves groups and settings into an Inventory.
func (p *parser) build() *Inventory {
	p.checkGroups()
	if p.diags.HasErrors() {
		return nil
	}
	p.depths()
	members := p.members()

	inv := &Inventory{Groups: map[string]*Group{}, byName: map[string]*Host{}}
	hostGroups := map[string][]*groupEntry{}
	for _, g := range p.groupOrder {
		m := members[g.group.Name]
		g.group.Hosts = make([]string, 0, len(m))
		for _, e := range p.hostOrder {
			if m[e.host.Name] {
				g.group.Hosts = append(g.group.Hosts, e.host.Name)
				hostGroups[e.host.Name] = append(hostGroups[e.host.Name], g)
			}
		}
		inv.Groups[g.group.Name] = g.group
	}
	home, _ := os.UserHomeDir()
	for _, e := range p.hostOrder {
		h := e.host
		h.Address = firstNonEmpty(e.address, h.Name)
		h.User = *firstSet(e.conn.user, p.defaults.user, ptr(DefaultUser))
		h.Port = *firstSet(e.conn.port, p.defaults.port, ptr(DefaultPort))
		if id := firstSet(e.conn.identity, p.defaults.identity); id != nil {
			h.IdentityFile = *id
		}
		if kh := firstSet(e.conn.known, p.defaults.known); kh != nil {
			h.KnownHosts = *kh
		} else if home != "" {
			h.KnownHosts = filepath.Join(home, DefaultKnownHosts[2:])
		}
		h.ConnectTimeout = *firstSet(e.conn.timeout, p.defaults.timeout, ptr(DefaultConnectTimeout))
		h.BecomePassword = *firstSet(e.conn.become, p.defaults.become, ptr(false)) && h.User != "root" && !h.Local
		h.Power = p.power(h, e.conn.power, p.defaults.power)

		gs := hostGroups[h.Name]
		sort.Slice(gs, func(i, j int) bool {
			if gs[i].depth != gs[j].depth {
				return gs[i].depth < gs[j].depth
			}
			return gs[i].group.Name < gs[j].group.Name
		})
		h.Vars = map[string]cty.Value{}
		merge(h.Vars, p.defaults.vars)
		for _, g := range gs {
			h.Groups = append(h.Groups, g.group.Name)
			merge(h.Vars, g.group.Vars)
		}
		merge(h.Vars, e.conn.vars)
		sort.Strings(h.Groups)
		inv.Hosts = append(inv.Hosts, h)
		inv.byName[h.Name] = h
	}
	p.checkPower(inv)
	return inv
}

func merge(dst, src map[string]cty.Value) {
	for k, v := range src {
		dst[k] = v
	}
}

func ptr[T any](v T) *T { return &v }

func firstSet[T any](vs ...*T) *T {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// checkGroups reports names used by both a host and a group, unknown child
// groups and child cycles.
func (p *parser) checkGroups() {
	for _, e := range p.hostOrder {
		g, ok := p.groups[e.host.Name]
		if !ok {
			continue
		}
		if e.fromBlock {
			where := "is the built-in group of every host"
			if g.group.Name != AllGroup {
				where = "is also a group (" + g.group.DeclRange.String() + ")"
			}
			p.errorf(e.host.DeclRange, "Host and group share a name",
				"%q %s; selectors could not tell them apart. Rename the host or the group.", e.host.Name, where)
		} else {
			p.errorf(e.host.DeclRange, "Group listed as a host",
				"%q is a group, not a host. To make its hosts members, list it in children = [%q] instead of hosts.", e.host.Name, e.host.Name)
		}
	}
	names := make([]string, 0, len(p.groups))
	for n := range p.groups {
		names = append(names, n)
	}
	for _, g := range p.groupOrder {
		for _, c := range g.children {
			if _, ok := p.groups[c.name]; !ok {
				p.errorf(c.rng, "Unknown child group",
					"No group %q is declared%s. Declare it with group %q { ... } or remove it from children.", c.name, suggest(c.name, names), c.name)
			}
		}
	}
	p.cycles()
}

// cycles reports every strongly connected set of groups (Tarjan) as one
// diagnostic naming all its groups, placed at the children entry that
// starts the loop.
func (p *parser) cycles() {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var sccs [][]string
	var strong func(n string)
	strong = func(n string) {
		index[n] = len(index)
		low[n] = index[n]
		stack = append(stack, n)
		onStack[n] = true
		for _, c := range p.groups[n].children {
			if _, ok := p.groups[c.name]; !ok {
				continue
			}
			if _, seen := index[c.name]; !seen {
				strong(c.name)
				low[n] = min(low[n], low[c.name])
			} else if onStack[c.name] {
				low[n] = min(low[n], index[c.name])
			}
		}
		if low[n] == index[n] {
			var scc []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				scc = append(scc, m)
				if m == n {
					break
				}
			}
			sccs = append(sccs, scc)
		}
	}
	for _, g := range p.groupOrder {
		if _, seen := index[g.group.Name]; !seen {
			strong(g.group.Name)
		}
	}
	// Report in declaration order of each cycle's first group.
	order := map[string]int{}
	for i, g := range p.groupOrder {
		order[g.group.Name] = i
	}
	var reports [][]string
	for _, scc := range sccs {
		in := map[string]bool{}
		for _, n := range scc {
			in[n] = true
		}
		sort.Slice(scc, func(i, j int) bool { return order[scc[i]] < order[scc[j]] })
		start := scc[0]
		if len(scc) == 1 && !p.hasChild(start, start) {
			continue
		}
		reports = append(reports, append(p.loop(start, in), scc...))
	}
	sort.Slice(reports, func(i, j int) bool { return order[reports[i][0]] < order[reports[j][0]] })
	for _, r := range reports {
		// r holds the loop path (first and last equal), then the set's members.
		n := 1
		for r[n] != r[0] {
			n++
		}
		path, all := r[:n+1], r[n+1:]
		detail := "Group children loop back: " + strings.Join(path, " → ") + "."
		if len(all) > len(path)-1 {
			detail += " Groups in the cycle: " + strings.Join(all, ", ") + "."
		}
		detail += " A group cannot contain itself; remove one of these children entries."
		var rng hcl.Range
		for _, c := range p.groups[path[0]].children {
			if c.name == path[1] {
				rng = c.rng
				break
			}
		}
		p.errorf(rng, "Group cycle", "%s", detail)
	}
}

func (p *parser) hasChild(g, c string) bool {
	for _, x := range p.groups[g].children {
		if x.name == c {
			return true
		}
	}
	return false
}

// loop returns a shortest path start → … → start within the set in.
func (p *parser) loop(start string, in map[string]bool) []string {
	prev := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range p.groups[n].children {
			if !in[c.name] {
				continue
			}
			if c.name == start {
				path := []string{start}
				for m := n; m != start; m = prev[m] {
					path = append(path, m)
				}
				path = append(path, start)
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, seen := prev[c.name]; !seen {
				prev[c.name] = n
				queue = append(queue, c.name)
			}
		}
	}
	return []string{start, start}
}

// depths sets each group's depth: 0 for "all", 1 for a group without
// parents, else one more than its deepest parent. Variables of shallower
// groups are applied first, like Ansible. Groups must be acyclic.
func (p *parser) depths() {
	parents := map[string][]string{}
	for _, g := range p.groupOrder {
		for _, c := range g.children {
			parents[c.name] = append(parents[c.name], g.group.Name)
		}
	}
	done := map[string]bool{}
	var depth func(n string) int
	depth = func(n string) int {
		g := p.groups[n]
		if done[n] {
			return g.depth
		}
		d := 1
		if n == AllGroup {
			d = 0
		}
		for _, par := range parents[n] {
			d = max(d, depth(par)+1)
		}
		g.depth, done[n] = d, true
		return d
	}
	for _, g := range p.groupOrder {
		depth(g.group.Name)
	}
}

// members returns every group's hosts, direct and through children.
func (p *parser) members() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var walk func(n string) map[string]bool
	walk = func(n string) map[string]bool {
		if m, ok := out[n]; ok {
			return m
		}
		g := p.groups[n]
		m := map[string]bool{}
		for h := range g.direct {
			m[h] = true
		}
		for _, c := range g.children {
			for h := range walk(c.name) {
				m[h] = true
			}
		}
		out[n] = m
		return m
	}
	for _, g := range p.groupOrder {
		walk(g.group.Name)
	}
	all := out[AllGroup]
	for _, e := range p.hostOrder {
		all[e.host.Name] = true
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest candidate, or "".
func suggest(name string, candidates []string) string {
	best, bestD := "", 3
	sort.Strings(candidates)
	for _, c := range candidates {
		if d := distance(name, c); d < bestD && d < len(name) {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
