package homeserver_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestRouting reads the nginx configuration the role writes with workers
// and routes request paths through it as nginx does (regular-expression
// locations in order, the first match wins; else the prefix location /):
// the endpoints of Synapse's worker documentation reach the workers, with
// syncs by user and pagination by room, and the rest the main process.
func TestRouting(t *testing.T) {
	_, files, errs := evalRole(t, 4096, workersOn)
	if errs != "" {
		t.Fatal(errs)
	}
	type location struct {
		re       *regexp.Regexp
		upstream string
	}
	var locs []location
	loc := regexp.MustCompile(`^\s*location ~ (\S+) \{ proxy_pass http://(\S+); \}$`)
	conf := files["role.hs.file.nginx[0]"]
	for _, l := range strings.Split(conf, "\n") {
		if m := loc.FindStringSubmatch(l); m != nil {
			locs = append(locs, location{regexp.MustCompile(m[1]), m[2]})
		}
	}
	if len(locs) < 30 || !strings.Contains(conf, "\n        location / {\n            proxy_pass http://synapse_main;\n") {
		t.Fatalf("%d regular-expression locations, or no main location:\n%s", len(locs), conf)
	}
	route := func(path string) string {
		for _, l := range locs {
			if l.re.MatchString(path) {
				return l.upstream
			}
		}
		return "synapse_main"
	}
	for path, want := range map[string]string{
		"/_matrix/client/v3/sync":                                        "synapse_sync",
		"/_matrix/client/r0/sync":                                        "synapse_sync",
		"/_matrix/client/v3/events":                                      "synapse_sync",
		"/_matrix/client/v3/rooms/!a:example.org/initialSync":            "synapse_sync",
		"/_matrix/client/v3/rooms/!a:example.org/messages":               "synapse_room",
		"/_matrix/client/v3/rooms/!a:example.org/send/m.room.message/t1": "synapse_room",
		"/_matrix/client/v3/rooms/!a:example.org/state/m.room.name/":     "synapse_room",
		"/_matrix/client/v3/rooms/!a:example.org/join":                   "synapse_room",
		"/_matrix/client/v3/rooms/!a:example.org/state":                  "synapse_workers",
		"/_matrix/client/v3/rooms/!a:example.org/members":                "synapse_workers",
		"/_matrix/client/v3/rooms/!a:example.org/receipt/m.read/$e":      "synapse_workers",
		"/_matrix/client/v3/createRoom":                                  "synapse_workers",
		"/_matrix/client/versions":                                       "synapse_workers",
		"/_matrix/client/v3/login":                                       "synapse_workers",
		"/_matrix/client/v3/register":                                    "synapse_workers",
		"/_matrix/client/v3/account/whoami":                              "synapse_workers",
		"/_matrix/client/v3/keys/query":                                  "synapse_workers",
		"/_matrix/client/v3/keys/upload/dev":                             "synapse_workers",
		"/_matrix/client/v3/user/@a:example.org/account_data/m.direct":   "synapse_workers",
		"/_matrix/client/v3/profile/@a:example.org/displayname":          "synapse_workers",
		"/_matrix/client/v3/pushrules/":                                  "$pushrules",
		"/_matrix/federation/v1/send/1234":                               "synapse_origin",
		"/_matrix/federation/v1/event/$e":                                "synapse_workers",
		"/_matrix/federation/v2/send_join/!a:example.org/$e":             "synapse_workers",
		"/_matrix/key/v2/query":                                          "synapse_workers",
		"/_matrix/client/versionsx":                                      "synapse_main",
		"/_matrix/client/v3/sync/x":                                      "synapse_main",
		"/_matrix/client/v3/rooms/!a:example.org/typing/@a:example.org":  "synapse_main",
		"/_matrix/client/v3/sendToDevice/m.room.encrypted/t1":            "synapse_main",
		"/_matrix/client/v3/logout":                                      "synapse_main",
		"/_matrix/media/v3/upload":                                       "synapse_main",
		"/_matrix/key/v2/server":                                         "synapse_main",
		"/_synapse/admin/v1/register":                                    "synapse_main",
		"/.well-known/matrix/server":                                     "synapse_main",
		"/health":                                                        "synapse_main",
	} {
		if got := route(path); got != want {
			t.Errorf("%s goes to %s, want %s", path, got, want)
		}
	}
}
