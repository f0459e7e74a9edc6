// Package all links every shipped resource type into the binary: adding a
// module means adding its folder and one line here.
package all

import (
	_ "github.com/pinery/pinery/modules/apt_repo"
	_ "github.com/pinery/pinery/modules/apt_source"
	_ "github.com/pinery/pinery/modules/archive"
	_ "github.com/pinery/pinery/modules/build"
	_ "github.com/pinery/pinery/modules/capture"
	_ "github.com/pinery/pinery/modules/cron"
	_ "github.com/pinery/pinery/modules/directory"
	_ "github.com/pinery/pinery/modules/exec"
	_ "github.com/pinery/pinery/modules/file"
	_ "github.com/pinery/pinery/modules/git"
	_ "github.com/pinery/pinery/modules/group"
	_ "github.com/pinery/pinery/modules/line"
	_ "github.com/pinery/pinery/modules/mount"
	_ "github.com/pinery/pinery/modules/pkg"
	_ "github.com/pinery/pinery/modules/postgres_database"
	_ "github.com/pinery/pinery/modules/postgres_role"
	_ "github.com/pinery/pinery/modules/python_venv"
	_ "github.com/pinery/pinery/modules/reboot"
	_ "github.com/pinery/pinery/modules/service"
	_ "github.com/pinery/pinery/modules/symlink"
	_ "github.com/pinery/pinery/modules/sysctl"
	_ "github.com/pinery/pinery/modules/systemd_unit"
	_ "github.com/pinery/pinery/modules/user"
	_ "github.com/pinery/pinery/modules/wait_for"
	_ "github.com/pinery/pinery/modules/zram_swap"
)
