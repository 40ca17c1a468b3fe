"""End to end with Debian's real Dovecot 2.3 and its doveadm HTTP API: the
retention purge and the storage usage of the suite, through Odoo.

The test installs the packages when they are missing (apt-get, as root),
creates its own database with emboux_core (and the mail servers' read-only
role), makes domains and mailboxes through the models' own methods
(``odoo shell``), then runs a private Dovecot (``dovecot -c FILE``)
configured from mailserver/dovecot/ (99-emboux.conf, dovecot-sql.conf.ext
and 98-emboux-doveadm.conf, the doveadm HTTP listener with its API key) on
loopback ports: IMAP 21143, LMTP 21024, doveadm HTTP 21080. Odoo reaches
it through ``EMBOUX_DOVEADM_URL`` and ``EMBOUX_DOVEADM_API_KEY``. Nothing
listens elsewhere, nothing leaves the machine, and everything is stopped
and dropped at the end.

Environment: EMBOUX_E2E_DB names the throwaway database (default
emboux_doveadm_e2e_<pid>); EMBOUX_E2E_KEEP=1 keeps the temporary folder.
"""

from email.message import EmailMessage
import imaplib
import math
import os
import re
import secrets
import shutil
import smtplib
import subprocess
import time

from mailhost import (
    HOST,
    TOP,
    OdooDatabase,
    ensure_packages,
    port_open,
    run,
    scratch_dir,
    wait_port,
)
import pytest

EXAMPLES = TOP / "mailserver" / "dovecot"
PACKAGES = ["dovecot-core", "dovecot-imapd", "dovecot-lmtpd", "dovecot-pgsql"]
IMAP_PORT, LMTP_PORT, DOVEADM_PORT = 21143, 21024, 21080
DAY = 86400
RETENTION_DAYS = 30
PASSWORDS = {
    "alice@keep.test": "alice password 1",
    "bob@keep.test": "bob password 123",
    "carol@frozen.test": "carol password 1",
}
FOLDERS = ("INBOX", "Archive")
# days before now of the messages appended to each folder: the old ones are
# older than the retention, one of them by a single hour
OLD_DAYS = (400, 45, RETENTION_DAYS + 1 / 24)
NEW_DAYS = (RETENTION_DAYS - 1 / 24, 3, 0)


# --- helpers ------------------------------------------------------------------


def template(text, replacements):
    for old, new in replacements.items():
        text = re.sub(old, new, text, flags=re.MULTILINE)
    return text


class Stack(OdooDatabase):
    """The throwaway database and Dovecot of this test run."""

    def __init__(self, tmp):
        super().__init__(
            tmp, os.environ.get("EMBOUX_E2E_DB") or f"emboux_doveadm_e2e_{os.getpid()}"
        )
        self.api_key = secrets.token_urlsafe(24)
        self.mailroot = self.tmp / "vmail"
        self.dc_dir = self.tmp / "dovecot"
        self.dc_conf = self.dc_dir / "dovecot.conf"
        self.started = False

    def odoo_env(self, **extra):
        return super().odoo_env(
            **{
                "EMBOUX_DOVEADM_URL": f"http://{HOST}:{DOVEADM_PORT}/doveadm/v1",
                "EMBOUX_DOVEADM_API_KEY": self.api_key,
                **extra,
            }
        )

    # --- Dovecot, configured from mailserver/dovecot/ -----------------------------
    def configure_dovecot(self):
        self.dc_dir.mkdir()
        for sub in ("run", "state"):
            (self.dc_dir / sub).mkdir()
        self.mailroot.mkdir(mode=0o770)
        shutil.chown(self.mailroot, "nobody", "nogroup")
        sql_conf = self.dc_dir / "dovecot-sql.conf.ext"
        sql_conf.write_text(
            template(
                (EXAMPLES / "dovecot-sql.conf.ext").read_text(),
                {
                    r"^connect\s*=.*$": (
                        f"connect = host={HOST} port=5432 dbname={self.db} "
                        f"user={self.role} password={self.role_password}"
                    ),
                    r"/var/vmail/": f"{self.mailroot}/",
                },
            )
        )
        sql_conf.chmod(0o600)
        (self.dc_dir / "99-emboux.conf").write_text(
            template(
                (EXAMPLES / "99-emboux.conf").read_text(),
                {
                    r"/etc/dovecot/dovecot-sql.conf.ext": str(sql_conf),
                    r"^mail_uid\s*=.*$": "mail_uid = nobody",
                    r"^mail_gid\s*=.*$": "mail_gid = nogroup",
                    r"/var/spool/postfix/private/dovecot-lmtp": "postfix-lmtp",
                    r"/var/spool/postfix/private/auth": "postfix-auth",
                },
            )
        )
        doveadm_conf = self.dc_dir / "98-emboux-doveadm.conf"
        doveadm_conf.write_text(
            template(
                (EXAMPLES / "98-emboux-doveadm.conf").read_text(),
                {
                    r"^doveadm_api_key\s*=.*$": f"doveadm_api_key = {self.api_key}",
                    r"^(\s*)port\s*=\s*8080$": rf"\g<1>port = {DOVEADM_PORT}",
                },
            )
        )
        doveadm_conf.chmod(0o600)
        assert f"port = {DOVEADM_PORT}" in doveadm_conf.read_text()
        self.dc_conf.write_text(f"""\
# private instance of the doveadm end-to-end test
base_dir = {self.dc_dir / "run"}
state_dir = {self.dc_dir / "state"}
instance_name = emboux-doveadm-e2e-{os.getpid()}
log_path = {self.tmp / "dovecot.log"}
listen = {HOST}
ssl = no
disable_plaintext_auth = no
default_internal_user = dovecot
default_login_user = dovenull
auth_failure_delay = 0
!include {doveadm_conf}
!include {self.dc_dir / "99-emboux.conf"}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {IMAP_PORT}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {LMTP_PORT}
  }}
}}
""")

    def start(self):
        busy = [p for p in (IMAP_PORT, LMTP_PORT, DOVEADM_PORT) if port_open(p)]
        if busy:
            pytest.fail(f"{HOST} ports {busy} are already in use")
        with open(self.tmp / "dovecot-start.out", "w") as out:
            proc = subprocess.run(
                ["dovecot", "-c", str(self.dc_conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        self.started = True
        if proc.returncode != 0:
            pytest.fail(f"dovecot did not start: {self.log('dovecot-start.out')}")
        for port in (IMAP_PORT, LMTP_PORT, DOVEADM_PORT):
            wait_port(port)

    def stop(self):
        if not self.started:
            return
        subprocess.run(
            ["dovecot", "-c", str(self.dc_conf), "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        try:
            pid = int((self.dc_dir / "run" / "master.pid").read_text().split()[0])
            os.kill(pid, 15)
        except (OSError, ValueError, IndexError):
            pass

    def log(self, name):
        path = self.tmp / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(none)"

    # --- mail -----------------------------------------------------------------
    def imap(self, user):
        imap = imaplib.IMAP4(HOST, IMAP_PORT, timeout=20)
        imap.login(user, PASSWORDS[user])
        return imap

    def append_dated(self, user):
        """Old and new messages in INBOX and Archive, each with its
        INTERNALDATE (the APPEND date argument)."""
        now = time.time()
        imap = self.imap(user)
        try:
            imap.create("Archive")
            for folder in FOLDERS:
                for kind, ages in (("old", OLD_DAYS), ("new", NEW_DAYS)):
                    for age in ages:
                        msg = EmailMessage()
                        msg["From"], msg["To"] = "sender@e2e.invalid", user
                        msg["Subject"] = f"{kind} {age:g}"
                        msg.set_content(f"{kind} message, {age:g} days old\n")
                        typ, _data = imap.append(
                            folder,
                            None,
                            imaplib.Time2Internaldate(now - age * DAY),
                            msg.as_bytes(),
                        )
                        assert typ == "OK"
        finally:
            imap.logout()

    def subjects(self, user):
        """``{folder: sorted subjects}`` read by doveadm's command line (also
        for a user that may not log in)."""
        proc = run(
            [
                "doveadm",
                "-c",
                str(self.dc_conf),
                "-f",
                "flow",
                "fetch",
                "-u",
                user,
                "mailbox hdr.subject",
                "mailbox",
                "*",
                "all",
            ]
        )
        found = {}
        for line in proc.stdout.splitlines():
            match = re.match(r"mailbox=(\S+) hdr\.subject=(.*)$", line.strip())
            if match:
                found.setdefault(match[1], []).append(match[2])
        return {folder: sorted(subjects) for folder, subjects in found.items()}

    def quota(self, user):
        proc = run(["doveadm", "-c", str(self.dc_conf), "quota", "get", "-u", user])
        storage = re.search(r"STORAGE\s+(\d+)", proc.stdout)
        messages = re.search(r"MESSAGE\s+(\d+)", proc.stdout)
        return int(storage[1]), int(messages[1])


def expected(kind_ages):
    return sorted(f"{kind} {age:g}" for kind, ages in kind_ages for age in ages)


NEW_ONLY = expected([("new", NEW_DAYS)])
EVERYTHING = expected([("old", OLD_DAYS), ("new", NEW_DAYS)])

SETUP_SCRIPT = """
Domain, Mailbox = env["emboux.domain"], env["emboux.mailbox"]
Domain.create([
    {"name": "keep.test", "retention_days": %(days)s},
    {"name": "frozen.test", "retention_days": %(days)s},
])
Mailbox.create([
    {"email": "alice@keep.test", "password": %(alice)r, "quota_mb": 10},
    {"email": "bob@keep.test", "password": %(bob)r},
    {"email": "carol@frozen.test", "password": %(carol)r},
])
"""

PURGE_SCRIPT = """
Domain = env["emboux.domain"]
count = Domain._cron_retention_purge()
out({
    "count": count,
    "domains": {
        d.name: [str(d.last_purge_at or ""), d.last_purge_result or "", d.last_purge_error or ""]
        for d in Domain.search([])
    },
})
"""

USAGE_SCRIPT = """
Mailbox = env["emboux.mailbox"].with_context(active_test=False)
read = Mailbox._cron_refresh_usage()
out({
    "read": read,
    "mailboxes": {
        m.email: [m.used_kb, m.used_mb, m.used_messages, bool(m.used_at)]
        for m in Mailbox.search([])
    },
})
"""


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("the doveadm end-to-end test runs Dovecot and must run as root")
    ensure_packages(PACKAGES)
    with scratch_dir("emboux-doveadm-e2e-") as tmp:
        tmp.chmod(0o755)
        st = Stack(tmp)
        try:
            st.create_database()
            st.odoo(
                SETUP_SCRIPT
                % {"days": RETENTION_DAYS, **{k.split("@")[0]: v for k, v in PASSWORDS.items()}}
            )
            st.configure_dovecot()
            st.start()
            yield st
        finally:
            st.stop()
            st.drop()


# --- the tests (in order: they share one database and mail store) ---------------


def test_purge_keeps_exactly_the_new_messages(stack):
    for user in PASSWORDS:
        stack.append_dated(user)
        assert stack.subjects(user) == {f: EVERYTHING for f in FOLDERS}, user
    # bob is archived (no login: his Maildir stays and is purged too); the
    # domain of carol is suspended (never purged)
    stack.odoo(
        'env["emboux.mailbox"]._find_by_email("bob@keep.test").active = False\n'
        'env["emboux.domain"]._find_by_name("frozen.test").action_suspend()\n'
    )
    result = stack.odoo(PURGE_SCRIPT)
    assert result["count"] == 1
    at, answer, error = result["domains"]["keep.test"]
    assert at and not error, result
    assert "2 of 2 mailboxes" in answer
    assert result["domains"]["frozen.test"] == ["", "", ""]
    for user in ("alice@keep.test", "bob@keep.test"):
        assert stack.subjects(user) == {f: NEW_ONLY for f in FOLDERS}, user
    assert stack.subjects("carol@frozen.test") == {f: EVERYTHING for f in FOLDERS}
    # what alice sees over IMAP
    imap = stack.imap("alice@keep.test")
    try:
        for folder in FOLDERS:
            _typ, data = imap.select(folder, readonly=True)
            assert int(data[0]) == len(NEW_DAYS), folder
    finally:
        imap.logout()
    # a second run finds nothing more to expunge
    stack.odoo(PURGE_SCRIPT)
    assert stack.subjects("alice@keep.test") == {f: NEW_ONLY for f in FOLDERS}


def test_purge_now_and_a_refused_key_recorded(stack):
    script = (
        'd = env["emboux.domain"]._find_by_name("keep.test")\n'
        "d.action_purge_retention()\n"
        "out([d.last_purge_result, d.last_purge_error or ''])\n"
    )
    answer, error = stack.odoo(script)
    assert "2 of 2 mailboxes" in answer and not error
    answer, error = stack.odoo(script, EMBOUX_DOVEADM_API_KEY="not-the-key")
    assert "refused the doveadm API key (HTTP 401)" in error
    assert stack.subjects("alice@keep.test") == {f: NEW_ONLY for f in FOLDERS}


def test_usage_read_back_after_delivery(stack):
    alice = "alice@keep.test"
    before_kb, before_count = stack.quota(alice)
    body = "x" * 2_000_000 + "\n"  # about 2 MB
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "sender@e2e.invalid", alice, "big one"
    msg.set_content(body)
    with smtplib.LMTP(HOST, LMTP_PORT, timeout=20) as lmtp:
        assert not lmtp.send_message(msg, from_addr="sender@e2e.invalid", to_addrs=[alice])
    kb, count = stack.quota(alice)
    assert count == before_count + 1 and kb > before_kb + 1900, (kb, count)
    result = stack.odoo(USAGE_SCRIPT)
    assert result["read"] == 3
    used_kb, used_mb, used_messages, read = result["mailboxes"][alice]
    assert read
    assert (used_kb, used_messages) == (kb, count)
    assert used_mb == math.ceil(kb / 1024) >= 2
    # the other mailboxes too: archived bob and suspended carol's
    for user in ("bob@keep.test", "carol@frozen.test"):
        assert result["mailboxes"][user][0] == stack.quota(user)[0], user
        assert result["mailboxes"][user][2] == stack.quota(user)[1], user
    imap = stack.imap(alice)
    try:
        _typ, data = imap.select("INBOX", readonly=True)
        assert int(data[0]) == len(NEW_DAYS) + 1
    finally:
        imap.logout()
