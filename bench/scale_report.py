"""The "Scale: 2,000 hosts" section of docs/performance.md, from bench/results/scale-*.json
(bench/scale.py) and the hand-written reading in bench/scale_notes.md. report.py calls
section(); each part (push, ingest, pull) comes from the newest file that has it."""

import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load(files):
    parts, used = {}, {}
    for f in sorted(files):  # scale-<stamp>.json: name order is time order
        try:
            data = json.load(open(f))
        except (OSError, ValueError):
            continue
        # A later file's point replaces an earlier one's (a re-run of one size).
        for k in ("push", "ingest", "pull"):
            if data.get(k):
                merged = dict(parts[k][k]) if k in parts else {}
                merged.update(data[k])
                parts[k] = dict(data, **{k: merged})
                used.setdefault(k, []).append(os.path.basename(f))
    return parts, used


def num(x, nd=2):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.{nd}f}"
    return str(x)


def push_table(data):
    push, nproc = data["push"], data["machine"].get("nproc") or 1
    rows = ["| hosts | command | median s | ms/host | × smallest's ms/host | pinery CPU s | machine CPU s | machine busy | "
            "peak RSS MB | conn/host (mean, max) | sessions/host (mean, max) | changed | ok |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ratios, sizes = [], []
    for kind in ("plan", "apply"):
        pts = sorted((e["summary"] for k, e in push.items() if k.startswith(kind + "-")), key=lambda s: s["hosts"])
        base = pts[0].get("ms_per_host") if pts else None
        for s in pts:
            if not s.get("ok"):
                rows.append(f"| {s['hosts']} | {kind} | failed | | | | | | | | | | 0/{s['runs']} |")
                continue
            rel = s["ms_per_host"] / base if base else None
            busy = s["machine_cpu"] / (s["wall"] * nproc)
            rows.append(f"| {s['hosts']:,} | {kind} | {num(s['wall'])} | {num(s['ms_per_host'])} | {num(rel)} | {num(s['cpu'])} | "
                        f"{num(s['machine_cpu'])} | {busy:.0%} | {num(s['rss_mb'], 1)} | {num(s.get('conn_mean'))}, {s.get('conn_max')} | "
                        f"{num(s.get('sess_mean'))}, {s.get('sess_max')} | {s.get('changed')} | {s['ok']}/{s['runs']} |")
        if len(pts) > 1 and base and pts[-1].get("ms_per_host"):
            sizes = [pts[0]["hosts"], pts[-1]["hosts"]]
            ratios.append(f"{kind} {pts[-1]['ms_per_host'] / base:.2f}")
    return "\n".join(rows), ratios, sizes


def ingest_table(data):
    rows = ["| boards | reports each | connection | reports | reports/s | report p50 ms | report p95 ms | "
            "Status query ms | `pinery status` s | status RSS MB | checked |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    pts = sorted((e["summary"] for e in data["ingest"].values()),
                 key=lambda s: (s["reports_per_host"], s["reuse"], s["hosts"]))
    for s in pts:
        conn = "one per writer" if s["reuse"] else "one per report"
        ok = "⚠ " + "; ".join(s["problems"]) if s["problems"] else f"{s['hosts']:,} rows"
        rows.append(f"| {s['hosts']:,} | {s['reports_per_host']} | {conn} | {s['reports']:,} | {num(s['reports_per_second'])} | "
                    f"{num(s['p50_ms'])} | {num(s['p95_ms'])} | {num(1000 * s['status_query_s'])} | {num(s['status_wall'])} | "
                    f"{num(s['status_rss_mb'], 1)} | {ok} |")
    return "\n".join(rows)


def pull_table(data):
    rows = ["| pull runs | at once | median s | ms/run | runs/s | run p50 s | run p95 s | CPU s/run | peak RSS MB | "
            "machine CPU s | ok | `pinery status` shows |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in sorted((e["summary"] for e in data["pull"].values()), key=lambda s: s["runs"]):
        rows.append(f"| {s['runs']} | {s['concurrency']} | {num(s['wall'])} | {num(s['ms_per_run'])} | {num(s['runs_per_second'])} | "
                    f"{num(s['run_p50'])} | {num(s['run_p95'])} | {num(s['run_cpu'])} | {num(s['run_rss_mb'], 1)} | "
                    f"{num(s['machine_cpu'])} | {s['ok']}/{s['runs']} | {s['status_pulled']} pulled |")
    return "\n".join(rows)


def section(files=None):
    if files is None:
        files = glob.glob(os.path.join(HERE, "results", "scale-*.json"))
    parts, used = load(files)
    if not parts:
        return ""
    any_data = next(iter(parts.values()))
    m, v = any_data["machine"], any_data["versions"]
    L = ["## Scale: 2,000 hosts\n",
         "`make bench-scale` (`bench/scale.py`; no fleet, about 20 minutes) asks whether pinery's cost per host stays "
         "flat from 250 to 2,000 hosts, for pushed runs, for the reports boards send in pull mode, and for the pull runs "
         "themselves. Every point is run "
         f"{any_data.get('runs_per_point', 3)} times and the median is shown.\n",
         f"- machine: {m.get('nproc')} cores ({m.get('cpu')}), {m.get('mem_mb', 0) / 1024:.0f} GiB RAM, {m.get('os')}, "
         f"kernel {m.get('kernel')}; shared with other engineers' test runs (load average at the start "
         f"{' '.join(any_data.get('load_at_start', []))}), so the numbers are noisy",
         f"- {v.get('pinery')}; {v.get('openssh')}; {v.get('postgresql')}",
         "- result files: " + "; ".join(f"{k}: " + ", ".join(f"`{f}`" for f in fs) for k, fs in used.items()), ""]
    if "push" in parts:
        d = parts["push"]
        setup = d.get("push_setup", {})
        table, ratios, sizes = push_table(d)
        L += ["### Push: no-op plan and apply on simulated hosts\n",
              f"W4's site (10 resources per host: a directory, 8 files, a template) on bench.py's simulated hosts: "
              f"sshds on loopback addresses, {setup.get('hosts_per_sshd', 16)} hosts per sshd ({setup.get('sshd')}), "
              f"each host managing `/srv/sim/<name>`, converged once untimed. pinery runs at its default "
              f"`--parallelism` ({setup.get('parallelism')}) with `--stats`. *pinery CPU* is the controller's user+system "
              f"seconds; *machine CPU* is every process's (the sshds and the shells they start are the simulated "
              f"hosts' side); *machine busy* is machine CPU over wall time × cores. Open files limit "
              f"{setup.get('nofile')}, pid_max {setup.get('pid_max')}.\n",
              table + "\n",
              (f"Time per host at {sizes[1]:,} hosts over time per host at {sizes[0]:,} (1.00 is perfectly linear): "
               f"{', '.join(ratios)}.\n" if ratios else "")]
    if "ingest" in parts:
        L += ["### Report ingestion into PostgreSQL\n",
              "Each board's report is what `pinery pull` writes at the end of a run (`RecordPull` + `FinishRun` of "
              "engine/backend), sent by 64 boards at a time into a fresh database of a throwaway PostgreSQL server "
              "(pgtest's: `fsync=off`, SCRAM passwords, on this machine). *One per report* opens the backend for every "
              "report, as each pull process does (connect, authenticate, check the schema); *one per writer* keeps a "
              "connection per board (a pooler in front of the server). The last rows are the largest fleet after "
              "many reports per board (history). *Status query* is `Status` alone; `pinery status` is the whole "
              "command (start, connect, query, print), which also checks that every board is listed.\n",
              ingest_table(parts["ingest"]) + "\n"]
    if "pull" in parts:
        L += ["### Pull mode at scale (local transport)\n",
              "One signed bundle of a 3-resource site for all hosts; each `pinery pull` applies it as its own host "
              "(`--host`), with its own state directory, its own host lock (a private mount namespace binds "
              "`/var/lib/pinery` to a directory of its own, as on a separate board) and its own managed directory, "
              "8 at a time, each a first apply (3 changes) reporting to the same PostgreSQL; rounds of growing size "
              "run in sequence against the growing history. *ok* counts runs that exited 0 with 3 changes and no "
              "warning; the last column counts the hosts `pinery status` shows with that pull.\n",
              pull_table(parts["pull"]) + "\n"]
    notes = os.path.join(HERE, "scale_notes.md")
    if os.path.exists(notes):
        L.append(open(notes).read().strip() + "\n")
    return "\n".join(L)
