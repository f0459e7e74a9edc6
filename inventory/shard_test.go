package inventory

import (
	"fmt"
	"testing"
)

func TestShards(t *testing.T) {
	var hosts []*Host
	for i := 0; i < 200; i++ {
		hosts = append(hosts, &Host{Name: fmt.Sprintf("sopine%03d", i)})
	}
	seen := map[string]int{}
	for i := 1; i <= 4; i++ {
		part := Shard{i, 4}.Of(hosts)
		if len(part) < 30 || len(part) > 70 {
			t.Errorf("shard %d/4 has %d of 200 hosts: badly balanced", i, len(part))
		}
		for _, h := range part {
			seen[h.Name]++
		}
	}
	if len(seen) != 200 {
		t.Errorf("the shards cover %d of 200 hosts", len(seen))
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%s is in %d shards", n, c)
		}
	}
	// Adding hosts moves none of the others.
	before := map[string]bool{}
	for _, h := range (Shard{2, 4}).Of(hosts[:100]) {
		before[h.Name] = true
	}
	for _, h := range (Shard{2, 4}).Of(hosts) {
		if idx := h.Name; before[idx] {
			delete(before, idx)
		}
	}
	if len(before) != 0 {
		t.Errorf("hosts left shard 2/4 when others were added: %v", before)
	}
	for _, bad := range []string{"0/4", "5/4", "2", "a/b", "1/0", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if s, err := ParseShard("3/8"); err != nil || s != (Shard{3, 8}) || s.String() != "3/8" {
		t.Errorf("ParseShard(3/8) = %v, %v", s, err)
	}
}
