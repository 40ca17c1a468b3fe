"""End to end with the real mail servers: Debian's Postfix and Dovecot 2.3
read the suite's SQL views, configured from the examples in mailserver/.

The test installs the packages when they are missing (apt-get, as root),
creates its own database with emboux_core, makes domains, mailboxes, aliases
and a catch-all through the models' own methods (``odoo shell``), then runs a
private Postfix (``postfix -c DIR``, smtpd on 127.0.0.1:2525) that hands mail
by LMTP to a private Dovecot (``dovecot -c FILE``, LMTP on 127.0.0.1:24240,
IMAP on 127.0.0.1:14300). Both connect to PostgreSQL as the read-only role
the suite created, over 127.0.0.1 with its password. Nothing listens
elsewhere, nothing leaves the machine, and everything is stopped and dropped
at the end.

Environment: EMBOUX_E2E_DB names the throwaway database (default
emboux_mail_e2e_<pid>); EMBOUX_E2E_KEEP=1 keeps the temporary folder.
"""

from email.message import EmailMessage
import imaplib
import json
import os
from pathlib import Path
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

import psycopg2
import pytest

TOP = Path(__file__).resolve().parents[1]
EXAMPLES = TOP / "mailserver"
PYTHON = (
    str(TOP / ".venv" / "bin" / "python")
    if (TOP / ".venv" / "bin" / "python").exists()
    else sys.executable
)
PACKAGES = [
    "postfix",
    "postfix-pgsql",
    "dovecot-core",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "dovecot-pgsql",
]
HOST = "127.0.0.1"
SMTP_PORT, LMTP_PORT, IMAP_PORT = 2525, 24240, 14300
SENDER = "sender@e2e-outside.invalid"
PASSWORDS = {
    "alice@e2e-a.test": "alice password 1",
    "bob@e2e-a.test": "bob password 12",
    "carol@e2e-b.test": "carol password 1",
    "erin@e2e-b.test": "erin password 12",
    "dave@e2e-s.test": "dave password 12",
}
ALICE_NEW_PASSWORD = "alice changed it 2"
# the daemons of a minimal private Postfix (master.cf, no chroot), after its smtpd
POSTFIX_SERVICES = [
    "pickup unix n - n 60 1 pickup",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "smtp unix - - n - - smtp",
    "relay unix - - n - - smtp",
    "showq unix n - n - - showq",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "lmtp unix - - n - - lmtp",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
]


# --- helpers ------------------------------------------------------------------


def run(cmd, check=True, timeout=120, **kwargs):
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and proc.returncode != 0:
        command = " ".join(map(str, cmd))
        pytest.fail(
            f"{command} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def missing_packages():
    missing = []
    for pkg in PACKAGES:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 or "install ok installed" not in proc.stdout:
            missing.append(pkg)
    return missing


def ensure_packages():
    """apt-get install what is missing; the test fails (never skips) when it
    cannot."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        pytest.fail(f"Debian packages {missing} are missing and installing them needs root")
    if not shutil.which("apt-get"):
        pytest.fail(f"Debian packages {missing} are missing and there is no apt-get")
    subprocess.run(
        ["debconf-set-selections"],
        input="postfix postfix/main_mailer_type select No configuration\n",
        text=True,
        check=False,
    )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Keep the packages' own services (system-wide Dovecot on 143...) from
    # starting: the test runs private instances.
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=600, check=False
        )
        if proc.returncode != 0:
            subprocess.run(
                ["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600, check=False
            )
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=env, timeout=600, check=False
            )
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    if proc.returncode != 0 or missing_packages():
        pytest.fail(
            f"apt-get could not install {missing} (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )


def template(text, replacements):
    for old, new in replacements.items():
        text = re.sub(old, new, text, flags=re.MULTILINE)
    return text


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def wait_port(port, timeout=20.0):
    wait_for(lambda: port_open(port), timeout, f"port {port}")


class Stack:
    """The throwaway database, Postfix and Dovecot of this test run."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.db = os.environ.get("EMBOUX_E2E_DB") or f"emboux_mail_e2e_{os.getpid()}"
        self.role = f"{self.db}_ms"
        self.role_password = secrets.token_urlsafe(18)
        self.mailroot = tmp / "vmail"
        self.odoo_conf = tmp / "odoo.conf"
        self.pf_dir = tmp / "postfix"
        self.pf_spool = tmp / "postfix-spool"
        self.pf_data = tmp / "postfix-data"
        self.dc_dir = tmp / "dovecot"
        self.dc_conf = self.dc_dir / "dovecot.conf"
        self.started = []
        self.install_log = ""

    # --- Odoo ---------------------------------------------------------------
    def odoo_env(self):
        return dict(
            os.environ,
            EMBOUX_MAILSERVER_DB_ROLE=self.role,
            EMBOUX_MAILSERVER_DB_PASSWORD=self.role_password,
        )

    def create_database(self):
        self.odoo_conf.write_text("[options]\n")
        proc = run(
            [
                PYTHON,
                "-m",
                "odoo",
                "-c",
                str(self.odoo_conf),
                "-d",
                self.db,
                f"--addons-path={TOP}",
                "-i",
                "emboux_core",
                "--stop-after-init",
                "--no-http",
                "--workers=0",
                "--without-demo=all",
                f"--data-dir={self.tmp / 'odoo-data'}",
                "--log-level=info",
            ],
            env=self.odoo_env(),
            timeout=300,
        )
        self.install_log = proc.stdout + proc.stderr

    def odoo(self, script):
        """Run ``script`` in ``odoo shell`` (it gets ``env``), commit, and
        return what it passed to ``out(...)`` as JSON."""
        code = (
            "import json\n"
            "def out(value):\n"
            "    print('E2E-JSON:' + json.dumps(value), flush=True)\n"
            + script
            + "\nenv.cr.commit()\n"
        )
        proc = run(
            [
                PYTHON,
                "-m",
                "odoo",
                "shell",
                "-c",
                str(self.odoo_conf),
                "-d",
                self.db,
                f"--addons-path={TOP}",
                "--no-http",
                "--log-level=warn",
            ],
            input=code,
            env=self.odoo_env(),
            timeout=120,
        )
        found = [
            line[len("E2E-JSON:") :]
            for line in proc.stdout.splitlines()
            if line.startswith("E2E-JSON:")
        ]
        return json.loads(found[-1]) if found else None

    # --- configuration from mailserver/ ---------------------------------------
    def postfix_map(self, name):
        text = (EXAMPLES / "postfix" / name).read_text()
        return template(
            text,
            {
                r"^hosts\s*=.*$": f"hosts = inet:{HOST}:5432",
                r"^user\s*=.*$": f"user = {self.role}",
                r"^password\s*=.*$": f"password = {self.role_password}",
                r"^dbname\s*=.*$": f"dbname = {self.db}",
            },
        )

    def configure_postfix(self):
        maps = self.pf_dir / "emboux"
        maps.mkdir(parents=True)
        for name in (
            "virtual_mailbox_domains.cf",
            "virtual_mailbox_maps.cf",
            "virtual_alias_maps.cf",
            "recipient_access.cf",
            "sender_login_maps.cf",
        ):
            (maps / name).write_text(self.postfix_map(name))
            (maps / name).chmod(0o644)
        self.pf_spool.mkdir(mode=0o755)
        self.pf_data.mkdir(mode=0o700)
        shutil.chown(self.pf_data, "postfix", "postfix")
        (self.pf_dir / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.pf_spool}
data_directory = {self.pf_data}
maillog_file = {self.tmp / "postfix.log"}
maillog_file_prefixes = {self.tmp}
myhostname = mx.e2e.invalid
mydomain = e2e.invalid
myorigin = $myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
relayhost =
default_transport = error:outbound mail is off in the end-to-end test
relay_transport = error:outbound mail is off in the end-to-end test
lmtp_connection_cache_on_demand = no
queue_run_delay = 2s
minimal_backoff_time = 2s
""")
        # main.cf settings of the example, as documented: postconf -e lines
        env = dict(os.environ, POSTCONF=f"postconf -c {self.pf_dir}", EMBOUX_MAPS=str(maps))
        run(["sh", str(EXAMPLES / "postfix" / "main.cf.sh")], env=env)
        run(
            [
                "postconf",
                "-c",
                str(self.pf_dir),
                "-e",
                f"virtual_transport = lmtp:inet:{HOST}:{LMTP_PORT}",
            ]
        )
        # a minimal master.cf: no chroot, smtpd on the loopback test port only
        services = [f"{HOST}:{SMTP_PORT} inet n - n - - smtpd", *POSTFIX_SERVICES]
        (self.pf_dir / "master.cf").write_text("\n".join(services) + "\n")

    def configure_dovecot(self):
        self.dc_dir.mkdir()
        for sub in ("run", "state"):
            (self.dc_dir / sub).mkdir()
        self.mailroot.mkdir(mode=0o770)
        shutil.chown(self.mailroot, "nobody", "nogroup")
        sql_conf = self.dc_dir / "dovecot-sql.conf.ext"
        sql_conf.write_text(
            template(
                (EXAMPLES / "dovecot" / "dovecot-sql.conf.ext").read_text(),
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
                (EXAMPLES / "dovecot" / "99-emboux.conf").read_text(),
                {
                    r"/etc/dovecot/dovecot-sql.conf.ext": str(sql_conf),
                    r"^mail_uid\s*=.*$": "mail_uid = nobody",
                    r"^mail_gid\s*=.*$": "mail_gid = nogroup",
                    # relative to base_dir
                    r"/var/spool/postfix/private/dovecot-lmtp": "postfix-lmtp",
                    r"/var/spool/postfix/private/auth": "postfix-auth",
                },
            )
        )
        self.dc_conf.write_text(f"""\
# private instance of the end-to-end test
base_dir = {self.dc_dir / "run"}
state_dir = {self.dc_dir / "state"}
instance_name = emboux-e2e-{os.getpid()}
log_path = {self.tmp / "dovecot.log"}
listen = {HOST}
ssl = no
disable_plaintext_auth = no
default_internal_user = dovecot
default_login_user = dovenull
# answer refused logins at once (the default waits 2 s)
auth_failure_delay = 0
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
        busy = [port for port in (SMTP_PORT, LMTP_PORT, IMAP_PORT) if port_open(port)]
        if busy:
            pytest.fail(f"{HOST} ports {busy} are already in use (another mail test running?)")
        # postfix logs its errors to maillog_file (there may be no syslog)
        for action in ("check", "start"):
            with open(self.tmp / "postfix-start.out", "a") as out:
                proc = subprocess.run(
                    ["postfix", "-c", str(self.pf_dir), action],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=60,
                    check=False,
                )
            if action == "start":
                self.started.append("postfix")
            if proc.returncode != 0:
                pytest.fail(
                    f"postfix {action} failed: {self.log('postfix-start.out')}\n"
                    f"{self.log('postfix.log')}"
                )
        # dovecot daemonizes; its children must not hold our pipes open
        with open(self.tmp / "dovecot-start.out", "w") as out:
            proc = subprocess.run(
                ["dovecot", "-c", str(self.dc_conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        self.started.append("dovecot")
        if proc.returncode != 0:
            pytest.fail(
                f"dovecot did not start: {self.log('dovecot-start.out')}\n{self.log('dovecot.log')}"
            )
        wait_port(SMTP_PORT)
        wait_port(LMTP_PORT)
        wait_port(IMAP_PORT)

    def stop(self):
        if "postfix" in self.started:
            subprocess.run(
                ["postfix", "-c", str(self.pf_dir), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        if "dovecot" in self.started:
            subprocess.run(
                ["dovecot", "-c", str(self.dc_conf), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        # any master left behind (a failed stop): only the ones this test started
        for pidfile in (self.pf_spool / "pid" / "master.pid", self.dc_dir / "run" / "master.pid"):
            try:
                pid = int(pidfile.read_text().split()[0])
                os.kill(pid, 15)
            except (OSError, ValueError, IndexError):
                pass

    def drop(self):
        subprocess.run(
            ["dropdb", "--if-exists", self.db], capture_output=True, timeout=120, check=False
        )
        subprocess.run(
            ["psql", "-d", "postgres", "-qc", f'DROP ROLE IF EXISTS "{self.role}"'],
            capture_output=True,
            timeout=60,
            check=False,
        )

    # --- mail -----------------------------------------------------------------
    def send(self, rcpt, token):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = SENDER, rcpt, f"e2e {token}"
        msg.set_content(f"token {token}\n")
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=20) as smtp:
            smtp.send_message(msg, from_addr=SENDER, to_addrs=[rcpt])

    def rcpt_reply(self, rcpt):
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=20) as smtp:
            smtp.ehlo("client.e2e.invalid")
            smtp.mail(SENDER)
            code, text = smtp.rcpt(rcpt)
            smtp.rset()
        return code, text.decode(errors="replace")

    def maildir_tokens(self, address):
        local, domain = address.split("@")
        found = set()
        for sub in ("new", "cur"):
            folder = self.mailroot / domain / local / sub
            if folder.is_dir():
                for path in folder.iterdir():
                    found.update(re.findall(r"token (\w+)", path.read_text(errors="replace")))
        return found

    def wait_delivered(self, address, token, timeout=20.0):
        wait_for(
            lambda: token in self.maildir_tokens(address),
            timeout,
            f"{token} in the Maildir of {address} (postfix.log:\n{self.log('postfix.log')}\n"
            f"dovecot.log:\n{self.log('dovecot.log')})",
        )

    def log(self, name):
        path = self.tmp / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(none)"

    def imap_login(self, user, password):
        """(ok, messages in INBOX or the server's answer)."""
        imap = imaplib.IMAP4(HOST, IMAP_PORT, timeout=20)
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error as exc:
            return False, str(exc)
        try:
            _typ, data = imap.select("INBOX", readonly=True)
            return True, int(data[0])
        finally:
            imap.logout()

    def doveadm_auth(self, user, password):
        proc = subprocess.run(
            ["doveadm", "-c", str(self.dc_conf), "auth", "test", user, password],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return proc.returncode


SETUP_SCRIPT = """
Domain, Mailbox, Alias = env["emboux.domain"], env["emboux.mailbox"], env["emboux.alias"]
Domain.create([{"name": "e2e-a.test"}, {"name": "e2e-b.test"}, {"name": "e2e-s.test"}])
Mailbox.create([
    {"email": "alice@e2e-a.test", "password": %(alice)r},
    {"email": "bob@e2e-a.test", "password": %(bob)r, "active": False},
    {"email": "carol@e2e-b.test", "password": %(carol)r, "catch_all": True},
    {"email": "erin@e2e-b.test", "password": %(erin)r},
    {"email": "dave@e2e-s.test", "password": %(dave)r},
])
Alias.upsert("info@e2e-a.test", "alice@e2e-a.test")
Alias.upsert("sales@e2e-s.test", "dave@e2e-s.test")
out({"catch_all": Mailbox._find_by_email("carol@e2e-b.test").catch_all})
"""


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("the mail end-to-end test runs Postfix and Dovecot and must run as root")
    ensure_packages()
    tmp = Path(tempfile.mkdtemp(prefix="emboux-mail-e2e-"))
    tmp.chmod(0o755)  # the postfix, dovecot and nobody users walk into it
    st = Stack(tmp)
    try:
        st.create_database()
        st.odoo(SETUP_SCRIPT % {k.split("@")[0]: v for k, v in PASSWORDS.items()})
        st.configure_postfix()
        st.configure_dovecot()
        st.start()
        yield st
    finally:
        st.stop()
        st.drop()
        if os.environ.get("EMBOUX_E2E_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --- the tests (in order: they share one database and mail store) ---------------


def test_role_created_and_read_only(stack):
    assert f"PostgreSQL role '{stack.role}' (the mail servers' read-only role) created" in (
        stack.install_log
    )
    conn = psycopg2.connect(
        host=HOST, port=5432, dbname=stack.db, user=stack.role, password=stack.role_password
    )
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT email FROM emboux_postfix_mailboxes ORDER BY email")
            assert [r[0] for r in cr.fetchall()] == [
                "alice@e2e-a.test",
                "carol@e2e-b.test",
                "dave@e2e-s.test",
                "erin@e2e-b.test",
            ]
        conn.rollback()
        with conn.cursor() as cr, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cr.execute("SELECT password_hash FROM emboux_mailbox")
    finally:
        conn.close()


def test_postmap_reads_the_views(stack):
    def q(key, table):
        proc = run(
            [
                "postmap",
                "-c",
                str(stack.pf_dir),
                "-q",
                key,
                f"pgsql:{stack.pf_dir / 'emboux' / table}",
            ],
            check=False,
        )
        return proc.stdout.strip()

    assert q("e2e-s.test", "virtual_mailbox_domains.cf") == "1"
    assert q("alice@e2e-a.test", "virtual_mailbox_maps.cf") == "e2e-a.test/alice/"
    assert q("@e2e-b.test", "virtual_alias_maps.cf") == "carol@e2e-b.test"
    assert q("erin@e2e-b.test", "virtual_alias_maps.cf") == "erin@e2e-b.test"
    # submission: who may send as what (a mailbox, its alias; a catch-all
    # grants nothing, an inactive mailbox owns nothing)
    assert q("alice@e2e-a.test", "sender_login_maps.cf") == "alice@e2e-a.test"
    assert q("info@e2e-a.test", "sender_login_maps.cf") == "alice@e2e-a.test"
    assert q("@e2e-b.test", "sender_login_maps.cf") == ""
    assert q("nobody-here@e2e-b.test", "sender_login_maps.cf") == ""
    assert q("bob@e2e-a.test", "sender_login_maps.cf") == ""


def test_mailbox_delivery(stack):
    stack.send("alice@e2e-a.test", "tokalice1")
    stack.wait_delivered("alice@e2e-a.test", "tokalice1")
    ok, count = stack.imap_login("alice@e2e-a.test", PASSWORDS["alice@e2e-a.test"])
    assert ok and count >= 1, count


def test_alias_delivery(stack):
    stack.send("info@e2e-a.test", "tokinfo1")
    stack.wait_delivered("alice@e2e-a.test", "tokinfo1")


def test_catch_all_and_real_mailbox(stack):
    stack.send("nobody-here@e2e-b.test", "tokcatch1")
    stack.wait_delivered("carol@e2e-b.test", "tokcatch1")
    stack.send("erin@e2e-b.test", "tokerin1")
    stack.wait_delivered("erin@e2e-b.test", "tokerin1")
    assert "tokerin1" not in stack.maildir_tokens("carol@e2e-b.test")
    assert "tokcatch1" not in stack.maildir_tokens("erin@e2e-b.test")


def test_unknown_and_inactive_recipients_refused(stack):
    code, text = stack.rcpt_reply("nobody-here@e2e-a.test")  # no catch-all on e2e-a.test
    assert 500 <= code < 600, (code, text)
    code, text = stack.rcpt_reply("bob@e2e-a.test")  # inactive mailbox
    assert 500 <= code < 600, (code, text)
    ok, answer = stack.imap_login("bob@e2e-a.test", PASSWORDS["bob@e2e-a.test"])
    assert not ok, answer


def test_suspend_defers_and_blocks_login_then_activation_restores(stack):
    dave = "dave@e2e-s.test"
    stack.send(dave, "tokdave1")
    stack.wait_delivered(dave, "tokdave1")
    assert stack.doveadm_auth(dave, PASSWORDS[dave]) == 0

    stack.odoo('env["emboux.domain"]._find_by_name("e2e-s.test").action_suspend()')
    for rcpt in (dave, "sales@e2e-s.test", "whoever@e2e-s.test"):
        code, text = stack.rcpt_reply(rcpt)
        assert 400 <= code < 500, (rcpt, code, text)
    ok, answer = stack.imap_login(dave, PASSWORDS[dave])
    assert not ok, answer
    assert stack.doveadm_auth(dave, PASSWORDS[dave]) == 77
    # other domains are untouched
    assert stack.rcpt_reply("alice@e2e-a.test")[0] == 250
    # mail Postfix accepted before the suspension still reaches the Maildir:
    # Dovecot's userdb keeps the mailbox, only the passdb refuses it
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, dave, "queued before suspension"
    msg.set_content("token tokqueued1\n")
    with smtplib.LMTP(HOST, LMTP_PORT, timeout=20) as lmtp:
        assert not lmtp.send_message(msg, from_addr=SENDER, to_addrs=[dave])
    stack.wait_delivered(dave, "tokqueued1")

    stack.odoo('env["emboux.domain"]._find_by_name("e2e-s.test").action_activate()')
    assert stack.rcpt_reply(dave)[0] == 250
    stack.send(dave, "tokdave2")  # what a sending MTA retries after the 4xx
    stack.send("sales@e2e-s.test", "toksales1")
    stack.wait_delivered(dave, "tokdave2")
    stack.wait_delivered(dave, "toksales1")
    # nothing lost
    assert {"tokdave1", "tokqueued1", "tokdave2", "toksales1"} <= stack.maildir_tokens(dave)
    ok, count = stack.imap_login(dave, PASSWORDS[dave])
    assert ok and count == 4, count


def test_password_set_through_odoo_logs_in(stack):
    alice = "alice@e2e-a.test"
    stack.odoo(
        f'env["emboux.mailbox"]._find_by_email({alice!r}).set_password({ALICE_NEW_PASSWORD!r})'
    )
    ok, count = stack.imap_login(alice, ALICE_NEW_PASSWORD)
    assert ok and count >= 2, count
    ok, answer = stack.imap_login(alice, PASSWORDS[alice])
    assert not ok, answer


def test_quota_from_the_view(stack):
    proc = run(["doveadm", "-c", str(stack.dc_conf), "quota", "get", "-u", "alice@e2e-a.test"])
    # quota_mb 1024 by default -> '*:storage=1024M' -> 1048576 KiB
    assert re.search(r"STORAGE\s+\d+\s+1048576\b", proc.stdout), proc.stdout
