"""End to end: Postfix asks the Emboux policy service before each outbound
message, and the suite's counters decide.

Debian's Postfix (a private instance, ``postfix -c DIR``) runs one
submission-like smtpd on 127.0.0.1:2587 with ``check_policy_service`` at
RCPT and END-OF-DATA, as mailserver/postfix/master.cf.notes describes; its
transports discard what it accepts, so nothing leaves the machine. The
policy daemon (mailserver/policyd/emboux_policyd.py, the file a mail host
runs) listens on 127.0.0.1:10041 and asks a live Odoo (``--workers=2``,
the suite installed on a throwaway database). Mail is sent with smtplib, as
a mail client would; the test reads the counters back through the REST API.
"""

import os
from pathlib import Path
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile

from live_odoo import TOP, LiveOdoo, odoo_command
import pytest
import requests
from test_mail_e2e import HOST, POSTFIX_SERVICES, ensure_packages, port_open, run, wait_port

SUBMIT_PORT, POLICY_PORT = 2587, 10041
TOKEN = "policy-e2e-" + secrets.token_urlsafe(12)
DAEMON = TOP / "mailserver" / "policyd" / "emboux_policyd.py"


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


class Submission:
    """A private Postfix with one submission-like smtpd using the policy."""

    def __init__(self, tmp):
        self.dir = tmp / "postfix"
        self.spool = tmp / "postfix-spool"
        self.data = tmp / "postfix-data"
        self.log = tmp / "postfix.log"
        self.started = False

    def configure(self):
        self.dir.mkdir()
        self.spool.mkdir(mode=0o755)
        self.data.mkdir(mode=0o700)
        subprocess.run(["chown", "postfix:postfix", str(self.data)], check=True)
        policy = f"check_policy_service inet:{HOST}:{POLICY_PORT}"
        (self.dir / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.spool}
data_directory = {self.data}
maillog_file = {self.log}
maillog_file_prefixes = {self.log.parent}
myhostname = submit.e2e.invalid
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtputf8_enable = no
# nothing leaves the machine: what is accepted is discarded
default_transport = discard:policy end-to-end test
relay_transport = discard:policy end-to-end test
local_transport = discard:policy end-to-end test
# what mailserver/postfix/master.cf.notes sets on the submission services
smtpd_recipient_restrictions = {policy}, permit_mynetworks, reject
smtpd_end_of_data_restrictions = {policy}
smtpd_policy_service_default_action = 451 4.3.5 Policy service unavailable
smtpd_policy_service_max_idle = 10s
""")
        services = [f"{HOST}:{SUBMIT_PORT} inet n - n - - smtpd", *POSTFIX_SERVICES]
        (self.dir / "master.cf").write_text("\n".join(services) + "\n")

    def start(self):
        if port_open(SUBMIT_PORT):
            pytest.fail(f"{HOST}:{SUBMIT_PORT} is already in use")
        proc = subprocess.run(
            ["postfix", "-c", str(self.dir), "start"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.started = True
        if proc.returncode != 0:
            pytest.fail(f"postfix start failed: {proc.stdout}{proc.stderr}{self.read_log()}")
        wait_port(SUBMIT_PORT)

    def stop(self):
        if self.started:
            subprocess.run(
                ["postfix", "-c", str(self.dir), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )

    def read_log(self):
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("the policy end-to-end test runs Postfix and must run as root")
    ensure_packages()
    tmp = Path(tempfile.mkdtemp(prefix="emboux-policy-e2e-"))
    tmp.chmod(0o755)  # the postfix user walks into it
    live = LiveOdoo(tmp, f"emboux_policy_e2e_{os.getpid()}", TOKEN, port=8215)
    postfix = Submission(tmp)
    daemon = None
    try:
        live.install()
        live.start()
        master = {"Authorization": f"Bearer {TOKEN}"}
        for name in ("sender.test", "unverified.test"):
            response = requests.post(live.url("/domains/"), json={"name": name}, headers=master)
            assert response.status_code == 201, response.text
        # verification comes from the mail provider; set it as the
        # provider's answer would, tier "free" (100 a day), no warm-up
        odoo_shell(
            live,
            "d = env['emboux.domain']._find_by_name('sender.test')\n"
            "d.write({'warmup_profile': False})\n"
            "d._set_verification('verified')\n"
            "env['emboux.suppression'].create("
            "{'email': 'bounced@example.org', 'reason': 'bounce'})\n",
        )
        token_file = tmp / "token"
        # the mail host's credential: the policy token, never the master token
        token_file.write_text(live.policy_token)
        daemon = subprocess.Popen(
            [
                sys.executable,
                str(DAEMON),
                "--listen",
                f"{HOST}:{POLICY_PORT}",
                "--url",
                f"http://127.0.0.1:{live.port}/emboux/policy",
                "--token-file",
                str(token_file),
            ],
            stdout=open(tmp / "policyd.log", "w"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
        )
        wait_port(POLICY_PORT)
        postfix.configure()
        postfix.start()
        yield {"live": live, "postfix": postfix, "master": master, "tmp": tmp}
    finally:
        postfix.stop()
        if daemon:
            daemon.terminate()
            daemon.wait(timeout=10)
        live.stop()
        live.drop()
        if os.environ.get("EMBOUX_E2E_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def send(sender, recipients, body="Hello"):
    """Send one message; (code, message) of the refusal, or None when sent."""
    message = f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: test\r\n\r\n{body}\r\n"
    with smtplib.SMTP(HOST, SUBMIT_PORT, timeout=30) as smtp:
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
    # refused at RCPT already: no message data is even sent
    refused = send("eve@elsewhere.example", ["a@example.org"])
    code, text = refused["a@example.org"]
    assert code == 554 and "not hosted here" in text, text


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


def test_suite_down_means_temporary_failure(stack):
    """The daemon defers when the suite does not answer: nothing unchecked."""
    live = stack["live"]
    live.stop()
    try:
        refused = send("alice@sender.test", ["x@example.org"])
        code, text = refused["x@example.org"]
        assert code == 451 and text.startswith("4.3.0"), (code, text)
    finally:
        live.start()
    log = (stack["tmp"] / "policyd.log").read_text()
    assert "deferring (suite unreachable" in log, log[-2000:]


def test_wrong_token_stops_the_daemon_at_start(stack):
    """A wrong policy token: the start-up check gets a 401 and the daemon
    exits non-zero at once, naming the token setting."""
    live = stack["live"]
    proc = subprocess.run(
        [
            sys.executable,
            str(DAEMON),
            "--listen",
            f"{HOST}:{POLICY_PORT + 1}",
            "--url",
            f"http://127.0.0.1:{live.port}/emboux/policy",
        ],
        env={**os.environ, "EMBOUX_POLICY_TOKEN": "not-the-policy-token"},
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert proc.returncode != 0, proc.stderr
    assert "HTTP 401" in proc.stderr and "EMBOUX_POLICY_TOKEN" in proc.stderr, proc.stderr
    assert not port_open(POLICY_PORT + 1)


def test_deferral_is_logged_with_its_reason(stack):
    """The suite's own 4xx reaches Postfix and the daemon's log says why."""
    request = (
        "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
        "sender=alice@sender.test\nrecipient_count=100000\nqueue_id=DEFERLOG1\n\n"
    )
    with socket.create_connection((HOST, POLICY_PORT), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\n\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.decode().startswith("action=451 4.7.1"), answer
    log = (stack["tmp"] / "policyd.log").read_text()
    lines = [line for line in log.splitlines() if "DEFERLOG1" in line]
    assert len(lines) == 1 and "deferring (the suite's reason)" in lines[0], log[-2000:]
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


def test_policy_token_is_the_mail_hosts_only_credential(stack):
    """The daemon's token opens the policy route only; the master token does
    not open the policy route (a mail host never needs it)."""
    live = stack["live"]
    policy = {"Authorization": f"Bearer {live.policy_token}"}
    response = requests.get(live.url("/domains/"), headers=policy, timeout=30)
    assert response.status_code == 401, response.text
    body = {"request": "smtpd_access_policy", "protocol_state": "CONNECT"}
    policy_url = f"http://127.0.0.1:{live.port}/emboux/policy"
    response = requests.post(policy_url, json=body, headers=stack["master"], timeout=30)
    assert response.status_code == 401, response.text
    response = requests.post(policy_url, json=body, headers=policy, timeout=30)
    assert response.status_code == 200 and response.json() == {"action": "DUNNO"}
