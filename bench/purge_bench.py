"""How long one retention purge run takes for 1,000 mailboxes against a
local Dovecot 2.3, through its doveadm HTTP API, as the daily cron runs it.

Run as root (it starts a private Dovecot and installs the Debian packages
when missing, like e2e/test_doveadm_e2e.py, whose stack it reuses):

    .venv/bin/python bench/purge_bench.py [--domains 10] [--per-domain 100]

1. a throwaway database with emboux_core; ``--domains`` domains with a
   30-day retention and ``--per-domain`` mailboxes each (made through the
   models);
2. a private Dovecot on loopback (IMAP 21143, LMTP 21024, doveadm HTTP
   21080) reading them from the suite's SQL views, configured from
   mailserver/dovecot/;
3. each Maildir filled directly: INBOX and Archive, 5 messages older than
   the retention and 5 newer (the file's mtime is the INTERNALDATE), then
   indexed once by Dovecot (``doveadm mailbox status -A``), as a mailbox in
   use is;
4. timed, each in ``odoo shell`` with the cron's own context (a commit per
   domain, ``_commit_progress``): the purge run (expunging the old half),
   a second run (nothing left to expunge), and one read of every
   mailbox's storage used.

Everything is stopped and dropped at the end. Prints the figures.
"""

import argparse
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "e2e")]

import test_doveadm_e2e as e2e

DAY = 86400
OLD_AGES = {"INBOX": (400, 90, 31), "Archive": (200, 45)}
NEW_AGES = {"INBOX": (29, 7, 1), "Archive": (20, 2)}
RETENTION = 30

CREATE_SCRIPT = """
Domain, Mailbox = env["emboux.domain"], env["emboux.mailbox"]
domains = Domain.create([
    {"name": f"bench{i:03d}.test", "retention_days": %(days)s} for i in range(%(domains)s)
])
Mailbox.create([
    {"email": f"user{j:04d}@{d.name}", "password": "bench password 1", "quota_mb": 100}
    for d in domains
    for j in range(%(per)s)
])
out(Mailbox.search_count([]))
"""

TIMED_SCRIPT = """
import time
cron = env.ref(%(cron)r)
cron, progress = cron._add_progress()
env.cr.commit()
model = env[cron.model_id.model].with_context(
    cron.env.context, cron_id=cron.id, cron_end_time=float("inf")
)
started = time.monotonic()
answer = model.%(method)s()
elapsed = time.monotonic() - started
env.cr.commit()
out({"elapsed": elapsed, "answer": answer})
"""

CHECK_SCRIPT = """
Domain = env["emboux.domain"]
out({
    "errors": Domain.search_count([("last_purge_error", "!=", False)]),
    "purged": Domain.search_count([("last_purge_at", "!=", False)]),
    "usage_read": env["emboux.mailbox"].search_count([("used_at", "!=", False)]),
})
"""


def fill_maildirs(stack, names, now):
    """Write the messages straight into the Maildirs (Maildir++: INBOX in
    the home, Archive in ``.Archive``); owned by the mail user."""
    count = 0
    for email in names:
        local, domain = email.split("@")
        home = stack.mailroot / domain / local
        for folder in ("INBOX", "Archive"):
            base = home if folder == "INBOX" else home / ".Archive"
            for sub in ("cur", "new", "tmp"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            for kind, ages in (("old", OLD_AGES[folder]), ("new", NEW_AGES[folder])):
                for age in ages:
                    count += 1
                    body = (
                        f"From: bench@bench.invalid\r\nTo: {email}\r\n"
                        f"Subject: {kind} {age}\r\n\r\n" + "bench line\r\n" * 40
                    ).encode()
                    received = now - age * DAY
                    name = f"{int(received)}.M{count}P1.bench,S={len(body)}:2,S"
                    path = base / "cur" / name
                    path.write_bytes(body)
                    os.utime(path, (received, received))
    subprocess.run(["chown", "-R", "nobody:nogroup", str(stack.mailroot)], check=True)
    return count


def doveadm(stack, *args, timeout=1800):
    return subprocess.run(
        ["doveadm", "-c", str(stack.dc_conf), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=10)
    parser.add_argument("--per-domain", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: it starts a private Dovecot")
    e2e.ensure_packages()
    total = args.domains * args.per_domain
    tmp = Path(tempfile.mkdtemp(prefix="emboux-purge-bench-"))
    tmp.chmod(0o755)
    os.environ.setdefault("EMBOUX_E2E_DB", f"emboux_purge_bench_{os.getpid()}")
    stack = e2e.Stack(tmp)
    try:
        print(f"database {stack.db}: {args.domains} domains x {args.per_domain} mailboxes")
        stack.create_database()
        created = stack.odoo(
            CREATE_SCRIPT % {"days": RETENTION, "domains": args.domains, "per": args.per_domain}
        )
        assert created == total, created
        stack.configure_dovecot()
        stack.start()
        names = [
            f"user{j:04d}@bench{i:03d}.test"
            for i in range(args.domains)
            for j in range(args.per_domain)
        ]
        messages = fill_maildirs(stack, names, time.time())
        started = time.monotonic()
        doveadm(stack, "mailbox", "status", "-A", "messages", "*")
        indexed = time.monotonic() - started
        old = sum(len(ages) for ages in OLD_AGES.values()) * total
        before = (
            len(
                doveadm(stack, "search", "-A", "mailbox", "*", "before", f"{RETENTION}d").split(
                    "\n"
                )
            )
            - 1
        )
        assert before == old, (before, old)

        timed = {}
        for label, cron, method in (
            ("purge", "emboux_core.ir_cron_emboux_retention_purge", "_cron_retention_purge"),
            ("purge again", "emboux_core.ir_cron_emboux_retention_purge", "_cron_retention_purge"),
            ("usage", "emboux_core.ir_cron_emboux_mailbox_usage", "_cron_refresh_usage"),
        ):
            timed[label] = stack.odoo(TIMED_SCRIPT % {"cron": cron, "method": method})
        left = doveadm(stack, "search", "-A", "mailbox", "*", "before", f"{RETENTION}d").strip()
        kept = len(doveadm(stack, "search", "-A", "mailbox", "*", "all").split("\n")) - 1
        check = stack.odoo(CHECK_SCRIPT)
        assert not left, "old messages left after the purge"
        assert kept == messages - old, (kept, messages, old)
        assert check == {"errors": 0, "purged": args.domains, "usage_read": total}, check
    finally:
        stack.stop()
        stack.drop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    print(
        f"{total} mailboxes in {args.domains} domains, {messages} messages "
        f"({old} older than {RETENTION} days); Dovecot indexed them in {indexed:.1f} s"
    )
    print(f"{'run':<14} {'seconds':>8} {'ms/mailbox':>11}  result")
    for label, what in (
        ("purge", f"{old} messages expunged, {kept} kept"),
        ("purge again", "nothing left to expunge"),
        ("usage", f"{timed['usage']['answer']} mailboxes read"),
    ):
        elapsed = timed[label]["elapsed"]
        print(f"{label:<14} {elapsed:8.2f} {1000 * elapsed / total:11.2f}  {what}")


if __name__ == "__main__":
    main()
