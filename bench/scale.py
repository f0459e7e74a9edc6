#!/usr/bin/env python3
"""make bench-scale: does pinery stay linear up to 2,000 hosts? (issue 10)

    python3 bench/scale.py run [--sizes 250,500,1000,2000] [--runs 3] [--only push,ingest,pull]
    python3 bench/scale.py report          regenerate docs/performance.md (bench.py report)

Three parts, each point run --runs times (the median is reported):

  push    simulated hosts (bench.py's sim: sshds on loopback addresses, 16 per sshd)
          at each size; a no-op `pinery plan` and `pinery apply --auto-approve` of W4's
          10-resource site, at pinery's default parallelism; wall time, controller CPU,
          peak RSS, the machine's CPU, connections and sessions per host (--stats)
  ingest  pull reports of as many boards into a fresh PostgreSQL database (pgtest's
          server, started and removed here), 64 boards at a time, through the backend
          API a pull uses; then `pinery status` over them
  pull    local-transport `pinery pull` runs of one small signed bundle, each as its own
          host with its own state dir and directory, 8 at a time, reporting to the same
          PostgreSQL

Raw numbers go to bench/results/scale-<stamp>.json; bench/scale_report.py turns the
newest such file into the "Scale: 2,000 hosts" section of docs/performance.md. Needs root
(sshd on loopback addresses, PostgreSQL run as its own user). Cleans up its simulated
hosts, PostgreSQL and scratch directories, also when interrupted.
"""

import argparse
import concurrent.futures as cf
import contextlib
import datetime
import fcntl
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (bench.py: the sim, the W4 site, run_timed)

REPO = bench.REPO
PINERY = os.environ.get("PINERY_BIN", bench.PINERY)
WORK = os.path.join(bench.WORK, "scale")
PULL_ROOT = "/srv/sim-pull"  # each pulled "host" writes PULL_ROOT/<name>
STATS_RE = re.compile(r"^\S+: (\d+) connections?, (\d+) sessions?$", re.M)
log = bench.log


def median(xs):
    return round(statistics.median(xs), 3) if xs else None


def machine_cpu():
    """Busy CPU seconds of the whole machine so far (every process: pinery, the sshds and
    their shells, and whatever else runs here)."""
    f = open("/proc/stat").readline().split()[1:]
    idle = int(f[3]) + int(f[4])
    return (sum(int(x) for x in f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(cmd, logfile, env=None):
    c0 = machine_cpu()
    r = bench.run_timed(cmd, env=env, logfile=logfile)
    r["machine_cpu"] = round(machine_cpu() - c0, 2)
    return r


@contextlib.contextmanager
def local_host():
    """This machine as a host, held (waiting) the way tests of other packages hold it
    (fleettest.HoldLocalHost): an apply that changes a local or loopback host takes the
    machine's one host lock, /var/lib/pinery/lock, and would refuse theirs, or they ours."""
    with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "pinery-local-host.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def build_scaledb():
    out = os.path.join(WORK, "scaledb")
    subprocess.run(["go", "build", "-o", out, "./bench/cmd/scaledb"], cwd=REPO, check=True)
    return out


class Postgres:
    """pgtest's throwaway server through `scaledb serve`; it stops when our end of its stdin
    closes, so it also goes away when this script dies."""

    def __init__(self, scaledb, dbs):
        self.p = subprocess.Popen([scaledb, "serve", "-dbs", str(dbs)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line:
            self.p.wait()
            sys.exit("bench-scale: PostgreSQL did not start (is the postgresql package installed?)")
        self.urls = json.loads(line)["urls"]

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=120)


# ---------------------------------------------------------------------------------------------
# push: plan and apply on simulated hosts

def push_run(kind, d, logfile):
    cmd = [PINERY, kind, "--no-color", "--stats", "-i", f"{d}/inventory.hcl", f"{d}/site"]
    if kind == "apply":
        cmd.insert(2, "--auto-approve")
    mark = bench.sim_logs_mark()
    r = timed(cmd, logfile)
    text = bench.sim_logs_since(mark)
    out = open(logfile, errors="replace").read()
    st = [(int(a), int(b)) for a, b in STATS_RE.findall(out)]
    r["stats_hosts"] = len(st)
    if st:
        r["conn_max"], r["sess_max"] = max(a for a, _ in st), max(b for _, b in st)
        r["conn_mean"] = round(sum(a for a, _ in st) / len(st), 3)
        r["sess_mean"] = round(sum(b for _, b in st) / len(st), 3)
    r["sshd_connections"] = len(re.findall(r"Accepted publickey for", text))
    r["sshd_sessions"] = len(re.findall(r"server_input_channel_open: ctype session", text))
    if kind == "plan":  # what it would change: 0 for a no-op
        r["changed"] = sum(int(x) for m in re.findall(r"^Plan: (\d+) to create, (\d+) to change, (\d+) to remove, (\d+) to run",
                                                      out, re.M) for x in m)
    else:
        r["changed"] = len(re.findall(r"^\S+: \S+ changed", out, re.M))
    if r["rc"] != 0:
        r["error_tail"] = out[-600:]
    return r


def summarize(runs, n):
    ok = [r for r in runs if r["rc"] == 0]
    s = {"hosts": n, "runs": len(runs), "ok": len(ok)}
    if not ok:
        return s
    s["wall"] = median([r["wall"] for r in ok])
    s["cpu"] = median([r["cpu"] for r in ok])
    s["machine_cpu"] = median([r["machine_cpu"] for r in ok])
    s["rss_mb"] = max(r["rss_mb"] for r in ok)
    s["ms_per_host"] = round(1000 * s["wall"] / n, 2)
    for k in ("conn_max", "sess_max", "stats_hosts", "changed"):
        s[k] = max(r.get(k, 0) for r in ok)
    for k in ("conn_mean", "sess_mean"):
        s[k] = median([r[k] for r in ok if k in r])
    return s


def push(args, results, logdir):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results["push_setup"] = {
        "parallelism": bench.PARALLELISM, "hosts_per_sshd": 16, "resources_per_host": 10,
        "nofile": hard, "pid_max": int(open("/proc/sys/kernel/pid_max").read()),
        "sshd": "UsePAM no, MaxStartups 1000:100:1000, MaxSessions 100, LogLevel DEBUG1"}
    out = results.setdefault("push", {})
    for n in args.sizes:
        bench.sim_up(n)
        try:
            hosts = bench.sim_hosts(n)
            d = os.path.join(WORK, f"push{n}")
            shutil.rmtree(d, ignore_errors=True)
            bench.gen_pinery(d, hosts, bench.resources(10, system=False))
            # The first apply changes every host, so it takes the host lock, which all simulated
            # hosts share with this machine: hold the machine as tests do (fleettest.LocalHostLock).
            # A second pass finishes hosts whose first one failed: simulated hosts of one run share
            # that lock, and releasing it races between them (see docs/performance.md).
            with local_host():
                for i in range(2):
                    first = timed([PINERY, "apply", "--no-color", "--auto-approve", "-i", f"{d}/inventory.hcl", f"{d}/site"],
                                  os.path.join(logdir, f"push{n}-converge-{i}.log"))
                    log(f"push {n}: converge pass {i + 1} (untimed) in {first['wall']} s, rc {first['rc']}")
                    if first["rc"] == 0:
                        break
            for kind in ("plan", "apply"):
                runs = [push_run(kind, d, os.path.join(logdir, f"push{n}-{kind}-{i}.log")) for i in range(args.runs)]
                s = summarize(runs, n)
                out[f"{kind}-{n}"] = {"summary": s, "runs": runs}
                log(f"push {n} {kind}: {s.get('wall')} s ({s.get('ms_per_host')} ms/host), cpu {s.get('cpu')} s, "
                    f"machine cpu {s.get('machine_cpu')} s, rss {s.get('rss_mb')} MB, conn/sess max "
                    f"{s.get('conn_max')}/{s.get('sess_max')}, changed {s.get('changed')}, ok {s['ok']}/{s['runs']}")
                save(results, args.out)
            for h in hosts:
                shutil.rmtree(h.root, ignore_errors=True)
        finally:
            bench.sim_down()


# ---------------------------------------------------------------------------------------------
# ingest: pull reports into PostgreSQL, then pinery status

def status_run(url, site, n, logfile):
    env = dict(os.environ, PINERY_BACKEND=url)  # not on the command line: it holds a password
    r = timed([PINERY, "status", "--no-color", site], logfile, env=env)
    rows = [l for l in open(logfile, errors="replace").read().splitlines()[1:] if l.strip()]
    r["rows"] = len(rows)
    if r["rc"] != 0 or r["rows"] != n:
        r["problem"] = f"rc {r['rc']}, {r['rows']} rows for {n} hosts"
    return r


def ingest_one(scaledb, url, site, n, runs, reuse):
    cmd = [scaledb, "ingest", "-url", url, "-site-dir", site, "-hosts", str(n), "-runs", str(runs), "-writers", "64"]
    if reuse:
        cmd.append("-reuse")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench-scale: ingest failed: {p.stderr.strip()[-400:]}")
    return json.loads(p.stdout)


def ingest(args, results, logdir, scaledb, pg, site):
    out = results.setdefault("ingest", {})
    urls = iter(pg.urls)
    points = [(n, 1, False) for n in args.sizes] + [(n, 1, True) for n in args.sizes]
    points.append((max(args.sizes), args.history, True))  # the same boards after many reports each
    for n, runs, reuse in points:
        reps = []
        for i in range(args.runs if runs == 1 else 1):
            url = next(urls)
            r = ingest_one(scaledb, url, site, n, runs, reuse)
            st = [status_run(url, site, n, os.path.join(logdir, f"status-{n}x{runs}-{i}-{j}.log")) for j in range(3)]
            r["status"] = st
            r["status_wall"] = median([x["wall"] for x in st])
            if r["status_rows"] != n or any(x.get("problem") for x in st):
                r["problem"] = f"Status gave {r['status_rows']} rows; pinery status: {[x.get('problem') for x in st]}"
            reps.append(r)
        key = f"{'reuse' if reuse else 'open'}-{n}x{runs}"
        s = {"hosts": n, "reports_per_host": runs, "reuse": reuse, "reps": len(reps),
             "reports": reps[0]["ingest"]["reports"],
             "reports_per_second": median([r["ingest"]["reports_per_second"] for r in reps]),
             "seconds": median([r["ingest"]["seconds"] for r in reps]),
             "p50_ms": median([r["ingest"]["report_p50_ms"] for r in reps]),
             "p95_ms": median([r["ingest"]["report_p95_ms"] for r in reps]),
             "status_query_s": median([r["status_query_s"] for r in reps]),
             "status_wall": median([r["status_wall"] for r in reps]),
             "status_rss_mb": max(x["rss_mb"] for r in reps for x in r["status"]),
             "problems": [r["problem"] for r in reps if r.get("problem")]}
        out[key] = {"summary": s, "reps": reps}
        log(f"ingest {key}: {s['reports']} reports at {s['reports_per_second']:.0f}/s (p95 {s['p95_ms']} ms); "
            f"status query {s['status_query_s']} s, pinery status {s['status_wall']} s" +
            (f"; PROBLEMS {s['problems']}" if s["problems"] else ""))
        save(results, args.out)


# ---------------------------------------------------------------------------------------------
# pull: local-transport pinery pull runs of one bundle

PULL_SITE = """\
directory "root" {
  path = host.vars.root
  mode = "0755"
}

file "motd" {
  path       = "${host.vars.root}/motd"
  content    = "pulled by ${host.name}\\n"
  mode       = "0644"
  depends_on = [directory.root]
}

file "app" {
  path       = "${host.vars.root}/app.conf"
  content    = "name = ${host.name}\\nport = 8080\\n"
  mode       = "0640"
  depends_on = [directory.root]
}
"""


def pull_name(i):
    return f"p{i:04d}"


def pull_bundle(d, n):
    """A 3-resource site, an inventory of n hosts, one bundle for all of them, signed."""
    os.makedirs(os.path.join(d, "site"), exist_ok=True)
    open(os.path.join(d, "site", "main.hcl"), "w").write(PULL_SITE)
    inv = [f'host "{pull_name(i)}" {{\n  address = "127.0.0.1"\n  vars    = {{ root = "{PULL_ROOT}/{pull_name(i)}" }}\n}}\n'
           for i in range(1, n + 1)]
    open(os.path.join(d, "inventory.hcl"), "w").write("\n".join(inv))
    key = os.path.join(d, "sign.key")
    if not os.path.exists(key):
        bench.sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench-scale", "-f", key])
    r = bench.sh([PINERY, "bundle", "-i", f"{d}/inventory.hcl", "--signing-key", key, "--version", "1.0",
                  "-o", f"{d}/bundle.tar.gz", f"{d}/site"], check=False)
    if r.returncode != 0:
        sys.exit(f"bench-scale: pinery bundle failed: {r.stderr.strip()[-400:]}")
    return f"{d}/bundle.tar.gz", key + ".pub"


def pull_reset(d, n):
    shutil.rmtree(os.path.join(d, "state"), ignore_errors=True)
    shutil.rmtree(os.path.join(d, "lib"), ignore_errors=True)
    for i in range(1, n + 1):
        shutil.rmtree(os.path.join(PULL_ROOT, pull_name(i)), ignore_errors=True)


def pull(args, results, logdir, pg):
    url = pg.urls[-1]
    d = os.path.join(WORK, "pull")
    shutil.rmtree(d, ignore_errors=True)
    nmax = max(args.pulls)
    bundle_file, pub = pull_bundle(d, nmax)
    env = dict(os.environ, PINERY_BACKEND=url)
    out = results.setdefault("pull", {})
    os.makedirs("/var/lib/pinery", exist_ok=True)  # the mount point of each pull's own

    def one(i, rep):
        h = pull_name(i)
        # Each pull is a board of its own: its own host lock (/var/lib/pinery, bound to a
        # directory of its own in a private mount namespace), state dir and managed directory.
        lib = os.path.join(d, "lib", h)
        os.makedirs(lib, exist_ok=True)
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$1" /var/lib/pinery && shift && exec "$@"', "sh", lib,
               PINERY, "pull", "--no-color", "--trusted-key", pub, "--host", h,
               "--state-dir", os.path.join(d, "state", h), bundle_file]
        lf = os.path.join(logdir, f"pull-{h}.log")
        r = bench.run_timed(cmd, env=env, logfile=lf)
        text = open(lf, errors="replace").read()
        r["changed"] = len(re.findall(rf"^{h}: \S+ changed$", text, re.M))
        r["warning"] = "Warning:" in text
        if r["rc"] != 0:
            r["error_tail"] = text[-400:]
        return r

    try:
        for n in args.pulls:
            reps = []
            for rep in range(args.runs):
                pull_reset(d, n)
                c0, t0 = machine_cpu(), time.monotonic()
                with cf.ThreadPoolExecutor(args.pull_concurrency) as ex:
                    runs = list(ex.map(lambda i: one(i, rep), range(1, n + 1)))
                wall = time.monotonic() - t0
                walls = sorted(r["wall"] for r in runs)
                reps.append({"wall": round(wall, 3), "machine_cpu": round(machine_cpu() - c0, 2),
                             "ok": sum(r["rc"] == 0 and r["changed"] == 3 and not r["warning"] for r in runs),
                             "run_p50": median(walls), "run_p95": walls[min(len(walls) - 1, int(0.95 * len(walls)))],
                             "run_cpu": median([r["cpu"] for r in runs]), "run_rss_mb": max(r["rss_mb"] for r in runs),
                             "errors": [r["error_tail"] for r in runs if r.get("error_tail")][:2]})
            # Every host of the last round shows its pull in pinery status.
            st = status_run(url, os.path.join(d, "site"), n, os.path.join(logdir, f"pull-status-{n}.log"))
            rows = open(os.path.join(logdir, f"pull-status-{n}.log")).read()
            pulled = len(re.findall(r"^p\d{4} +pull \d+ .* 1\.0 +converged +3 ", rows, re.M))
            s = {"runs": n, "concurrency": args.pull_concurrency, "reps": len(reps),
                 "ok": min(r["ok"] for r in reps), "wall": median([r["wall"] for r in reps]),
                 "runs_per_second": round(n / median([r["wall"] for r in reps]), 2),
                 "ms_per_run": round(1000 * median([r["wall"] for r in reps]) / n, 1),
                 "run_p50": median([r["run_p50"] for r in reps]), "run_p95": median([r["run_p95"] for r in reps]),
                 "run_cpu": median([r["run_cpu"] for r in reps]), "run_rss_mb": max(r["run_rss_mb"] for r in reps),
                 "machine_cpu": median([r["machine_cpu"] for r in reps]),
                 "status_pulled": pulled, "status_wall": st["wall"]}
            out[f"pull-{n}"] = {"summary": s, "reps": reps}
            log(f"pull {n}: {s['wall']} s ({s['ms_per_run']} ms/run, {s['runs_per_second']}/s), run p50 {s['run_p50']} s "
                f"p95 {s['run_p95']} s, cpu/run {s['run_cpu']} s, ok {s['ok']}/{n}, status shows {pulled} pulled")
            save(results, args.out)
    finally:
        pull_reset(d, nmax)
        shutil.rmtree(PULL_ROOT, ignore_errors=True)


# ---------------------------------------------------------------------------------------------

def save(results, out):
    bench.save(results, out)


def cmd_run(args):
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.pulls = [int(x) for x in args.pulls.split(",")]
    parts = set(args.only.split(","))
    os.makedirs(WORK, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out = args.out or os.path.join(bench.RESULTS, f"scale-{stamp}.json")
    logdir = os.path.join(WORK, "logs", stamp)
    os.makedirs(logdir, exist_ok=True)
    pg_version = bench.sh(["sh", "-c", '"$(ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -1)" --version'],
                          check=False).stdout.strip()
    results = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": bench.machine_info(), "argv": sys.argv[1:], "runs_per_point": args.runs,
               "versions": {"pinery": bench.sh([PINERY, "version"], check=False).stdout.strip(),
                            "openssh": bench.sh(["ssh", "-V"], check=False).stderr.strip(), "postgresql": pg_version},
               "load_at_start": open("/proc/loadavg").read().split()[:3]}
    log(f"results: {args.out}; logs: {logdir}")
    if "push" in parts:
        push(args, results, logdir)
    if parts & {"ingest", "pull"}:
        scaledb = build_scaledb()
        # One fresh database per ingest repetition, one for the pulls.
        pg = Postgres(scaledb, 2 * len(args.sizes) * args.runs + 2)
        try:
            if "ingest" in parts:
                site = os.path.join(WORK, "ingest-site")
                os.makedirs(site, exist_ok=True)
                ingest(args, results, logdir, scaledb, pg, site)
            if "pull" in parts:
                pull(args, results, logdir, pg)
        finally:
            pg.close()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["load_at_end"] = open("/proc/loadavg").read().split()[:3]
    save(results, args.out)
    log(f"done: {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--sizes", default="250,500,1000,2000", help="simulated hosts (push) and boards (ingest)")
    r.add_argument("--pulls", default="50,100,200", help="pull runs per round")
    r.add_argument("--pull-concurrency", type=int, default=8)
    r.add_argument("--history", type=int, default=10, help="reports per board in the history point")
    r.add_argument("--runs", type=int, default=3, help="repetitions per point (median reported)")
    r.add_argument("--only", default="push,ingest,pull")
    r.add_argument("--out", default="")
    sub.add_parser("report")
    args = ap.parse_args()
    if args.cmd == "run":
        cmd_run(args)
    else:
        subprocess.run([sys.executable, os.path.join(HERE, "bench.py"), "report"], check=True)


if __name__ == "__main__":
    main()
