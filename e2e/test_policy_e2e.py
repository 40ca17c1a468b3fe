"""End to end: Postfix asks the Emboux policy service before each outbound
message, and the suite's counters decide.

The mail host is the one mailserver/README.md builds, as tests/mailhost.py
makes it (the README's blocks run on Debian's shipped configuration under a
private root): the submission services master.cf.sh writes, on
127.0.0.1:2588 (for 587, STARTTLS) and 2466 (for 465, implicit TLS), with
TLS on the snakeoil certificate, SASL logins answered by Dovecot on its
socket in Postfix's spool (the passdb of mailserver/dovecot/ on the suite's
views), ``reject_sender_login_mismatch`` on sender_login_maps.cf, and
``check_policy_service`` at RCPT and END-OF-MESSAGE for authenticated
clients only (``EMBOUX_POLICY`` of master.cf.sh: the daemon below). What
Postfix accepts for outside addresses is discarded (the instance's
``default_transport``), so nothing leaves the machine. The policy daemon
(mailserver/policyd/emboux_policyd.py) runs as mailserver/README.md
installs it on a mail host: Debian's ``/usr/bin/python3`` with
``python3-psycopg2``, a configuration file made from
``policyd.conf.example`` (``--config``), checked with ``--check``, asking
PostgreSQL as the policy role the suite created at install
(``EMBOUX_POLICYD_DB_ROLE`` / ``EMBOUX_POLICYD_DB_PASSWORD``). It listens on
127.0.0.1:10041; its DSN goes through a TCP proxy (tests/test_policyd.py)
that the test stops to play a database gone away. A live Odoo
(``--workers=2``, the suite installed on a throwaway database) serves the
REST API that creates the domains and reads the counters back. Mail is
sent with smtplib, as a mail client would.

Environment: ``EMBOUX_POLICY_E2E_PORT`` (default 10041; the proxy uses the
next port), ``EMBOUX_POLICY_E2E_SUBMIT_PORT`` (default 2588: submission;
port 25 of the mail host is that minus 62, 465 that minus 122, IMAP
14301 and 19931), ``EMBOUX_POLICY_E2E_ODOO_PORT`` (default 8215),
``EMBOUX_E2E_KEEP=1`` keeps the temporary folder.
"""

import os
from pathlib import Path
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

from live_odoo import TOP, LiveOdoo, free_port, odoo_command
from mailhost import (
    HOST,
    MailHost,
    ensure_packages,
    port_open,
    run,
    submission_client,
    wait_port,
)
import psycopg2
import pytest
import requests
from test_policyd import TcpProxy

POLICY_PORT = int(os.environ.get("EMBOUX_POLICY_E2E_PORT", "10041"))
PROXY_PORT = POLICY_PORT + 1
SUBMIT_PORT = int(os.environ.get("EMBOUX_POLICY_E2E_SUBMIT_PORT", "2588"))
PORTS = {
    "smtp": SUBMIT_PORT - 62,
    "submission": SUBMIT_PORT,
    "submissions": SUBMIT_PORT - 122,
    "imap": 14301,
    "imaps": 19931,
}
ODOO_PORT = int(os.environ.get("EMBOUX_POLICY_E2E_ODOO_PORT", "8215"))
TOKEN = "policy-e2e-" + secrets.token_urlsafe(12)
DAEMON = TOP / "mailserver" / "policyd" / "emboux_policyd.py"
EXAMPLE = TOP / "mailserver" / "policyd" / "policyd.conf.example"
# what a Debian mail host runs it with (mailserver/README.md)
DEBIAN_PYTHON = "/usr/bin/python3"
ROLE = f"emboux_policyd_e2e_{os.getpid()}"
# make test's marker secret when there is one: its logs are searched for it
ROLE_PASSWORD = os.environ.get("EMBOUX_TEST_SECRET") or secrets.token_urlsafe(18)
# the mail servers' read-only role (Dovecot's passdb, the sender login map)
MS_ROLE = f"emboux_ms_policy_e2e_{os.getpid()}"
MS_PASSWORD = secrets.token_urlsafe(18)
# the mailboxes that log in on submission (tenant A: sender.test and
# unverified.test; tenant B: other.test, whose bea is the catch-all)
PASSWORDS = {
    "alice@sender.test": "alice password 1",
    "bob@unverified.test": "bob password 12",
    "bea@other.test": "bea password 123",
}


def odoo_shell(live, script):
    """Run ``script`` in ``odoo shell`` on the live database and commit."""
    run(
        [
            *odoo_command(),
            "shell",
            f"--addons-path={TOP}",
            "-d",
            live.db,
            "--no-http",
            "--log-level=warn",
            f"--data-dir={live.workdir / 'data'}",
        ],
        input=script + "\nenv.cr.commit()\n",
        env=live.env(),
        timeout=120,
    )


def ensure_debian_psycopg2():
    """Debian's python3-psycopg2, what the daemon needs on a mail host;
    installed when missing (the test fails, never skips, when it cannot)."""
    check = [DEBIAN_PYTHON, "-c", "import psycopg2"]
    if subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("python3-psycopg2 is missing and cannot be installed (root, apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "python3-psycopg2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        subprocess.run(
            ["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600, check=False
        )
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=600, check=False
        )
    if subprocess.run(check, capture_output=True, check=False).returncode != 0:
        pytest.fail(f"apt-get could not install python3-psycopg2:\n{proc.stderr[-2000:]}")


def daemon_config(path, **settings):
    """policyd.conf.example with ``settings`` in place of its values."""
    text = EXAMPLE.read_text()
    for name, value in settings.items():
        text, count = re.subn(rf"^{name} = .*$", f"{name} = {value}", text, flags=re.MULTILINE)
        assert count == 1, f"policyd.conf.example has no single '{name} = ' line"
    path.write_text(text)
    path.chmod(0o600)
    return path


def role_dsn(live, port=PROXY_PORT, user=ROLE):
    return (
        f"host={HOST} port={port} dbname={live.db} user={user} password={ROLE_PASSWORD} "
        "connect_timeout=3"
    )


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("the policy end-to-end test runs Postfix and must run as root")
    ensure_packages()
    ensure_debian_psycopg2()
    tmp = Path(tempfile.mkdtemp(prefix="emboux-policy-e2e-"))
    # the policy role: created by the suite at install, as in production
    # (emboux_policyd_db_role / emboux_policyd_db_password)
    role_env = {
        "EMBOUX_POLICYD_DB_ROLE": ROLE,
        "EMBOUX_POLICYD_DB_PASSWORD": ROLE_PASSWORD,
        "EMBOUX_MAILSERVER_DB_ROLE": MS_ROLE,
        "EMBOUX_MAILSERVER_DB_PASSWORD": MS_PASSWORD,
    }
    live = LiveOdoo(tmp, f"emboux_policy_e2e_{os.getpid()}", TOKEN, ODOO_PORT, extra_env=role_env)
    host = MailHost(
        tmp,
        db=live.db,
        role=MS_ROLE,
        password=MS_PASSWORD,
        ports=PORTS,
        policy=f"inet:{HOST}:{POLICY_PORT}",
        postconf=["smtpd_policy_service_max_idle = 10s"],
    )
    proxy = TcpProxy(PROXY_PORT)
    daemon = None
    try:
        live.install()
        live.start()
        master = {"Authorization": f"Bearer {TOKEN}"}
        odoo_shell(
            live,
            "for ref in ('policy-e2e-a', 'policy-e2e-b'):\n"
            "    env['emboux.tenant']._get_or_create(ref)\n",
        )
        for name, tenant in (
            ("sender.test", "policy-e2e-a"),
            ("unverified.test", "policy-e2e-a"),
            ("other.test", "policy-e2e-b"),
        ):
            response = requests.post(
                live.url("/domains/"), json={"name": name, "partner_ref": tenant}, headers=master
            )
            assert response.status_code == 201, response.text
        # verification comes from the mail provider; set it as the
        # provider's answer would, tier "free" (100 a day), no warm-up
        odoo_shell(
            live,
            "for name in ('sender.test', 'other.test'):\n"
            "    d = env['emboux.domain']._find_by_name(name)\n"
            "    d.write({'warmup_profile': False})\n"
            "    d._set_verification('verified')\n"
            "for email in ('bounced@example.org', 'gone@sender.test'):\n"
            "    env['emboux.suppression'].create({'email': email, 'reason': 'bounce'})\n"
            f"passwords = {PASSWORDS!r}\n"
            "for email, password in passwords.items():\n"
            "    env['emboux.mailbox'].create({'email': email, 'password': password})\n"
            "env['emboux.mailbox']._find_by_email('bea@other.test').catch_all = True\n"
            "env['emboux.alias'].upsert('info@sender.test', 'alice@sender.test')\n",
        )
        proxy.start()
        config = daemon_config(
            tmp / "policyd.conf", listen=f"{HOST}:{POLICY_PORT}", dsn=role_dsn(live)
        )
        command = [DEBIAN_PYTHON, str(DAEMON), "--config", str(config)]
        check = subprocess.run(
            [*command, "--check"], capture_output=True, text=True, timeout=60, check=False
        )
        assert check.returncode == 0, check.stderr
        if port_open(POLICY_PORT):
            pytest.fail(f"{HOST}:{POLICY_PORT} is already in use")
        daemon = subprocess.Popen(
            command,
            stdout=open(tmp / "policyd.log", "w"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
        )
        wait_port(POLICY_PORT)
        host.build()
        yield {
            "live": live,
            "host": host,
            "master": master,
            "tmp": tmp,
            "proxy": proxy,
            "config": config,
        }
    finally:
        host.stop()
        if daemon:
            daemon.terminate()
            daemon.wait(timeout=10)
        proxy.stop()
        live.stop()
        live.drop()
        if not os.environ.get("EMBOUX_LIVE_KEEP_DB"):
            for role in (ROLE, f"{ROLE}_np", MS_ROLE):
                subprocess.run(
                    ["psql", "-d", "postgres", "-qc", f'DROP ROLE IF EXISTS "{role}"'],
                    capture_output=True,
                    check=False,
                )
        if os.environ.get("EMBOUX_E2E_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


OWN = object()


def send(sender, recipients, body="Hello", login=OWN, implicit_tls=False):
    """Send one message on submission (STARTTLS; ``implicit_tls``: on
    submissions), logged in as ``login`` (by default the sender's mailbox,
    or alice@sender.test when the sender has none; None: not logged in);
    (code, message) of the refusal, or None when sent."""
    if login is OWN:
        login = sender if sender in PASSWORDS else "alice@sender.test"
    message = f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: test\r\n\r\n{body}\r\n"
    with submission_client(PORTS, implicit_tls) as smtp:
        if login:
            smtp.login(login, PASSWORDS[login])
        try:
            refused = smtp.sendmail(sender, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:
            return {rcpt: (code, msg.decode()) for rcpt, (code, msg) in exc.recipients.items()}
        except smtplib.SMTPDataError as exc:
            return (exc.smtp_code, exc.smtp_error.decode())
        if refused:
            return {rcpt: (code, msg.decode()) for rcpt, (code, msg) in refused.items()}
    return None


def outbound(stack, name="sender.test"):
    response = requests.get(
        stack["live"].url(f"/domains/{name}/outbound"), headers=stack["master"], timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_allowed_message_is_counted_per_recipient(stack):
    before = outbound(stack)["sent_today"]
    assert send("alice@sender.test", ["a@example.org", "b@example.org"]) is None
    assert outbound(stack)["sent_today"] == before + 2


def test_submissions_with_implicit_tls_is_counted_the_same(stack):
    """465 (submissions, TLS from the first byte) runs the same lists."""
    before = outbound(stack)["sent_today"]
    assert send("alice@sender.test", ["a@example.org"], implicit_tls=True) is None
    assert outbound(stack)["sent_today"] == before + 1
    before_b = outbound(stack, "other.test")["sent_today"]
    refused = send(
        "bea@other.test", ["a@example.org"], login="alice@sender.test", implicit_tls=True
    )
    code, text = refused["a@example.org"]
    assert code == 553 and "not owned by user alice@sender.test" in text, text
    refused = send("alice@sender.test", ["bounced@example.org"], login=None, implicit_tls=True)
    code, text = refused["bounced@example.org"]
    assert code == 554 and "Client host rejected: Access denied" in text, text
    assert outbound(stack)["sent_today"] == before + 1
    assert outbound(stack, "other.test")["sent_today"] == before_b


def test_check_asks_the_policy_service_master_cf_names(stack):
    """mailserver/check finds the policy service in master.cf's submission
    entries and asks it at RCPT, which counts nothing."""
    host = stack["host"]
    before = outbound(stack)["sent_today"]
    code, output = host.check("alice@sender.test")
    assert code == 0, output
    assert f"policy inet:{HOST}:{POLICY_PORT}:\n" in output, output
    assert "  RCPT sender=alice@sender.test recipient=alice@sender.test -> DUNNO\n" in output, (
        output
    )
    code, output = host.check("gone@sender.test")  # no mailbox, and suppressed
    assert code == 1, output
    assert "-> 550 5.7.1 <gone@sender.test>: recipient is on the suppression list\n" in output, (
        output
    )
    assert outbound(stack)["sent_today"] == before


def test_suppressed_recipient_is_refused_alone(stack):
    before = outbound(stack)["sent_today"]
    refused = send("alice@sender.test", ["bounced@example.org", "c@example.org"])
    assert set(refused) == {"bounced@example.org"}
    code, text = refused["bounced@example.org"]
    assert code == 550 and "suppression list" in text
    # the message went to the other recipient, counted once
    assert outbound(stack)["sent_today"] == before + 1


def test_every_recipient_suppressed_sends_nothing(stack):
    before = outbound(stack)["sent_today"]
    refused = send("alice@sender.test", ["bounced@example.org"])
    assert set(refused) == {"bounced@example.org"}
    assert outbound(stack)["sent_today"] == before


def test_unverified_and_foreign_senders_are_refused(stack):
    code, text = send("bob@unverified.test", ["a@example.org"])
    assert code == 554 and "not verified" in text, text
    assert outbound(stack, "unverified.test")["sent_today"] == 0
    # a sender address no mailbox owns never reaches the policy service:
    # Postfix refuses it at RCPT (reject_sender_login_mismatch)
    refused = send("eve@elsewhere.example", ["a@example.org"])
    code, text = refused["a@example.org"]
    assert code == 553 and text.startswith("5.7.1 <eve@elsewhere.example>"), text
    # the policy's own answer for a domain not hosted here, asked directly
    answer = policy_request(
        "request=smtpd_access_policy\nprotocol_state=RCPT\n"
        "sender=eve@elsewhere.example\nrecipient=a@example.org\n\n"
    )
    assert answer.startswith("action=554 5.7.1") and "not hosted here" in answer, answer


def policy_request(request):
    """One request to the daemon; its first answer line."""
    with socket.create_connection((HOST, POLICY_PORT), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\n\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    return answer.decode().split("\n")[0]


def test_mailbox_may_not_send_as_another_tenants_address(stack):
    """alice (tenant A) logged in on submission, sending as bea@other.test
    (tenant B): 553 5.7.1 at RCPT, before the policy service counts
    anything; B's counters do not move (nor A's)."""
    before_a, before_b = outbound(stack)["sent_today"], outbound(stack, "other.test")["sent_today"]
    refused = send("bea@other.test", ["a@example.org", "b@example.org"], login="alice@sender.test")
    assert set(refused) == {"a@example.org", "b@example.org"}, refused
    code, text = refused["a@example.org"]
    assert code == 553, (code, text)
    assert text == (
        "5.7.1 <bea@other.test>: Sender address rejected: not owned by user alice@sender.test"
    ), text
    assert outbound(stack, "other.test")["sent_today"] == before_b
    assert outbound(stack)["sent_today"] == before_a
    # and the other way round
    code, text = send("alice@sender.test", ["a@example.org"], login="bea@other.test")[
        "a@example.org"
    ]
    assert code == 553 and "not owned by user bea@other.test" in text, text
    assert outbound(stack)["sent_today"] == before_a
    # B's own mailbox sends and is counted on B's domain
    assert send("bea@other.test", ["a@example.org"]) is None
    assert outbound(stack, "other.test")["sent_today"] == before_b + 1


def test_own_alias_is_allowed_and_counted_on_its_domain(stack):
    before = outbound(stack)["sent_today"]
    assert send("info@sender.test", ["a@example.org"], login="alice@sender.test") is None
    assert outbound(stack)["sent_today"] == before + 1


def test_null_sender_counts_against_the_login(stack):
    """MAIL FROM:<> (a read receipt) is no way around the limits: counted
    on the domain of the login that sent it."""
    before = outbound(stack)["sent_today"]
    assert send("", ["a@example.org"], login="alice@sender.test") is None
    assert outbound(stack)["sent_today"] == before + 1


def test_catch_all_owner_sends_only_as_itself(stack):
    """bea receives every unknown address of other.test, and may send as
    none of them."""
    before = outbound(stack, "other.test")["sent_today"]
    code, text = send("anything@other.test", ["a@example.org"], login="bea@other.test")[
        "a@example.org"
    ]
    assert code == 553 and "not owned by user bea@other.test" in text, text
    assert outbound(stack, "other.test")["sent_today"] == before


def test_unauthenticated_client_learns_nothing(stack):
    """Not logged in: the same refusal for a suppressed recipient as for any
    other, whatever the sender (hosted or not); the policy service is never
    asked and nothing is counted."""
    log = stack["tmp"] / "policyd.log"
    before_log = log.read_text().count("bounced@example.org")
    before = outbound(stack)["sent_today"]
    answers = set()
    for sender in ("alice@sender.test", "eve@elsewhere.example", "nobody@sender.test"):
        refused = send(sender, ["bounced@example.org", "c@example.org"], login=None)
        assert set(refused) == {"bounced@example.org", "c@example.org"}, refused
        answers.update(refused.values())
    assert len(answers) == 1, answers
    code, text = answers.pop()
    assert code == 554 and "Client host rejected: Access denied" in text, text
    assert "suppress" not in text and "bounced" not in text, text
    assert log.read_text().count("bounced@example.org") == before_log
    assert outbound(stack)["sent_today"] == before
    # the same client, logged in, gets the suppression answer
    code, text = send("alice@sender.test", ["bounced@example.org"])["bounced@example.org"]
    assert code == 550 and "suppression list" in text, text


def test_hourly_limit_defers_and_is_never_exceeded(stack):
    """The free tier sends 100 a day, so 17 an hour (HOURLY_FRACTION 1/6)."""
    state = outbound(stack)
    room = state["hourly_limit"] - state["sent_this_hour"]
    assert room > 1, state
    # a message with one recipient too many is refused whole: nothing counted
    over = send("alice@sender.test", [f"r{i}@example.org" for i in range(room + 1)])
    assert over[0] == 451 and "hourly sending limit" in over[1], over
    assert outbound(stack)["sent_this_hour"] == state["sent_this_hour"]
    # exactly the room left is allowed, then the next recipient is over
    assert send("alice@sender.test", [f"r{i}@example.org" for i in range(room)]) is None
    code, text = send("alice@sender.test", ["late@example.org"])
    assert code == 451 and "hourly sending limit" in text, text
    state = outbound(stack)
    assert state["sent_this_hour"] == state["hourly_limit"]


def test_database_down_means_temporary_failure(stack):
    """The daemon defers when the database does not answer (its connections
    cut, new ones refused): nothing leaves unchecked; once it is back, mail
    is decided again."""
    proxy = stack["proxy"]
    proxy.stop()
    try:
        refused = send("alice@sender.test", ["x@example.org"])
        code, text = refused["x@example.org"]
        assert code == 451 and text.startswith("4.3.0"), (code, text)
    finally:
        proxy.start()
    log = (stack["tmp"] / "policyd.log").read_text()
    assert "deferring (database unreachable (" in log, log[-2000:]
    # back: decided again (the hourly limit may be reached by now: ask
    # about a suppressed recipient, refused at RCPT whatever the counters)
    deadline = time.monotonic() + 15
    while True:
        code, text = send("alice@sender.test", ["bounced@example.org"])["bounced@example.org"]
        if code == 550:
            break
        assert time.monotonic() < deadline, f"the daemon did not reconnect: {code} {text}"
        time.sleep(0.5)


def test_role_without_the_privilege_stops_the_daemon_at_start(stack):
    """A role that may not execute the policy function: the start-up check
    exits 1 at once, naming the setting."""
    live = stack["live"]
    other, port = f"{ROLE}_np", free_port()
    run(["psql", "-d", "postgres", "-qc", f"CREATE ROLE \"{other}\" LOGIN PASSWORD 'x'"])
    config = daemon_config(
        stack["tmp"] / "other-role.conf",
        listen=f"{HOST}:{port}",
        dsn=role_dsn(live, port=5432, user=other),
    )
    proc = subprocess.run(
        [DEBIAN_PYTHON, str(DAEMON), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"role '{other}' may not execute emboux_policy_action" in proc.stderr, proc.stderr
    assert "user= of dsn" in proc.stderr and "emboux_policyd_db_role" in proc.stderr
    assert not port_open(port)


def test_deferral_is_logged_with_its_reason(stack):
    """The suite's own 4xx reaches Postfix and the daemon's log says why."""
    request = (
        "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
        "sender=alice@sender.test\nrecipient_count=100000\nqueue_id=DEFERLOG1\n\n"
    )
    answer = policy_request(request)
    assert answer.startswith("action=451 4.7.1"), answer
    log = (stack["tmp"] / "policyd.log").read_text()
    lines = [line for line in log.splitlines() if "DEFERLOG1" in line]
    assert len(lines) == 1 and "deferring (the suite's reason: " in lines[0], log[-2000:]
    assert "451 4.7.1" in lines[0], lines


def test_daemon_speaks_the_protocol_directly(stack):
    """Several requests on one connection, as Postfix sends them."""
    request = (
        "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=alice@sender.test\n"
        "recipient=bounced@example.org\n\n"
        "request=smtpd_access_policy\nprotocol_state=CONNECT\n\n"
    )
    with socket.create_connection((HOST, POLICY_PORT), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while answer.count(b"\n\n") < 2:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    first, second = answer.decode().split("\n\n")[:2]
    assert first.startswith("action=550 5.7.1 <bounced@example.org>")
    assert second == "action=DUNNO"


def test_policy_role_is_the_mail_hosts_only_credential(stack):
    """The daemon's role executes the policy function and reads nothing:
    a mail host holds neither the master token nor a role that sees the
    suite's tables. (The daemon does not use Odoo's /emboux/policy route,
    kept for the daemons of before.)"""
    live = stack["live"]
    conn = psycopg2.connect(host=HOST, port=5432, dbname=live.db, user=ROLE, password=ROLE_PASSWORD)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for table in ("emboux_domain", "emboux_outbound_counter", "emboux_suppression"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(f"SELECT 1 FROM {table} LIMIT 1")
            cur.execute(
                "SELECT action FROM emboux_policy_action('RCPT', 'alice@sender.test',"
                " 'bounced@example.org', NULL, NULL, NULL)"
            )
            assert cur.fetchone()[0].startswith("550 5.7.1 <bounced@example.org>")
    finally:
        conn.close()
