#!/usr/bin/env python3
"""pinery's side-by-side benchmark: pinery, the OpenSSH floor, Ansible, pyinfra
and salt-ssh doing the same work on the same hosts in one run.

    python3 bench/bench.py setup                 install the peers (venvs under /var/cache/pinery-bench)
    python3 bench/bench.py run [options]         run workloads, write bench/results/<stamp>.json
    python3 bench/bench.py report [FILES...]     regenerate docs/performance.md from results
    python3 bench/bench.py sim up N | down       simulated hosts on loopback (W4)

Run it as root with the fleet lock held (`make bench` and `make bench-quick` do
that). Workloads (see docs/performance.md):

    W1  no-op re-apply, fleet hosts x 100 resources (headline)
    W2  first apply of the same (after a cleanup step that is not timed)
    W3  one managed file changed behind the tool's back on every host, re-apply
    W4  fan-out, no-op, 10 resources, on 200 and 500 simulated hosts
    W5  fact gathering alone

The script uses only the standard library; the peers live in their own venvs.
"""

import argparse
import concurrent.futures as cf
import datetime
import glob
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE = os.environ.get("PINERY_BENCH_CACHE", "/var/cache/pinery-bench")
WORK = os.path.join(CACHE, "work")  # generated states, inventories, logs
SIM = os.path.join(CACHE, "sim")  # simulated hosts: sshd configs, keys, logs
SIM_ROOT = "/srv/sim"  # each simulated host manages SIM_ROOT/<name>
FLEET_ROOT = "/srv/bench"  # each fleet host manages this subtree
FLEET_DIR = os.environ.get("FLEET_DIR", os.path.join(REPO, ".fleet"))
RESULTS = os.path.join(HERE, "results")
PINERY = os.path.join(REPO, "bin", "pinery")
VENV = os.path.join(CACHE, "venv")  # ansible-core, mitogen, pyinfra
SALT_VENV = os.path.join(CACHE, "salt-venv")  # salt (its pins clash with the others)
TIME = "/usr/bin/time"
PARALLELISM = 64  # pinery's default, also used for the floor

PKGS = ["openssh-server", "python3", "sudo", "dbus", "systemd-sysv"]  # present in the fleet's base
SVCS = ["ssh", "dpkg-db-backup.timer", "e2scrub_all.timer"]  # running and enabled in the base

SSH_BASE = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd, check=True, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=check, text=True,
                          capture_output=True, **kw)


# ---------------------------------------------------------------------------------------------
# hosts

class Host:
    def __init__(self, name, addr, kind, root, key, known_hosts, port=22):
        self.name, self.addr, self.kind, self.root = name, addr, kind, root
        self.key, self.known_hosts, self.port = key, known_hosts, port

    def ssh(self, command):
        return SSH_BASE + ["-i", self.key, "-o", f"UserKnownHostsFile={self.known_hosts}",
                           "-p", str(self.port), f"root@{self.addr}", command]


def fleet_hosts():
    inv = os.path.join(FLEET_DIR, "inventory.hcl")
    if not os.path.exists(inv):
        sys.exit(f"bench: no fleet inventory at {inv}: bring the fleet up (.ci/fleet.sh up)")
    text = open(inv).read()
    hosts = []
    for m in re.finditer(r'host\s+"([^"]+)"\s*{\s*address\s*=\s*"([^"]+)"\s*groups\s*=\s*\["([^"]+)"\]', text):
        hosts.append(Host(m.group(1), m.group(2), "fleet-" + m.group(3), FLEET_ROOT,
                          os.path.join(FLEET_DIR, "id_ed25519"), os.path.join(FLEET_DIR, "known_hosts")))
    return hosts


def sim_addr(i):  # 1-based; 250 per /24 so that .0 and .255 are never used
    return f"127.0.{1 + (i - 1) // 250}.{1 + (i - 1) % 250}"


def sim_hosts(n):
    return [Host(f"s{i}", sim_addr(i), "sim", f"{SIM_ROOT}/s{i}", os.path.join(SIM, "id_ed25519"),
                 os.path.join(SIM, "known_hosts")) for i in range(1, n + 1)]


# ---------------------------------------------------------------------------------------------
# simulated hosts: sshd listeners on loopback addresses, up to 16 per sshd (sshd's limit)

SIM_SSHD_CONF = """\
# Written by bench/bench.py: one simulated-host sshd, {n} loopback addresses.
Port 22
{listen}
HostKey {sim}/ssh_host_ed25519_key
PidFile {sim}/sshd-{k}.pid
AuthorizedKeysFile {sim}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PrintMotd no
PrintLastLog no
# 500 hosts at parallelism 64..500: never drop a connection before authentication.
MaxStartups 1000:100:1000
MaxSessions 100
LoginGraceTime 60
LogLevel {loglevel}
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
"""


def sim_up(n, loglevel="DEBUG1"):
    """Starts ceil(n/16) sshds. Root's ~/.bashrc on this machine runs pyenv init, which no
    board has and which would add ~0.2 s to every session, so the sshds run in a private mount
    namespace where /root/.bashrc is an empty file (nothing else differs from the machine)."""
    sim_down(quiet=True)
    os.makedirs(SIM, exist_ok=True)
    if not os.path.exists(f"{SIM}/id_ed25519"):
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pinery-bench", "-f", f"{SIM}/id_ed25519"])
    if not os.path.exists(f"{SIM}/ssh_host_ed25519_key"):
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pinery-bench-sim", "-f",
            f"{SIM}/ssh_host_ed25519_key"])
    shutil.copy(f"{SIM}/id_ed25519.pub", f"{SIM}/authorized_keys")
    open(f"{SIM}/bashrc", "w").close()
    hostkey = " ".join(open(f"{SIM}/ssh_host_ed25519_key.pub").read().split()[:2])
    with open(f"{SIM}/known_hosts", "w") as f:
        for i in range(1, n + 1):
            f.write(f"{sim_addr(i)} {hostkey}\n")
    os.makedirs(SIM_ROOT, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)
    groups = [list(range(i, min(i + 16, n + 1))) for i in range(1, n + 1, 16)]
    for k, g in enumerate(groups):
        conf = f"{SIM}/sshd-{k}.conf"
        listen = "\n".join(f"ListenAddress {sim_addr(i)}" for i in g)
        with open(conf, "w") as f:
            f.write(SIM_SSHD_CONF.format(n=len(g), listen=listen, sim=SIM, k=k, loglevel=loglevel))
        logf = f"{SIM}/sshd-{k}.log"
        open(logf, "w").close()
        # sshd daemonizes; its pid is in the PidFile. The namespace lives as long as it does.
        script = (f"mount --bind {SIM}/bashrc /root/.bashrc && "
                  f"exec /usr/sbin/sshd -f {conf} -E {logf}")
        sh(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    with open(f"{SIM}/hosts", "w") as f:
        f.write(str(n))
    # Wait until every address answers.
    deadline = time.time() + 30
    pending = [sim_addr(i) for i in range(1, n + 1)]
    import socket
    while pending and time.time() < deadline:
        left = []
        for a in pending:
            try:
                socket.create_connection((a, 22), timeout=1).close()
            except OSError:
                left.append(a)
        pending = left
        if pending:
            time.sleep(0.2)
    if pending:
        sys.exit(f"bench: simulated hosts not listening: {pending[:5]}... (see {SIM}/sshd-*.log)")
    log(f"sim: {n} hosts on {len(groups)} sshds ({sim_addr(1)}..{sim_addr(n)}), log level {loglevel}")


def sim_down(quiet=False):
    for pidf in glob.glob(f"{SIM}/sshd-*.pid"):
        try:
            pid = int(open(pidf).read().strip())
            # Only our own sshd: its command line names our config.
            cmd = open(f"/proc/{pid}/cmdline").read()
            if SIM in cmd:
                os.kill(pid, 15)
        except (OSError, ValueError):
            pass
        try:
            os.remove(pidf)
        except OSError:
            pass
    for f in glob.glob(f"{SIM}/sshd-*.conf"):
        os.remove(f)
    if os.path.exists(f"{SIM}/hosts"):
        os.remove(f"{SIM}/hosts")
    if not quiet:
        log("sim: down")


def sim_logs_mark():
    return {f: os.path.getsize(f) for f in glob.glob(f"{SIM}/sshd-*.log")}


def sim_logs_since(mark):
    out = []
    for f in glob.glob(f"{SIM}/sshd-*.log"):
        with open(f, "rb") as fh:
            fh.seek(mark.get(f, 0))
            out.append(fh.read().decode(errors="replace"))
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# the workload's resources, one list for every tool

def content_of(k):
    return (f"benchmark file {k}\n" + "".join(f"line {j} of file {k}: the quick brown fox\n" for j in range(6)))


def resources(n, system):
    """n resources per host, paths relative to the host's root. With system, packages and
    services are included (real hosts); simulated hosts share this machine's dpkg and systemd,
    so they get files and directories only."""
    res = [{"t": "dir", "rel": "", "mode": "0755", "id": "root"}]
    if system:
        res += [{"t": "pkg", "name": p, "id": f"pkg{i}"} for i, p in enumerate(PKGS)]
        res += [{"t": "svc", "name": s, "id": f"svc{i}"} for i, s in enumerate(SVCS)]
    res.append({"t": "tmpl", "rel": "app.conf", "mode": "0640", "id": "appconf"})
    left = n - len(res)
    ndirs = left // 10
    k = 0
    for d in range(ndirs):
        res.append({"t": "dir", "rel": f"d{d:02d}", "mode": "0755", "id": f"d{d:02d}"})
    nfiles = left - ndirs
    for k in range(nfiles):
        sub = f"d{k % ndirs:02d}/" if ndirs else ""
        res.append({"t": "file", "rel": f"{sub}f{k:03d}.txt", "mode": "0644" if k % 2 else "0640",
                    "content": content_of(k), "id": f"f{k:03d}"})
    assert len(res) == n, (len(res), n)
    return res


def drift_file(res):
    return next(r for r in res if r["t"] == "file")["rel"]


# The templated config file: the same bytes from every tool's template language.
TMPL_VARS = {"port": 8080, "workers": [1, 2, 3]}


def expected_appconf(h):
    return (f"# managed by the benchmark\nname = {h.name}\nroot = {h.root}\nport = 8080\n"
            "worker 1\nworker 2\nworker 3\n")


PINERY_TMPL = ("# managed by the benchmark\nname = ${name}\nroot = ${root}\nport = ${port}\n"
               "%{ for w in workers ~}\nworker ${w}\n%{ endfor ~}\n")
JINJA_TMPL = ("# managed by the benchmark\nname = {{ name }}\nroot = {{ root }}\nport = {{ port }}\n"
              "{% for w in workers %}worker {{ w }}\n{% endfor %}")


def hcl_str(s):
    return json.dumps(s).replace("${", "$${").replace("%{", "%%{")


def gen_pinery(d, hosts, res):
    site = os.path.join(d, "site")
    os.makedirs(os.path.join(site, "templates"), exist_ok=True)
    open(os.path.join(site, "templates", "app.conf.tmpl"), "w").write(PINERY_TMPL)
    out = []
    for r in res:
        path = "${host.vars.root}" + ("/" + r["rel"] if r.get("rel") else "")
        if r["t"] == "dir":
            out.append(f'directory "{r["id"]}" {{\n  path = "{path}"\n  mode = "{r["mode"]}"\n}}\n')
        elif r["t"] == "file":
            out.append(f'file "{r["id"]}" {{\n  path    = "{path}"\n  content = {hcl_str(r["content"])}\n'
                       f'  mode    = "{r["mode"]}"\n}}\n')
        elif r["t"] == "tmpl":
            out.append(f'file "{r["id"]}" {{\n  path     = "{path}"\n  template = "templates/app.conf.tmpl"\n'
                       f'  vars = {{\n    name    = host.name\n    root    = host.vars.root\n'
                       f'    port    = {TMPL_VARS["port"]}\n    workers = {json.dumps(TMPL_VARS["workers"])}\n  }}\n'
                       f'  mode = "{r["mode"]}"\n}}\n')
        elif r["t"] == "pkg":
            out.append(f'package "{r["id"]}" {{\n  name = "{r["name"]}"\n}}\n')
        elif r["t"] == "svc":
            out.append(f'service "{r["id"]}" {{\n  name    = "{r["name"]}"\n  state   = "running"\n'
                       f'  enabled = true\n}}\n')
    open(os.path.join(site, "main.hcl"), "w").write("\n".join(out))
    inv = ['defaults {', '  user            = "root"', f'  identity_file   = "{hosts[0].key}"',
           f'  known_hosts     = "{hosts[0].known_hosts}"', '  connect_timeout = "30s"', '}', '']
    for h in hosts:
        inv += [f'host "{h.name}" {{', f'  address = "{h.addr}"', f'  vars    = {{ root = "{h.root}" }}', '}', '']
    open(os.path.join(d, "inventory.hcl"), "w").write("\n".join(inv))


def yaml_str(s):
    return json.dumps(s)  # JSON strings are YAML strings


def gen_ansible(d, hosts, res):
    os.makedirs(os.path.join(d, "templates"), exist_ok=True)
    open(os.path.join(d, "templates", "app.conf.j2"), "w").write(JINJA_TMPL)
    lines = ["[bench]"]
    for h in hosts:
        lines.append(f"{h.name} ansible_host={h.addr} root={h.root}")
    h0 = hosts[0]
    lines += ["", "[bench:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={h0.key}",
              "ansible_python_interpreter=/usr/bin/python3",
              f"ansible_ssh_common_args='-F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes "
              f"-o UserKnownHostsFile={h0.known_hosts} -o GlobalKnownHostsFile=/dev/null'"]
    open(os.path.join(d, "inventory.ini"), "w").write("\n".join(lines) + "\n")
    tasks = []
    for r in res:
        path = "{{ root }}" + ("/" + r["rel"] if r.get("rel") else "")
        if r["t"] == "dir":
            tasks.append(f"    - name: {r['id']}\n      ansible.builtin.file:\n        path: \"{path}\"\n"
                         f"        state: directory\n        mode: \"{r['mode']}\"\n")
        elif r["t"] == "file":
            tasks.append(f"    - name: {r['id']}\n      ansible.builtin.copy:\n        dest: \"{path}\"\n"
                         f"        content: {yaml_str(r['content'])}\n        mode: \"{r['mode']}\"\n")
        elif r["t"] == "tmpl":
            tasks.append(f"    - name: {r['id']}\n      ansible.builtin.template:\n        src: templates/app.conf.j2\n"
                         f"        dest: \"{path}\"\n        mode: \"{r['mode']}\"\n      vars:\n"
                         f"        name: \"{{{{ inventory_hostname }}}}\"\n        port: {TMPL_VARS['port']}\n"
                         f"        workers: {json.dumps(TMPL_VARS['workers'])}\n")
        elif r["t"] == "pkg":
            # ansible.builtin.apt needs python3-apt on the target, which the fleet's base (like a
            # minimal Debian) lacks, and cannot install it without apt lists: dpkg_selections is
            # the declarative check that works there (one module run per package, as apt).
            tasks.append(f"    - name: {r['id']}\n      ansible.builtin.dpkg_selections:\n        name: {r['name']}\n"
                         f"        selection: install\n")
        elif r["t"] == "svc":
            tasks.append(f"    - name: {r['id']}\n      ansible.builtin.systemd_service:\n        name: {r['name']}\n"
                         f"        state: started\n        enabled: true\n")
    for gather in (False, True):
        play = (f"- hosts: bench\n  gather_facts: {'true' if gather else 'false'}\n  tasks:\n" + "".join(tasks))
        open(os.path.join(d, "site-facts.yml" if gather else "site.yml"), "w").write(play)
    n = len(hosts)
    cp = os.path.join(d, "cp")
    os.makedirs(cp, exist_ok=True)
    # default: what a new user gets (only the connection settings the fleet requires).
    open(os.path.join(d, "ansible-default.cfg"), "w").write(
        "[defaults]\nhost_key_checking = True\nretry_files_enabled = False\n")
    # tuned: Ansible's documented speed-ups (forks >= hosts, pipelining, persistent
    # connections, no fact gathering in the no-op play).
    tuned = (f"[defaults]\nforks = {n}\nhost_key_checking = True\nretry_files_enabled = False\n"
             f"internal_poll_interval = 0.001\n"
             f"[ssh_connection]\npipelining = True\n"
             f"ssh_args = -o ControlMaster=auto -o ControlPersist=300s\ncontrol_path_dir = {cp}\n")
    open(os.path.join(d, "ansible-tuned.cfg"), "w").write(tuned)
    mitogen = os.path.join(VENV, "lib", "python3.11", "site-packages", "ansible_mitogen", "plugins", "strategy")
    open(os.path.join(d, "ansible-mitogen.cfg"), "w").write(
        tuned.replace("[defaults]\n", f"[defaults]\nstrategy_plugins = {mitogen}\nstrategy = mitogen_linear\n"))


def gen_pyinfra(d, hosts, res):
    os.makedirs(os.path.join(d, "templates"), exist_ok=True)
    open(os.path.join(d, "templates", "app.conf.j2"), "w").write(JINJA_TMPL)
    h0 = hosts[0]
    lines = ["hosts = ["]
    for h in hosts:
        lines.append(f"    ({h.name!r}, {{'ssh_hostname': {h.addr!r}, 'root': {h.root!r}}}),")
    lines += ["]", "", f"hosts_data = {{'ssh_user': 'root', 'ssh_key': {h0.key!r}, "
                       f"'ssh_known_hosts_file': {h0.known_hosts!r}, 'ssh_strict_host_key_checking': 'yes'}}",
              "hosts = (hosts, hosts_data)"]
    open(os.path.join(d, "inventory.py"), "w").write("\n".join(lines) + "\n")
    ops = ["from io import StringIO", "from pyinfra import host", "from pyinfra.operations import apt, files, systemd",
           "", "root = host.data.root", ""]
    for r in res:
        path = "root" + (f" + {('/' + r['rel'])!r}" if r.get("rel") else "")
        if r["t"] == "dir":
            ops.append(f"files.directory(name={r['id']!r}, path={path}, mode={r['mode']!r})")
        elif r["t"] == "file":
            ops.append(f"files.put(name={r['id']!r}, src=StringIO({r['content']!r}), dest={path}, mode={r['mode']!r})")
        elif r["t"] == "tmpl":
            ops.append(f"files.template(name={r['id']!r}, src='templates/app.conf.j2', dest={path}, "
                       f"mode={r['mode']!r}, name_=host.name, root=root, port={TMPL_VARS['port']}, "
                       f"workers={TMPL_VARS['workers']!r})")
        elif r["t"] == "pkg":
            ops.append(f"apt.packages(name={r['id']!r}, packages=[{r['name']!r}])")
        elif r["t"] == "svc":
            ops.append(f"systemd.service(name={r['id']!r}, service={r['name']!r}, running=True, enabled=True)")
    open(os.path.join(d, "deploy.py"), "w").write("\n".join(ops) + "\n")
    # pyinfra's template passes keyword arguments to jinja; `name` is the operation's own name.
    open(os.path.join(d, "templates", "app.conf.j2"), "w").write(JINJA_TMPL.replace("{{ name }}", "{{ name_ }}"))
    facts = ["from pyinfra import host", "from pyinfra.facts.server import Arch, Hostname, Kernel, LinuxDistribution, Os",
             "from pyinfra.facts.hardware import Memory, Cpus",
             "for f in (Arch, Hostname, Kernel, LinuxDistribution, Os, Memory, Cpus):", "    host.get_fact(f)"]
    open(os.path.join(d, "facts.py"), "w").write("\n".join(facts) + "\n")


def gen_salt(d, hosts, res):
    states = os.path.join(d, "states")
    os.makedirs(states, exist_ok=True)
    os.makedirs(os.path.join(d, "etc"), exist_ok=True)
    open(os.path.join(states, "app.conf.j2"), "w").write(JINJA_TMPL)
    h0 = hosts[0]
    roster = []
    for h in hosts:
        roster.append(f"{h.name}:\n  host: {h.addr}\n  user: root\n  priv: {h0.key}\n"
                      f"  thin_dir: /var/tmp/pinery-bench-salt-{h.name}\n"
                      f"  set_path: /usr/sbin:/usr/bin:/sbin:/bin\n")
    open(os.path.join(d, "etc", "roster"), "w").write("".join(roster))
    n = len(hosts)
    open(os.path.join(d, "etc", "master"), "w").write(textwrap.dedent(f"""\
        root_dir: {d}/run
        cachedir: {d}/run/cache
        pki_dir: {d}/run/pki
        sock_dir: {d}/run/sock
        log_file: {d}/run/master.log
        file_roots:
          base: [{states}]
        pillar_roots:
          base: [{d}/pillar]
        roster_file: {d}/etc/roster
        known_hosts_file: {h0.known_hosts}
        ssh_max_procs: {n}
        ssh_log_file: {d}/run/ssh.log
        ssh_minion_opts:
          gather_job_timeout: 60
        """))
    os.makedirs(os.path.join(d, "pillar"), exist_ok=True)
    open(os.path.join(d, "pillar", "top.sls"), "w").write("base:\n  '*': []\n")
    open(os.path.join(states, "top.sls"), "w").write("base:\n  '*':\n    - bench\n")
    sls = ["{% set root = '" + SIM_ROOT + "/' ~ grains['id'] if grains['id'].startswith('s') else '"
           + FLEET_ROOT + "' %}"]
    for r in res:
        path = "{{ root }}" + ("/" + r["rel"] if r.get("rel") else "")
        if r["t"] == "dir":
            sls.append(f"{r['id']}:\n  file.directory:\n    - name: \"{path}\"\n    - mode: \"{r['mode']}\"\n")
        elif r["t"] == "file":
            sls.append(f"{r['id']}:\n  file.managed:\n    - name: \"{path}\"\n    - contents: {yaml_str(r['content'])}\n"
                       f"    - mode: \"{r['mode']}\"\n")
        elif r["t"] == "tmpl":
            sls.append(f"{r['id']}:\n  file.managed:\n    - name: \"{path}\"\n    - source: salt://app.conf.j2\n"
                       f"    - template: jinja\n    - mode: \"{r['mode']}\"\n    - context:\n"
                       f"        name: {{{{ grains['id'] }}}}\n        root: \"{{{{ root }}}}\"\n"
                       f"        port: {TMPL_VARS['port']}\n        workers: {json.dumps(TMPL_VARS['workers'])}\n")
        elif r["t"] == "pkg":
            sls.append(f"{r['id']}:\n  pkg.installed:\n    - name: {r['name']}\n")
        elif r["t"] == "svc":
            sls.append(f"{r['id']}:\n  service.running:\n    - name: {r['name']}\n    - enable: True\n")
    open(os.path.join(states, "bench.sls"), "w").write("\n".join(sls))


def generate(d, hosts, res):
    shutil.rmtree(d, ignore_errors=True)
    for tool, fn in (("pinery", gen_pinery), ("ansible", gen_ansible), ("pyinfra", gen_pyinfra), ("salt", gen_salt)):
        sub = os.path.join(d, tool)
        os.makedirs(sub, exist_ok=True)
        fn(sub, hosts, res)
    with open(os.path.join(d, "resources.json"), "w") as f:
        json.dump({"hosts": [h.name for h in hosts], "resources": res}, f, indent=1)


# ---------------------------------------------------------------------------------------------
# measuring

class Counters:
    """Bytes sent to port 22 of the fleet and of the simulated hosts (iptables OUTPUT counters:
    IP packets including headers), and SSH connections and sessions counted from sshd's logs
    (LogLevel DEBUG1: 'Accepted publickey' per connection, 'server_input_channel_open: ctype
    session' per command session)."""

    CHAIN = "PINERY_BENCH"

    def __init__(self, hosts):
        self.hosts = hosts
        self.sim = hosts[0].kind == "sim"
        self.iptables = shutil.which("iptables") is not None
        if self.iptables:
            sh(f"iptables -N {self.CHAIN} 2>/dev/null; iptables -F {self.CHAIN}; "
               f"iptables -C OUTPUT -j {self.CHAIN} 2>/dev/null || iptables -I OUTPUT -j {self.CHAIN}", check=False)
            sh(["iptables", "-A", self.CHAIN, "-p", "tcp", "--dport", "22", "-d",
                "127.0.0.0/8" if self.sim else "10.231.0.0/24"], check=False)

    def bytes(self):
        if not self.iptables:
            return None
        out = sh(["iptables", "-L", self.CHAIN, "-vnx"], check=False).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) > 2 and f[0].isdigit():
                return int(f[1])
        return None

    def mark(self):
        return {"bytes": self.bytes(), "t": time.time(), "sim": sim_logs_mark() if self.sim else None}

    def since(self, m):
        b = self.bytes()
        out = {"bytes_per_host": round((b - m["bytes"]) / len(self.hosts)) if b is not None and m["bytes"] is not None else None}
        if self.sim:
            text = sim_logs_since(m["sim"])
        else:
            time.sleep(1.0)  # let journald catch up
            text = fleet_journal(self.hosts, m["t"], time.time())
        conns = len(re.findall(r"Accepted publickey for", text))
        sess = len(re.findall(r"server_input_channel_open: ctype session", text))
        n = len(self.hosts)
        out.update(connections_per_host=round(conns / n, 2), sessions_per_host=round(sess / n, 2))
        return out

    def close(self):
        if self.iptables:
            sh(f"iptables -D OUTPUT -j {self.CHAIN}; iptables -F {self.CHAIN}; iptables -X {self.CHAIN}", check=False)


def fleet_pid1(name):
    r = sh(["bash", os.path.join(REPO, ".ci", "fleet.sh"), "pid1", name], check=False)
    return r.stdout.strip()


def fleet_journal(hosts, t0, t1):
    def one(h):
        pid = fleet_pid1(h.name)
        if not pid:
            return ""
        r = sh(["nsenter", "-t", pid, "-a", "journalctl", "-q", "-o", "cat", "--since", f"@{t0:.3f}",
                "--until", f"@{t1:.3f}", "_COMM=sshd"], check=False)
        return r.stdout
    with cf.ThreadPoolExecutor(8) as ex:
        return "".join(ex.map(one, hosts))


def fleet_sshd_debug(hosts, on):
    """LogLevel DEBUG1 on the fleet's sshds while the benchmark runs (to count sessions), removed
    afterwards; sshd re-reads its configuration on reload, connections are not cut."""
    def one(h):
        pid = fleet_pid1(h.name)
        conf = "/etc/ssh/sshd_config.d/zz-pinery-bench.conf"
        cmd = (f"printf 'LogLevel DEBUG1\\n' > {conf}" if on else f"rm -f {conf}") + " && systemctl reload ssh"
        sh(["nsenter", "-t", pid, "-a", "sh", "-c", cmd], check=False)
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, hosts))
    # sshd re-executes itself on reload; under qemu-user that takes a while, and connections are
    # refused meanwhile: wait until every host answers again.
    deadline = time.time() + 120
    left = hosts
    while left and time.time() < deadline:
        fails = {f[0] for f in parallel_ssh(left, lambda h: "true")}
        left = [h for h in left if h.name in fails]
        if left:
            time.sleep(1)
    if left:
        log(f"sshd did not come back after reload on {[h.name for h in left]}")


def run_timed(cmd, cwd=None, env=None, logfile=None):
    """Runs cmd under /usr/bin/time -v: wall seconds, controller CPU seconds (user+sys of the
    tool and every process it waited for), peak RSS (of the largest single process), exit code."""
    tf = tempfile.NamedTemporaryFile(prefix="bench-time-", delete=False)
    tf.close()
    full = [TIME, "-v", "-o", tf.name] + cmd
    t0 = time.monotonic()
    with open(logfile or os.devnull, "w") as out:
        p = subprocess.run(full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    tv = open(tf.name).read()
    os.unlink(tf.name)
    def field(name):
        m = re.search(re.escape(name) + r": ([0-9.]+)", tv)
        return float(m.group(1)) if m else None
    return {"wall": round(wall, 3), "cpu": round((field("User time (seconds)") or 0) + (field("System time (seconds)") or 0), 2),
            "rss_mb": round((field("Maximum resident set size (kbytes)") or 0) / 1024, 1), "rc": p.returncode}


def parallel_ssh(hosts, command_of, parallelism=PARALLELISM):
    """One OpenSSH connection per host running command_of(h), `parallelism` at a time."""
    fails = []
    def one(h):
        r = subprocess.run(h.ssh(command_of(h)), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            fails.append((h.name, r.returncode, r.stderr.strip()[-200:]))
    with cf.ThreadPoolExecutor(parallelism) as ex:
        list(ex.map(one, hosts))
    return fails


def floor_command(h, res):
    """The physical limit: one stat over every managed path and one sha256sum over every file."""
    paths = [h.root + ("/" + r["rel"] if r["rel"] else "") for r in res if r["t"] in ("dir", "file", "tmpl")]
    files = [h.root + "/" + r["rel"] for r in res if r["t"] in ("file", "tmpl")]
    return ("stat -c '%a %u %g %s %n' " + " ".join(shlex.quote(p) for p in paths) +
            " && sha256sum " + " ".join(shlex.quote(p) for p in files))


FACTS_FLOOR = "uname -srm; cat /etc/os-release; nproc; grep -E 'MemTotal|MemAvailable' /proc/meminfo; hostname"


def run_floor(hosts, command_of):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    fails = parallel_ssh(hosts, command_of)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"wall": round(wall, 3), "cpu": round(cpu, 2), "rss_mb": None, "rc": 1 if fails else 0,
            "errors": fails[:3]}


# ---------------------------------------------------------------------------------------------
# tools

def venv_env(venv):
    env = dict(os.environ)
    env["PATH"] = os.path.join(venv, "bin") + ":/usr/sbin:/usr/bin:/sbin:/bin"
    env.pop("PYTHONPATH", None)
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCAL_TEMP"] = os.path.join(WORK, "ansible-tmp")
    env["ANSIBLE_HOME"] = os.path.join(WORK, "ansible-home")
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "False"
    return env


class Tool:
    name = "?"
    max_runs = None  # cap on runs per workload for very slow tools (stated in the report)

    def available(self):
        return True

    def version(self):
        return ""

    def apply(self, d, hosts):  # -> (cmd, cwd, env)
        raise NotImplementedError

    def facts(self, d, hosts):
        return None

    def changed(self, output):
        return None

    def end_run(self, env):
        pass


class Pinery(Tool):
    name = "pinery"

    def available(self):
        return os.access(PINERY, os.X_OK)

    def version(self):
        return sh([PINERY, "version"], check=False).stdout.strip()

    def apply(self, d, hosts):
        p = os.path.join(d, "pinery")
        return [PINERY, "apply", "--no-color", "--auto-approve", "--stats", "-i", f"{p}/inventory.hcl", f"{p}/site"], None, None

    def facts(self, d, hosts):
        p = os.path.join(d, "pinery")
        return [PINERY, "facts", "--json", "-i", f"{p}/inventory.hcl"], None, None

    def changed(self, output):
        n = len(re.findall(r"^\S+: \S+ changed", output, re.M))
        return n


class Ansible(Tool):
    def __init__(self, flavour, debian=False):
        self.flavour, self.debian = flavour, debian
        self.name = ("ansible-debian" if debian else "ansible") + ("" if flavour == "tuned" else "-" + flavour)
        self.bin = "/usr/bin/ansible-playbook" if debian else os.path.join(VENV, "bin", "ansible-playbook")

    def available(self):
        if not os.access(self.bin, os.X_OK):
            return False
        if self.flavour == "mitogen":
            return os.path.isdir(os.path.join(VENV, "lib", "python3.11", "site-packages", "ansible_mitogen"))
        return True

    def version(self):
        v = sh([self.bin, "--version"], check=False, env=venv_env(VENV)).stdout.splitlines()
        out = v[0] if v else "?"
        if self.flavour == "mitogen":
            out += ", mitogen " + pip_version(VENV, "mitogen")
        return out

    def env(self, d):
        env = venv_env(VENV) if not self.debian else venv_env("/nonexistent")
        env["ANSIBLE_CONFIG"] = os.path.join(d, "ansible", f"ansible-{self.flavour}.cfg")
        # Every run starts cold, like pinery's: a fresh ControlPersist directory per run (the
        # masters of the previous run are closed by end_run).
        cp = tempfile.mkdtemp(prefix="cp-", dir=os.path.join(d, "ansible"))
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = cp
        return env

    def end_run(self, env):
        cp = (env or {}).get("ANSIBLE_SSH_CONTROL_PATH_DIR")
        if not cp:
            return
        for sock in glob.glob(os.path.join(cp, "*")):
            subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "dummy"],
                           capture_output=True)
        shutil.rmtree(cp, ignore_errors=True)

    def apply(self, d, hosts):
        a = os.path.join(d, "ansible")
        play = "site-facts.yml" if self.flavour == "default" else "site.yml"
        return [self.bin, "-i", f"{a}/inventory.ini", f"{a}/{play}"], a, self.env(d)

    def facts(self, d, hosts):
        a = os.path.join(d, "ansible")
        adhoc = self.bin.replace("ansible-playbook", "ansible")
        return [adhoc, "-i", f"{a}/inventory.ini", "bench", "-m", "ansible.builtin.setup"], a, self.env(d)

    def changed(self, output):
        ms = re.findall(r"changed=(\d+)", output)
        return sum(int(x) for x in ms) if ms else None


class Pyinfra(Tool):
    name = "pyinfra"

    def available(self):
        return os.access(os.path.join(VENV, "bin", "pyinfra"), os.X_OK)

    def version(self):
        return sh([os.path.join(VENV, "bin", "pyinfra"), "--version"], check=False, env=venv_env(VENV)).stdout.strip()

    def apply(self, d, hosts):
        p = os.path.join(d, "pyinfra")
        return [os.path.join(VENV, "bin", "pyinfra"), "-y", "--parallel", str(len(hosts)), "inventory.py", "deploy.py"], p, venv_env(VENV)

    def facts(self, d, hosts):
        p = os.path.join(d, "pyinfra")
        return [os.path.join(VENV, "bin", "pyinfra"), "-y", "--parallel", str(len(hosts)), "inventory.py", "facts.py"], p, venv_env(VENV)

    def changed(self, output):
        # Results table: "Grand total  HOSTS  SUCCESS  ERROR  NO-CHANGE"; Success counts changes.
        m = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
        if m:
            return 0 if m.group(2) == "-" else int(m.group(2))
        return None


class Salt(Tool):
    name = "salt-ssh"

    def available(self):
        return os.access(os.path.join(SALT_VENV, "bin", "salt-ssh"), os.X_OK)

    def version(self):
        return sh([os.path.join(SALT_VENV, "bin", "salt-ssh"), "--version"], check=False, env=venv_env(SALT_VENV)).stdout.strip()

    def apply(self, d, hosts):
        s = os.path.join(d, "salt")
        return [os.path.join(SALT_VENV, "bin", "salt-ssh"), "-c", f"{s}/etc", "--max-procs", str(len(hosts)),
                "--no-color", "--state-output=terse", "*", "state.apply"], s, venv_env(SALT_VENV)

    def facts(self, d, hosts):
        s = os.path.join(d, "salt")
        return [os.path.join(SALT_VENV, "bin", "salt-ssh"), "-c", f"{s}/etc", "--max-procs", str(len(hosts)),
                "--no-color", "*", "grains.items"], s, venv_env(SALT_VENV)

    def changed(self, output):
        if not re.search(r"^Succeeded: \d+", output, re.M):
            return None
        return sum(int(x) for x in re.findall(r"^Succeeded: \d+ \(changed=(\d+)\)", output, re.M))


def pip_version(venv, pkg):
    r = sh([os.path.join(venv, "bin", "python"), "-c",
            f"import importlib.metadata as m; print(m.version({pkg!r}))"], check=False)
    return r.stdout.strip() or "not installed"


ALL_TOOLS = {
    "pinery": Pinery(),
    "ansible": Ansible("tuned"),
    "ansible-default": Ansible("default"),
    "ansible-mitogen": Ansible("mitogen"),
    "ansible-debian": Ansible("tuned", debian=True),
    "pyinfra": Pyinfra(),
    "salt-ssh": Salt(),
}


# ---------------------------------------------------------------------------------------------
# workloads

def cleanup(hosts):
    """Removes every host's managed subtree (untimed): the next apply is a first apply."""
    if hosts[0].kind == "sim":
        for h in hosts:
            shutil.rmtree(h.root, ignore_errors=True)
        return
    fails = parallel_ssh(hosts, lambda h: f"rm -rf --one-file-system {shlex.quote(h.root)}")
    if fails:
        log(f"cleanup failed on {fails}")


def drift(hosts, rel):
    """Changes one managed file behind the tool's back on every host (untimed)."""
    if hosts[0].kind == "sim":
        for h in hosts:
            with open(os.path.join(h.root, rel), "a") as f:
                f.write("drift\n")
        return
    parallel_ssh(hosts, lambda h: f"echo drift >> {shlex.quote(h.root + '/' + rel)}")


def verify(hosts, res, sample=3):
    """Checks on a few hosts that the last apply produced exactly the desired files."""
    problems = []
    for h in hosts[:: max(1, len(hosts) // sample)][:sample]:
        want = {}
        for r in res:
            if r["t"] == "file":
                want[r["rel"]] = r["content"]
            elif r["t"] == "tmpl":
                want[r["rel"]] = expected_appconf(h)
        cmd = "cd " + shlex.quote(h.root) + " && for f in " + " ".join(shlex.quote(k) for k in want) + \
              "; do printf '%s\\n' \"== $f $(stat -c %a \"$f\")\"; base64 -w0 \"$f\"; echo; done"
        if h.kind == "sim":
            out = sh(["sh", "-c", cmd], check=False).stdout
        else:
            out = subprocess.run(h.ssh(cmd), capture_output=True, text=True).stdout
        got = {}
        import base64
        lines = out.splitlines()
        for i in range(0, len(lines) - 1, 2):
            m = re.match(r"== (\S+) (\d+)", lines[i])
            if m:
                got[m.group(1)] = (m.group(2), base64.b64decode(lines[i + 1]).decode(errors="replace"))
        for rel, content in want.items():
            if rel not in got:
                problems.append(f"{h.name}:{rel} missing")
            elif got[rel][1] != content:
                problems.append(f"{h.name}:{rel} content differs")
        if len(problems) > 5:
            break
    return problems[:5]


def measure(tool, label, cmd_spec, counters, count, logdir, prepare=None):
    """One timed run (prepare() first, untimed). With count, connections, sessions and bytes are
    taken from the same run."""
    if prepare:
        prepare()
    cmd, cwd, env = cmd_spec
    m = counters.mark() if count else None
    logfile = os.path.join(logdir, f"{tool.name}-{label}.log")
    r = run_timed(cmd, cwd=cwd, env=env, logfile=logfile)
    if count:
        r.update(counters.since(m))
    out = open(logfile, errors="replace").read()
    r["changed"] = tool.changed(out) if tool.name != "floor" else None
    if tool.name == "pinery":
        st = re.findall(r"^\S+: (\d+) connections?, (\d+) sessions?$", out, re.M)
        if st:
            r["pinery_stats"] = {"connections_max": max(int(a) for a, _ in st), "sessions_max": max(int(b) for _, b in st)}
    if r["rc"] != 0:
        r["error_tail"] = out[-600:]
    tool.end_run(env)
    return r


def summarize(runs):
    ok = [r for r in runs if r["rc"] == 0]
    s = {"runs": len(runs), "ok": len(ok)}
    if ok:
        walls = [r["wall"] for r in ok]
        s["median"] = round(statistics.median(walls), 3)
        s["min"], s["max"] = min(walls), max(walls)
        s["cpu"] = round(statistics.median(r["cpu"] for r in ok), 2)
        rss = [r["rss_mb"] for r in ok if r.get("rss_mb")]
        s["rss_mb"] = max(rss) if rss else None
        for k in ("connections_per_host", "sessions_per_host", "bytes_per_host"):
            vals = [r[k] for r in ok if r.get(k) is not None]
            if vals:
                s[k] = vals[0]
        ch = [r["changed"] for r in ok if r.get("changed") is not None]
        if ch:
            s["changed"] = ch[-1]
        ps = [r["pinery_stats"] for r in ok if r.get("pinery_stats")]
        if ps:
            s["pinery_stats"] = ps[-1]
    return s


def run_workloads(args, tools, hosts, res, wls, d, logdir, results, host_desc):
    counters = Counters(hosts)
    drel = drift_file(res)
    try:
        for tool in tools:
            cap = args.max_runs.get(tool.name, args.runs)
            if "W4" in wls:
                runs = []
                # converge first (untimed), so that every timed run is a no-op
                if tool.name != "floor" and (not args.no_converge or tool.name in args.converge):
                    measure(tool, "W4-converge", tool.apply(d, hosts), counters, False, logdir)
                for i in range(cap):
                    if tool.name == "floor":
                        runs.append(counters_floor(counters, hosts, lambda h: floor_command(h, res), i == 0))
                    else:
                        runs.append(measure(tool, f"W4-{i}", tool.apply(d, hosts), counters, i == 0, logdir))
                record(results, f"W4-{len(hosts)}", tool, runs, host_desc, res, args)
                continue
            if "W2" in wls:
                runs = []
                for i in range(cap if tool.name != "floor" else 0):
                    runs.append(measure(tool, f"W2-{i}", tool.apply(d, hosts), counters, i == 0, logdir,
                                        prepare=lambda: cleanup(hosts)))
                if runs:
                    probs = verify(hosts, res)
                    record(results, "W2", tool, runs, host_desc, res, args, problems=probs)
            if "W1" in wls:
                if "W2" not in wls and tool.name != "floor" and (not args.no_converge or tool.name in args.converge):
                    measure(tool, "W1-converge", tool.apply(d, hosts), counters, False, logdir)
                runs = []
                for i in range(cap):
                    if tool.name == "floor":
                        runs.append(counters_floor(counters, hosts, lambda h: floor_command(h, res), i == 0))
                    else:
                        runs.append(measure(tool, f"W1-{i}", tool.apply(d, hosts), counters, i == 0, logdir))
                record(results, "W1", tool, runs, host_desc, res, args,
                       problems=verify(hosts, res) if tool.name != "floor" else None)
            if "W3" in wls and tool.name != "floor":
                runs = []
                for i in range(cap):
                    runs.append(measure(tool, f"W3-{i}", tool.apply(d, hosts), counters, i == 0, logdir,
                                        prepare=lambda: drift(hosts, drel)))
                record(results, "W3", tool, runs, host_desc, res, args, problems=verify(hosts, res))
            if "W5" in wls:
                runs = []
                for i in range(cap):
                    if tool.name == "floor":
                        runs.append(counters_floor(counters, hosts, lambda h: FACTS_FLOOR, i == 0))
                    else:
                        spec = tool.facts(d, hosts)
                        if spec is None:
                            break
                        runs.append(measure(tool, f"W5-{i}", spec, counters, i == 0, logdir))
                if runs:
                    record(results, "W5", tool, runs, host_desc, res, args)
    finally:
        counters.close()


class FloorTool(Tool):
    name = "floor"

    def version(self):
        return sh(["ssh", "-V"], check=False).stderr.strip()


def counters_floor(counters, hosts, command_of, count):
    m = counters.mark() if count else None
    r = run_floor(hosts, command_of)
    if count:
        r.update(counters.since(m))
    return r


def record(results, wl, tool, runs, host_desc, res, args, problems=None):
    s = summarize(runs)
    s["hosts"] = host_desc
    s["resources_per_host"] = len(res)
    if problems:
        s["verify_problems"] = problems
    results["workloads"].setdefault(wl, {})[tool.name] = {"summary": s, "runs": runs}
    log(f"{wl} {tool.name}: median {s.get('median')} s over {s['ok']}/{s['runs']} runs, cpu {s.get('cpu')} s, "
        f"rss {s.get('rss_mb')} MB, conn/host {s.get('connections_per_host')}, sess/host {s.get('sessions_per_host')}, "
        f"bytes/host {s.get('bytes_per_host')}, changed {s.get('changed')}" + (f", PROBLEMS {problems}" if problems else ""))
    save(results, args.out)


def save(results, out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(out + ".tmp", out)


def machine_info():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) // 1024
    osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?', open("/etc/os-release").read(), re.M))
    return {"nproc": os.cpu_count(), "mem_mb": mem, "cpu": cpu, "kernel": platform.release(),
            "os": osr.get("PRETTY_NAME", "?")}


def converge_with_pinery(d, hosts, logdir):
    if Pinery().available():
        r = run_timed(Pinery().apply(d, hosts)[0], logfile=os.path.join(logdir, "converge-pinery.log"))
        log(f"converged with pinery (untimed, {r['wall']} s, rc {r['rc']})")


def cmd_run(args):
    args.converge = set(args.converge.split(","))
    args.max_runs = {k: int(v) for k, v in (x.split("=") for x in args.max_runs.split(",") if x)}
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    wls = set(args.workloads.split(","))
    names = args.tools.split(",")
    tools = []
    for n in names:
        if n == "floor":
            tools.append(FloorTool())
            continue
        t = ALL_TOOLS.get(n)
        if t is None:
            sys.exit(f"bench: unknown tool {n} (known: floor, {', '.join(ALL_TOOLS)})")
        tools.append(t)
    results = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine_info(), "argv": sys.argv[1:], "runs_requested": args.runs,
               "versions": {}, "unavailable": {}, "workloads": {}}
    for t in tools:
        if t.available():
            results["versions"][t.name] = t.version()
        else:
            results["unavailable"][t.name] = "not installed (python3 bench/bench.py setup)"
            log(f"{t.name}: not available, skipped")
    tools = [t for t in tools if t.available()]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out = args.out or os.path.join(RESULTS, f"{stamp}.json")
    logdir = os.path.join(WORK, "logs", stamp)
    os.makedirs(logdir, exist_ok=True)
    log(f"results: {args.out}; tool logs: {logdir}")

    fleet_wls = wls & {"W1", "W2", "W3", "W5"}
    if fleet_wls:
        hosts = fleet_hosts()
        if args.fleet_hosts:
            hosts = hosts[: args.fleet_hosts]
        res = resources(args.resources, system=True)
        d = os.path.join(WORK, "fleet")
        generate(d, hosts, res)
        arch = {}
        for h in hosts:
            arch[h.kind] = arch.get(h.kind, 0) + 1
        desc = {"kind": "fleet", "count": len(hosts), "by_kind": arch}
        log(f"fleet: {len(hosts)} hosts {arch}, {len(res)} resources each; workloads {sorted(fleet_wls)}")
        fleet_sshd_debug(hosts, True)
        try:
            if args.no_converge and "W2" not in fleet_wls:
                converge_with_pinery(d, hosts, logdir)
            run_workloads(args, tools, hosts, res, fleet_wls, d, logdir, results, desc)
            if not args.keep:
                cleanup(hosts)
        finally:
            fleet_sshd_debug(hosts, False)
    if "W4" in wls:
        for n in [int(x) for x in args.sim.split(",") if x]:
            sim_up(n)
            try:
                hosts = sim_hosts(n)
                res = resources(10, system=False)
                d = os.path.join(WORK, f"sim{n}")
                generate(d, hosts, res)
                desc = {"kind": "sim", "count": n, "by_kind": {"sim": n}}
                if args.no_converge:
                    converge_with_pinery(d, hosts, logdir)
                for t in tools:
                    if t.name in args.skip_w4.split(","):
                        continue
                    run_workloads(args, [t], hosts, res, {"W4"}, d, logdir, results, desc)
                cleanup(hosts)
            finally:
                sim_down()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    save(results, args.out)
    log(f"done: {args.out}")


# ---------------------------------------------------------------------------------------------
# setup

def cmd_setup(args):
    """Installs the peers. Each step may fail; the run then reports the peer as unavailable."""
    os.makedirs(CACHE, exist_ok=True)
    status = {}
    def step(name, cmd):
        log(f"setup: {name}")
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
        status[name] = "ok" if r.returncode == 0 else "failed: " + (r.stderr or r.stdout).strip()[-300:]
        log(f"setup: {name}: {status[name][:200]}")
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        step("venv", f"python3 -m venv {VENV} && {VENV}/bin/pip install -q --upgrade pip")
    step("ansible-core, pyinfra", f"{VENV}/bin/pip install -q ansible-core pyinfra")
    step("mitogen", f"{VENV}/bin/pip install -q mitogen")
    if not os.path.exists(os.path.join(SALT_VENV, "bin", "python")):
        step("salt venv", f"python3 -m venv {SALT_VENV} && {SALT_VENV}/bin/pip install -q --upgrade pip")
    step("salt", f"{SALT_VENV}/bin/pip install -q salt")
    step("debian ansible", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ansible")
    step("iptables, time", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables time")
    with open(os.path.join(CACHE, "setup.json"), "w") as f:
        json.dump(status, f, indent=1)


# ---------------------------------------------------------------------------------------------
# report

def cmd_report(args):
    import report
    # scale-*.json (bench/scale.py) have their own section, written by scale_report.py.
    files = args.files or sorted(f for f in glob.glob(os.path.join(RESULTS, "*.json"))
                                 if not os.path.basename(f).startswith("scale-"))
    report.write(files, args.output)
    log(f"wrote {args.output} from {len(files)} result file(s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup")
    r = sub.add_parser("run")
    r.add_argument("--workloads", default="W2,W1,W3,W5,W4")
    r.add_argument("--tools", default="pinery,floor,ansible,ansible-mitogen,ansible-debian,pyinfra,salt-ssh")
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--resources", type=int, default=100)
    r.add_argument("--fleet-hosts", type=int, default=0, help="use only the first N fleet hosts")
    r.add_argument("--sim", default="200,500", help="simulated host counts for W4")
    r.add_argument("--skip-w4", default="", help="tools to leave out of W4 (too slow at that size)")
    r.add_argument("--out", default="")
    r.add_argument("--keep", action="store_true", help="leave the managed files on the fleet")
    r.add_argument("--max-runs", default="", help="per-tool run caps for slow peers: ansible=1,salt-ssh=3")
    r.add_argument("--no-converge", action="store_true",
                   help="W1/W4: converge once with pinery only (every tool writes the same bytes), not with each tool")
    r.add_argument("--converge", default="salt-ssh",
                   help="with --no-converge, tools that still get their own untimed first run (salt-ssh: its first "
                        "contact deploys the salt thin tarball to the host)")
    s = sub.add_parser("sim")
    s.add_argument("action", choices=["up", "down"])
    s.add_argument("n", type=int, nargs="?", default=16)
    rp = sub.add_parser("report")
    rp.add_argument("files", nargs="*")
    rp.add_argument("--output", default=os.path.join(REPO, "docs", "performance.md"))
    args = ap.parse_args()
    if args.cmd == "setup":
        cmd_setup(args)
    elif args.cmd == "run":
        cmd_run(args)
    elif args.cmd == "sim":
        sim_up(args.n) if args.action == "up" else sim_down()
    elif args.cmd == "report":
        sys.path.insert(0, HERE)
        cmd_report(args)


if __name__ == "__main__":
    main()
