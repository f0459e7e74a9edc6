"""pinery render worker: a Celery app that renders e-mail messages.

Installed by pinery's render role and configured by the files in
$RENDER_ETC: worker.json (settings), broker.json (the broker's URL) and
templates/NAME.eml. A job names a template and gives the data for its
$placeholders; the worker builds an RFC 5322 message and delivers it to
the spool (Maildir style: tmp/ then renamed into new/) or returns it in
the job's result.

Run as a script it is the role's control tool, for a worker NODE:

    render_worker.py ping NODE [--timeout S]   wait until NODE answers
    render_worker.py drain NODE [--timeout S]  stop NODE consuming, wait
                                               until its jobs are done
"""

import argparse
import datetime
import email.policy
import email.utils
import hashlib
import json
import os
import re
import sys
import time
from email.message import EmailMessage
from email.parser import Parser
from string import Template

from celery import Celery

ETC = os.environ.get("RENDER_ETC", "/etc/render")


def _read(name):
    with open(os.path.join(ETC, name), encoding="utf-8") as f:
        return f.read()


cfg = {**json.loads(_read("worker.json")), **json.loads(_read("broker.json"))}

app = Celery("render")
app.conf.update(
    broker_url=cfg["broker_url"],
    result_backend=cfg["result_backend"],
    task_default_queue=cfg["queue"],
    # A job is acknowledged when it is done, not when it is received: a
    # worker that stops or dies mid-job leaves it queued for another one.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # Each pool process holds at most one job beyond the one it runs, so a
    # draining worker has little to finish and a burst spreads over boards.
    worker_prefetch_multiplier=1,
    # Redis: a job taken by a worker that vanished is queued again after
    # this many seconds (longer than any render).
    broker_transport_options={"visibility_timeout": cfg["visibility_timeout"]},
    result_expires=cfg["result_expires"],
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)

# Content headers come from the worker (set_content), not the template.
_CONTENT_HEADERS = {"content-type", "content-transfer-encoding", "mime-version"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _parse_template(name, text):
    """Splits a template into (headers, subtype, body) and checks it."""
    msg = Parser(policy=email.policy.default).parsestr(text)
    headers = [(k, str(v)) for k, v in msg.items() if k.lower() not in _CONTENT_HEADERS]
    if not headers or msg.defects:
        raise ValueError(f"template {name!r}: not a message (header lines, a blank line, the body)")
    body = msg.get_payload()
    if not isinstance(body, str):
        raise ValueError(f"template {name!r}: a multipart template is not supported")
    for part in [v for _, v in headers] + [body]:
        if not Template(part).is_valid():
            raise ValueError(f"template {name!r}: invalid $placeholder in {part[:40]!r}")
    subtype = msg.get_content_subtype() if msg.get_content_maintype() == "text" else "plain"
    return headers, subtype, body


def _load_templates():
    return {name: _parse_template(name, _read(f"templates/{name}.eml")) for name in cfg["templates"]}


# The worker checks its templates when it starts: a bad one stops it (and
# fails the health check) instead of failing every job. The control tool
# (this file run as a script) drains a worker whatever the templates say.
TEMPLATES = _load_templates() if __name__ != "__main__" else {}


def render(template, data, message_id):
    """Builds the message of one job: every $placeholder of the template
    replaced by its value in data (a missing one is an error)."""
    if template not in TEMPLATES:
        raise ValueError(f"no template {template!r}; the role has: {sorted(TEMPLATES)}")
    if not isinstance(data, dict) or not all(isinstance(v, (str, int, float)) for v in data.values()):
        raise ValueError("data must be an object of strings and numbers")
    headers, subtype, body = TEMPLATES[template]
    try:
        msg = EmailMessage()
        for k, v in headers:
            # The default policy refuses a line break in a header value:
            # data cannot add headers to the message.
            msg[k] = Template(v).substitute(data)
        msg["Message-ID"] = message_id
        msg["Date"] = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc))
        msg["X-Render-Version"] = cfg["version"]
        msg.set_content(Template(body).substitute(data), subtype=subtype)
    except KeyError as e:
        raise ValueError(f"template {template!r}: no value for ${e.args[0]} in the data") from None
    return msg.as_bytes()


def spool(name, content):
    """Delivers a message to the spool atomically: written and flushed in
    tmp/, renamed into new/, where the mail side picks it up. The same job
    delivered twice (redelivered after a lost worker) replaces its file."""
    tmp = os.path.join(cfg["spool"], "tmp", f"{name}.{os.getpid()}")
    final = os.path.join(cfg["spool"], "new", name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    dfd = os.open(os.path.dirname(final), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return final


@app.task(name="render.message", bind=True)
def message(self, template, data):
    """Renders one message from a template of the role and its data."""
    job = self.request.id
    # The job id names the file and the Message-ID: a job run twice gives
    # the same message, once.
    name = job if _SAFE_NAME.fullmatch(job) else hashlib.sha256(job.encode()).hexdigest()
    message_id = f"<{name}@{cfg['message_id_domain']}>"
    content = render(template, data, message_id)
    result = {
        "id": job,
        "message_id": message_id,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "version": cfg["version"],
        "node": self.request.hostname,
    }
    if cfg["deliver"] == "spool":
        result["file"] = spool(name + ".eml", content)
    else:
        result["message"] = content.decode("utf-8")
    return result


def _ping(node, timeout):
    try:
        _load_templates()
    except (OSError, ValueError) as e:
        print(f"{node} cannot start: {e}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + timeout
    while True:
        try:
            if app.control.ping([node], timeout=1.0):
                print(f"{node}: answers")
                return 0
            seen = "no answer"
        except Exception as e:  # the broker is down or refuses us: try again
            seen = f"broker: {e}"
        if time.monotonic() > deadline:
            print(f"{node}: {seen} in {timeout:g}s", file=sys.stderr)
            return 1
        time.sleep(1)


# Redis only: kombu takes jobs with BRPOP, waiting up to a second; a job
# popped while the worker shuts down is lost. After cancel_consumer, the
# BRPOP in flight still ends (a job it pops is requeued); wait for it.
BRPOP_SETTLE = 2.0


def _drain(node, timeout):
    """Stops NODE taking jobs from the queue and waits until it has none
    left, so that a stop or restart right after loses and repeats nothing.
    A worker that does not answer takes no job: nothing to drain."""
    # Each wait ends with the node's reply: the timeouts cost nothing when
    # it answers, and give a busy board time.
    inspect = app.control.inspect([node], timeout=5.0)
    try:
        queues = inspect.active_queues()
    except Exception as e:
        print(f"{node}: broker unreachable ({e}): the worker takes no job, nothing to drain")
        return 0
    if not queues or node not in queues:
        print(f"{node}: not answering, nothing to drain")
        return 0
    if any(q["name"] == cfg["queue"] for q in queues[node]):
        app.control.cancel_consumer(cfg["queue"], destination=[node], reply=True, timeout=5.0)
        if cfg["broker_url"].startswith("redis"):
            time.sleep(BRPOP_SETTLE)
    deadline = time.monotonic() + timeout
    silent = 0
    while True:
        try:
            active, reserved = inspect.active(), inspect.reserved()
        except Exception:
            active = reserved = None
        if active is None or reserved is None or node not in active or node not in reserved:
            silent += 1
            if silent >= 3:
                print(f"{node}: stopped answering while draining")
                return 0
            continue
        silent = 0
        left = len(active[node]) + len(reserved[node])
        if left == 0:
            print(f"{node}: drained")
            return 0
        if time.monotonic() > deadline:
            print(f"{node}: {left} job(s) still running after {timeout:g}s", file=sys.stderr)
            return 1
        time.sleep(0.5)


def main(argv):
    p = argparse.ArgumentParser(prog="render_worker.py", description="Control a render worker.")
    p.add_argument("command", choices=["ping", "drain"])
    p.add_argument("node", help="the worker's node name, NAME@HOST")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    args = p.parse_args(argv)
    # A broker that is down fails a command in seconds, not after the
    # worker's hundred reconnection attempts.
    app.conf.broker_connection_timeout = 3
    app.conf.broker_connection_max_retries = 1
    return {"ping": _ping, "drain": _drain}[args.command](args.node, args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
