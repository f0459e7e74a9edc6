package inventory

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one slice of a set of hosts, for a CI matrix of N runners that
// each apply their own: "I/N", I from 1 to N.
type Shard struct{ I, N int }

// ParseShard reads "I/N"; "" is no sharding (the zero Shard).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("%q is not I/N with 1 <= I <= N, e.g. --shard 2/4", s)
	}
	return Shard{i, n}, nil
}

// Of keeps the hosts of this shard. A host's shard depends on its name
// only, so it stays in its shard when hosts are added or removed (no
// reshuffle of the rest) and every runner agrees without talking.
func (s Shard) Of(hosts []*Host) []*Host {
	if s.N <= 1 {
		return hosts
	}
	var out []*Host
	for _, h := range hosts {
		f := fnv.New32a()
		f.Write([]byte(h.Name))
		if int(f.Sum32()%uint32(s.N)) == s.I-1 {
			out = append(out, h)
		}
	}
	return out
}

func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}
