package inventory

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// unameArch maps GOARCH to what uname -m may print.
var unameArch = map[string][]string{
	"amd64":   {"x86_64"},
	"arm64":   {"aarch64", "arm64"},
	"arm":     {"armv6l", "armv7l", "armv8l", "arm"},
	"386":     {"i386", "i486", "i586", "i686"},
	"riscv64": {"riscv64"},
	"ppc64le": {"ppc64le"},
	"s390x":   {"s390x"},
	"loong64": {"loongarch64"},
}

func TestFactsScriptRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the facts script targets Linux")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	// A banner before the script's output, as a login shell might print.
	out, err := exec.CommandContext(ctx, "sh", "-c", "echo 'Welcome to board 7'; "+FactsScript()).Output()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	f, err := ParseFacts(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range factKeys {
		if _, ok := f[k]; !ok {
			t.Errorf("fact %s missing", k)
		}
	}
	if len(f) != len(factKeys) {
		t.Errorf("got %d facts, want %d: %v", len(f), len(factKeys), f)
	}
	if want, ok := unameArch[runtime.GOARCH]; ok && !contains(want, f["arch"]) {
		t.Errorf("arch = %q, want one of %v for GOARCH %s", f["arch"], want, runtime.GOARCH)
	}
	if n, _ := strconv.Atoi(f["memory_mb"]); n <= 0 {
		t.Errorf("memory_mb = %q", f["memory_mb"])
	}
	if n, _ := strconv.Atoi(f["cpu_count"]); n <= 0 || n > 4096 {
		t.Errorf("cpu_count = %q", f["cpu_count"])
	}
	if f["hostname"] == "" || f["fqdn"] == "" || f["kernel"] == "" {
		t.Errorf("empty hostname, fqdn or kernel: %v", f)
	}
	if ip := f["primary_ipv4"]; ip != "" && strings.Count(ip, ".") != 3 {
		t.Errorf("primary_ipv4 = %q", ip)
	}
	if f["init"] == "" {
		t.Errorf("init is empty")
	}
	// Every Linux machine has a root; the facts must say what it is, and
	// list it among the mounts.
	if f["root_fs"] == "" || f["root_source"] == "" || (f["root_network"] != "true" && f["root_network"] != "false") {
		t.Errorf("root_fs %q, root_source %q, root_network %q", f["root_fs"], f["root_source"], f["root_network"])
	}
	if !strings.HasPrefix(f["mounts"], "/ "+f["root_fs"]+" ") && !strings.Contains(f["mounts"], "; / "+f["root_fs"]+" ") {
		t.Errorf("mounts %q do not list / as %s", f["mounts"], f["root_fs"])
	}
	for _, noise := range []string{" proc ", " sysfs ", " cgroup2 ", " devpts ", "/proc", "/sys"} {
		if strings.Contains(f["mounts"], noise) {
			t.Errorf("mounts list %q: %s", noise, f["mounts"])
		}
	}
	if strings.Contains(" "+f["disks"], " loop") || strings.Contains(" "+f["disks"], " zram") {
		t.Errorf("disks list loop or zram devices: %s", f["disks"])
	}
	v := f.Value()
	if !v.GetAttr("memory_mb").Type().Equals(cty.Number) || !v.GetAttr("arch").Type().Equals(cty.String) {
		t.Errorf("Value types: %#v", v)
	}
	t.Logf("facts: %v", f)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const goodFacts = "--pinery-facts--\nhostname=sopine01\nfqdn=sopine01.lan\nos_id=debian\nkernel=6.1.0\narch=aarch64\ncpu_count=4\nmemory_mb=1985\nboard_model=Pine64 SOPINE\n--pinery-facts-end--\n"

func TestParseFacts(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    map[string]string // a subset to check
		wantErr string
	}{
		{name: "good", out: goodFacts, want: map[string]string{"hostname": "sopine01", "board_model": "Pine64 SOPINE", "memory_mb": "1985"}},
		{name: "banner and trailing output", out: "Last login: today\nhostname=evil\n" + goodFacts + "probe=1\nnot a fact\n",
			want: map[string]string{"hostname": "sopine01"}},
		{name: "CRLF", out: strings.ReplaceAll(goodFacts, "\n", "\r\n"), want: map[string]string{"arch": "aarch64"}},
		{name: "value with =", out: strings.Replace(goodFacts, "os_id=debian", "os_id=a=b", 1), want: map[string]string{"os_id": "a=b"}},
		{name: "empty value", out: strings.Replace(goodFacts, "os_id=debian", "os_id=", 1), want: map[string]string{"os_id": ""}},
		{name: "blank lines", out: strings.Replace(goodFacts, "kernel=", "\n\nkernel=", 1), want: map[string]string{"kernel": "6.1.0"}},
		{name: "no start marker", out: "sh: 1: not found\n", wantErr: `start marker --pinery-facts-- not found; output began with "sh: 1: not found"`},
		{name: "empty output", out: "", wantErr: "start marker"},
		{name: "truncated", out: strings.TrimSuffix(goodFacts, "--pinery-facts-end--\n"), wantErr: "end marker"},
		{name: "line without =", out: strings.Replace(goodFacts, "os_id=debian", "os_id debian", 1), wantErr: `line 4 has no '='`},
		{name: "bad key", out: strings.Replace(goodFacts, "os_id=", "OS ID=", 1), wantErr: "invalid key"},
		{name: "empty key", out: strings.Replace(goodFacts, "os_id=", "=", 1), wantErr: "invalid key"},
		{name: "duplicate", out: strings.Replace(goodFacts, "os_id=debian", "arch=x", 1), wantErr: "arch appears twice"},
		{name: "missing hostname", out: strings.Replace(goodFacts, "hostname=sopine01\n", "", 1), wantErr: "required fact hostname is missing"},
		{name: "missing arch", out: strings.Replace(goodFacts, "arch=aarch64\n", "", 1), wantErr: "required fact arch is missing"},
		{name: "empty arch", out: strings.Replace(goodFacts, "arch=aarch64", "arch=", 1), wantErr: "required fact arch is empty"},
		{name: "bad number", out: strings.Replace(goodFacts, "memory_mb=1985", "memory_mb=lots", 1), wantErr: "memory_mb=\"lots\" is not a positive"},
		{name: "zero cpus", out: strings.Replace(goodFacts, "cpu_count=4", "cpu_count=0", 1), wantErr: "cpu_count"},
		{name: "mounts", out: strings.Replace(goodFacts, "os_id=debian", "mounts=/ nfs4 10.0.0.1:/srv/sopine01; /boot vfat /dev/mmcblk0p1", 1),
			want: map[string]string{"mounts": "/ nfs4 10.0.0.1:/srv/sopine01; /boot vfat /dev/mmcblk0p1"}},
		{name: "mount without source", out: strings.Replace(goodFacts, "os_id=debian", "mounts=/ ext4", 1), wantErr: `mounts entry "/ ext4" does not have 3 fields`},
		{name: "mounts, doubled blank", out: strings.Replace(goodFacts, "os_id=debian", "mounts=/  ext4 x", 1), wantErr: "mounts entry"},
		{name: "mounts, empty entry", out: strings.Replace(goodFacts, "os_id=debian", "mounts=/ ext4 x; ", 1), wantErr: "mounts entry"},
		{name: "disk size", out: strings.Replace(goodFacts, "os_id=debian", "disks=mmcblk0 lots 0 1", 1), wantErr: "disks entry"},
		{name: "disk flag", out: strings.Replace(goodFacts, "os_id=debian", "disks=sda 100 2 0", 1), wantErr: "disks entry"},
		{name: "root_network", out: strings.Replace(goodFacts, "os_id=debian", "root_network=yes", 1), wantErr: `root_network="yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFacts([]byte(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrFacts) {
					t.Fatalf("got %v, %v; want error containing %q", f, err, tt.wantErr)
				}
				if f != nil {
					t.Error("facts returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if f[k] != v {
					t.Errorf("%s = %q, want %q", k, f[k], v)
				}
			}
		})
	}
}

func TestFactsValue(t *testing.T) {
	f, err := ParseFacts([]byte(goodFacts))
	if err != nil {
		t.Fatal(err)
	}
	f["extra"] = "x"
	v := f.Value()
	for k, want := range map[string]cty.Value{
		"hostname":     cty.StringVal("sopine01"),
		"cpu_count":    cty.NumberIntVal(4),
		"memory_mb":    cty.NumberIntVal(1985),
		"dpkg_arch":    cty.StringVal(""), // not gathered: present and empty
		"extra":        cty.StringVal("x"),
		"primary_ipv4": cty.StringVal(""),
	} {
		if got := v.GetAttr(k); !got.RawEquals(want) {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	f = Facts{"root_network": "true", "root_fs": "nfs4",
		"mounts": `/ nfs4 10.0.0.1:/srv/a\073b; /srv/my\040data ext4 /dev/sda1`,
		"disks":  "sda 238475 1 0; mmcblk0 14910 0 1"}
	v = f.Value()
	for k, want := range map[string]cty.Value{
		"root_network": cty.True,
		"root_fs":      cty.StringVal("nfs4"),
		"root_source":  cty.StringVal(""),
		"mounts": cty.ListVal([]cty.Value{
			cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal("/"), "fs": cty.StringVal("nfs4"), "source": cty.StringVal("10.0.0.1:/srv/a;b")}),
			cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal("/srv/my data"), "fs": cty.StringVal("ext4"), "source": cty.StringVal("/dev/sda1")}),
		}),
		"disks": cty.ListVal([]cty.Value{
			cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("sda"), "size_mb": cty.NumberIntVal(238475), "rotational": cty.True, "removable": cty.False}),
			cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("mmcblk0"), "size_mb": cty.NumberIntVal(14910), "rotational": cty.False, "removable": cty.True}),
		}),
	} {
		if got := v.GetAttr(k); !got.RawEquals(want) {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	empty := Facts{}.Value()
	if !empty.GetAttr("root_network").RawEquals(cty.NullVal(cty.Bool)) || empty.GetAttr("mounts").LengthInt() != 0 || empty.GetAttr("disks").LengthInt() != 0 {
		t.Errorf("empty structured facts: %#v", empty)
	}
	if !empty.GetAttr("memory_mb").RawEquals(cty.NullVal(cty.Number)) || !empty.GetAttr("hostname").RawEquals(cty.StringVal("")) {
		t.Errorf("empty facts: %#v", empty)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:         "plain",
		`a\040b`:        "a b",
		`tab\011x`:      "tab\tx",
		`back\134slash`: `back\slash`,
		`semi\073`:      "semi;",
		`\04`:           `\04`,    // too short: kept
		`\400`:          `\400`,   // above a byte: kept
		`\08x`:          `\08x`,   // not octal: kept
		`\377`:          "\uFFFD", // not UTF-8
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
