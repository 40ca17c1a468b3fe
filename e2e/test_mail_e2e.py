"""End to end with the real mail servers: Debian's Postfix and Dovecot 2.3,
set up the way mailserver/README.md tells an operator, read the suite's
SQL views.

The test installs the packages when they are missing (apt-get, as root,
debconf's "No configuration"), creates its own database with emboux_core,
makes domains, mailboxes, aliases and a catch-all through the models' own
methods (``odoo shell``), then builds a private mail host with
tests/mailhost.py: Debian's shipped configuration (master.cf with its
chroot, no main.cf, Dovecot's conf.d with TLS) under a private root, the
README's ``e2e: run`` blocks run as written on it (only the paths and the
ports differ), Postfix started as Debian's unit does. smtpd listens on
127.0.0.1:2525 (for 25), 2587 (587, STARTTLS) and 2465 (465, implicit
TLS), Dovecot's IMAP on 127.0.0.1:14300 and 19930; delivery is LMTP on the
unix socket in Postfix's spool, the submission logins go to Dovecot's auth
socket there. Both read PostgreSQL as the read-only role the suite
created, over 127.0.0.1 with its password. Nothing listens elsewhere,
nothing leaves the machine, and everything is stopped and dropped at the
end; the host's /etc/postfix, /etc/dovecot and ports are not touched (the
snakeoil certificate and the system user vmail are made when missing, as
the README says).

Environment: EMBOUX_E2E_DB names the throwaway database (default
emboux_mail_e2e_<pid>); EMBOUX_E2E_KEEP=1 keeps the temporary folder.
"""

from email.message import EmailMessage
import os
from pathlib import Path
import re
import shutil
import smtplib

from mailhost import (
    HOST,
    PACKAGES,
    TOP,
    MailHost,
    OdooDatabase,
    ensure_packages,
    run,
    scratch_dir,
    tls_context,
    wait_for,
)
import psycopg2
import pytest

PORTS = {"smtp": 2525, "submission": 2587, "submissions": 2465, "imap": 14300, "imaps": 19930}
SENDER = "sender@e2e-outside.invalid"
PASSWORDS = {
    "alice@e2e-a.test": "alice password 1",
    "bob@e2e-a.test": "bob password 12",
    "carol@e2e-b.test": "carol password 1",
    "erin@e2e-b.test": "erin password 12",
    "frank@e2e-b.test": "frank password 1",
    "dave@e2e-s.test": "dave password 12",
}
ALICE_NEW_PASSWORD = "alice changed it 2"


class Stack(OdooDatabase):
    """The throwaway database of this test run, and its mail host."""

    def __init__(self, tmp):
        super().__init__(tmp, os.environ.get("EMBOUX_E2E_DB") or f"emboux_mail_e2e_{os.getpid()}")
        self.host = MailHost(
            tmp, db=self.db, role=self.role, password=self.role_password, ports=PORTS
        )

    # --- mail -----------------------------------------------------------------
    def smtp(self):
        """A sending server's connection to port 25 (smtpd on PORTS['smtp']),
        TLS started as Postfix offers it (Debian's main.cf.tls)."""
        smtp = smtplib.SMTP(HOST, PORTS["smtp"], timeout=20)
        smtp.starttls(context=tls_context())
        return smtp

    def send(self, rcpt, token):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = SENDER, rcpt, f"e2e {token}"
        msg.set_content(f"token {token}\n")
        with self.smtp() as smtp:
            smtp.send_message(msg, from_addr=SENDER, to_addrs=[rcpt])

    def rcpt_reply(self, rcpt):
        with self.smtp() as smtp:
            smtp.ehlo("client.e2e.invalid")
            smtp.mail(SENDER)
            code, text = smtp.rcpt(rcpt)
            smtp.rset()
        return code, text.decode(errors="replace")

    def maildir_tokens(self, address):
        local, domain = address.split("@")
        found = set()
        for sub in ("new", "cur"):
            folder = self.host.mailroot / domain / local / sub
            if folder.is_dir():
                for path in folder.iterdir():
                    found.update(re.findall(r"token (\w+)", path.read_text(errors="replace")))
        return found

    def wait_delivered(self, address, token, timeout=20.0):
        wait_for(
            lambda: token in self.maildir_tokens(address),
            timeout,
            f"{token} in the Maildir of {address} (postfix.log:\n"
            f"{self.host.log('postfix.log')}\ndovecot.log:\n{self.host.log('dovecot.log')})",
        )


SETUP_SCRIPT = """
Domain, Mailbox, Alias = env["emboux.domain"], env["emboux.mailbox"], env["emboux.alias"]
Domain.create([{"name": "e2e-a.test"}, {"name": "e2e-b.test"}, {"name": "e2e-s.test"}])
Mailbox.create([
    {"email": "alice@e2e-a.test", "password": %(alice)r},
    {"email": "bob@e2e-a.test", "password": %(bob)r, "active": False},
    {"email": "carol@e2e-b.test", "password": %(carol)r, "catch_all": True},
    {"email": "erin@e2e-b.test", "password": %(erin)r},
    {"email": "frank@e2e-b.test", "password": %(frank)r, "active": False},
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
    with scratch_dir("emboux-mail-e2e-") as tmp:
        st = Stack(tmp)
        try:
            st.create_database()
            st.odoo(SETUP_SCRIPT % {k.split("@")[0]: v for k, v in PASSWORDS.items()})
            st.host.build()
            yield st
        finally:
            st.host.stop()
            st.drop()


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


def test_the_host_is_debians_configuration_with_the_readme_steps(stack):
    """What the README's blocks started from and what they made: Debian's
    packages, main.cf template and chroot, Dovecot's conf.d with TLS."""
    host = stack.host
    assert sorted((host.root / "apt-get.packages").read_text().split()) == sorted(PACKAGES)
    assert "main_mailer_type select No configuration" in (
        (host.root / "debconf.selections").read_text()
    )
    main_cf = (host.pf_dir / "main.cf").read_text()
    assert main_cf.startswith((Path("/usr/share/postfix/main.cf.debian")).read_text())
    assert "smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem" in main_cf

    def postconf(*args):
        return run(["postconf", "-c", str(host.pf_dir), *args]).stdout

    assert postconf("-h", "virtual_alias_maps").startswith("proxy:pgsql:")
    # Debian's master.cf, its chroot untouched: smtpd, cleanup, rewrite, lmtp
    entries = {tuple(line.split()[:2]): line.split()[4] for line in postconf("-M").splitlines()}
    for service in (
        (f"{HOST}:{PORTS['smtp']}", "inet"),
        (f"{HOST}:{PORTS['submission']}", "inet"),
        (f"{HOST}:{PORTS['submissions']}", "inet"),
        ("cleanup", "unix"),
        ("rewrite", "unix"),
        ("lmtp", "unix"),
    ):
        assert entries[service] == "y", (service, entries)
    assert entries["proxymap", "unix"] == "n"
    # configure-instance.sh filled the chroot
    assert (host.spool / "etc" / "services").is_file()
    # the -o lines of master.cf.notes are the ones master.cf.sh wrote
    notes = (TOP / "mailserver" / "postfix" / "master.cf.notes").read_text()
    block = notes[notes.index("      submission inet") :].split("\n\n")[0]
    documented = set(re.findall(r"^\s+-o (\S+)$", host.relocate(block), flags=re.MULTILINE))
    policy_default = "inet:127.0.0.1:10040"
    service = re.escape(f"{HOST}:{PORTS['submission']}/inet/")
    written = {
        f"{name}={value}".replace(host.policy, policy_default)
        for name, value in re.findall(rf"^{service}(\S+) =[ ]?(.*)$", postconf("-P"), re.MULTILINE)
    }
    assert written == documented
    # Dovecot: Debian's conf.d, auth-system off, TLS on the snakeoil
    doveconf = run(["doveconf", "-c", str(host.dc_conf), "-n"]).stdout
    assert run(["doveconf", "-c", str(host.dc_conf), "-h", "ssl"]).stdout.strip() == "yes"
    assert f"ssl_cert = <{host.dc_dir}/private/dovecot.pem" in doveconf
    assert (host.dc_dir / "private" / "dovecot.pem").resolve() == Path(
        "/etc/ssl/certs/ssl-cert-snakeoil.pem"
    )
    assert "driver = pam" not in doveconf and "driver = sql" in doveconf
    assert (host.dc_dir / "conf.d" / "10-auth.conf").read_text().count(
        "#!include auth-system.conf.ext"
    ) == 1


def test_postmap_reads_the_views(stack):
    q = stack.host.postmap
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
    ok, count = stack.host.imap_login("alice@e2e-a.test", PASSWORDS["alice@e2e-a.test"])
    assert ok and count >= 1, count
    ok, count = stack.host.imap_login(
        "alice@e2e-a.test", PASSWORDS["alice@e2e-a.test"], implicit_tls=True
    )
    assert ok and count >= 1, count
    # delivered by Postfix's chrooted lmtp client on the socket in its spool
    assert "[private/dovecot-lmtp], " in stack.host.log("postfix.log")


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
    for rcpt in ("nobody-here@e2e-a.test", "bob@e2e-a.test"):  # no catch-all; inactive
        code, text = stack.rcpt_reply(rcpt)
        assert code == 550, (rcpt, code, text)
        assert text == (
            f"5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
        ), text
    ok, answer = stack.host.imap_login("bob@e2e-a.test", PASSWORDS["bob@e2e-a.test"])
    assert not ok, answer


def test_inactive_mailbox_of_a_catch_all_domain_goes_to_the_catch_all(stack):
    """The README: mail for a deactivated mailbox goes to the domain's
    catch-all when it has one; the mailbox cannot log in."""
    stack.send("frank@e2e-b.test", "tokfrank1")
    stack.wait_delivered("carol@e2e-b.test", "tokfrank1")
    assert not stack.maildir_tokens("frank@e2e-b.test")
    ok, answer = stack.host.imap_login("frank@e2e-b.test", PASSWORDS["frank@e2e-b.test"])
    assert not ok, answer


def test_submission_logs_in_through_dovecot_over_tls_only(stack):
    """587: STARTTLS first, then AUTH (Dovecot's socket in the spool); 465:
    TLS from the first byte. Until the policy service runs, RCPT answers
    451 4.3.5 (the README's step 7)."""
    alice, password = "alice@e2e-a.test", PASSWORDS["alice@e2e-a.test"]
    with smtplib.SMTP(HOST, PORTS["submission"], timeout=20) as smtp:
        smtp.ehlo("client.e2e.invalid")
        assert not smtp.has_extn("auth")
        code, text = smtp.mail(alice)
        assert code == 530 and b"Must issue a STARTTLS command first" in text, (code, text)
    with stack.host.submission() as smtp:
        smtp.ehlo("client.e2e.invalid")
        assert "PLAIN" in smtp.esmtp_features["auth"].upper()
        assert refused_login(smtp, alice, "not the password") == 535
    for implicit_tls in (False, True):
        with stack.host.submission(implicit_tls=implicit_tls) as smtp:
            smtp.login(alice, password)
            smtp.mail(alice)
            code, text = smtp.rcpt("someone@example.org")
            assert code == 451, (code, text)
            assert text == (
                b"4.3.5 <someone@example.org>: Recipient address rejected: "
                b"Policy service unavailable"
            ), text
    # an inactive mailbox cannot log in
    with stack.host.submission(implicit_tls=True) as smtp:
        smtp.ehlo("client.e2e.invalid")
        assert refused_login(smtp, "bob@e2e-a.test", PASSWORDS["bob@e2e-a.test"]) == 535


def refused_login(smtp, user, password):
    """The code of a refused AUTH PLAIN (login() would try the next
    mechanism after a refusal)."""
    smtp.user, smtp.password = user, password
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        smtp.auth("PLAIN", smtp.auth_plain)
    return refused.value.smtp_code


def check_verdict(output):
    return output[output.index("verdict:") :]


def test_check_tells_what_the_servers_see(stack):
    check = stack.host.check

    def ok(address, *expected, status=0):
        code, output = check(address, "--policy", "none")
        assert code == status, output
        verdict = check_verdict(output)
        for line in expected:
            assert f"  {line}\n" in verdict, (line, output)
        return output

    out = ok(
        "alice@e2e-a.test",
        "port 25, RCPT TO:<alice@e2e-a.test>: accepted",
        f"delivered to alice@e2e-a.test: maildir:{stack.host.mailroot}/e2e-a.test/alice/",
        "submission, MAIL FROM:<alice@e2e-a.test>: allowed to the login alice@e2e-a.test",
        "login as alice@e2e-a.test (IMAP, submission): allowed",
    )
    assert "quota_rule=*:storage=1024M" in out, out
    assert "{SHA512-CRYPT}" not in out and "$6$" not in out, out
    ok(
        "Info@E2E-A.test",
        "port 25, RCPT TO:<info@e2e-a.test>: accepted",
        f"delivered to alice@e2e-a.test: maildir:{stack.host.mailroot}/e2e-a.test/alice/",
        "submission, MAIL FROM:<info@e2e-a.test>: allowed to the login alice@e2e-a.test",
        "login as info@e2e-a.test (IMAP, submission): refused",
    )
    out = ok(
        "nobody-here@e2e-b.test",
        "port 25, RCPT TO:<nobody-here@e2e-b.test>: accepted",
        f"delivered to carol@e2e-b.test: maildir:{stack.host.mailroot}/e2e-b.test/carol/",
        "submission, MAIL FROM:<nobody-here@e2e-b.test>: no login owns it: 553 5.7.1 "
        "<nobody-here@e2e-b.test>: Sender address rejected: not owned by user <login>",
    )
    assert "virtual_alias_maps @e2e-b.test -> carol@e2e-b.test" in out, out
    # deactivated: the catch-all takes its mail; without one, 550 5.1.1
    ok(
        "frank@e2e-b.test",
        "port 25, RCPT TO:<frank@e2e-b.test>: accepted",
        f"delivered to carol@e2e-b.test: maildir:{stack.host.mailroot}/e2e-b.test/carol/",
        "login as frank@e2e-b.test (IMAP, submission): refused",
    )
    ok(
        "bob@e2e-a.test",
        "port 25, RCPT TO:<bob@e2e-a.test>: 550 5.1.1 <bob@e2e-a.test>: Recipient address "
        "rejected: User unknown in virtual mailbox table",
        "login as bob@e2e-a.test (IMAP, submission): refused",
        status=1,
    )
    ok(
        "nobody-here@e2e-a.test",
        "port 25, RCPT TO:<nobody-here@e2e-a.test>: 550 5.1.1 <nobody-here@e2e-a.test>: "
        "Recipient address rejected: User unknown in virtual mailbox table",
        status=1,
    )
    ok(
        "someone@not-hosted.example",
        "port 25, RCPT TO:<someone@not-hosted.example>: 454 4.7.1 <someone@not-hosted.example>: "
        "Relay access denied (not a hosted domain)",
        status=1,
    )
    # what the check says is what Postfix answers
    assert stack.rcpt_reply("someone@not-hosted.example")[0] == 454


def test_check_reports_a_failed_lookup(stack):
    """A table Postfix cannot read (here: a copy of the configuration whose
    database does not answer) is exit 2 and named, never 'not found'."""
    bad = stack.tmp / "bad-postfix"
    shutil.copytree(stack.host.pf_dir, bad)
    for table in (bad / "emboux").glob("*.cf"):
        text = re.sub(
            r"^hosts = .*$", "hosts = inet:127.0.0.1:9", table.read_text(), flags=re.MULTILINE
        )
        table.write_text(text)
    run(
        [
            "postconf",
            "-c",
            str(bad),
            "-e",
            f"virtual_mailbox_domains = pgsql:{bad}/emboux/virtual_mailbox_domains.cf",
        ]
    )
    code, output = stack.host.check(
        "alice@e2e-a.test", "--policy", "none", "--postfix-config", str(bad)
    )
    assert code == 2, output
    assert "virtual_mailbox_domains e2e-a.test -> LOOKUP FAILED: " in output, output


def test_suspend_defers_and_blocks_login_then_activation_restores(stack):
    dave = "dave@e2e-s.test"
    stack.send(dave, "tokdave1")
    stack.wait_delivered(dave, "tokdave1")
    assert stack.host.doveadm("auth", "test", dave, PASSWORDS[dave], check=False).returncode == 0

    stack.odoo('env["emboux.domain"]._find_by_name("e2e-s.test").action_suspend()')
    for rcpt in (dave, "sales@e2e-s.test", "whoever@e2e-s.test"):
        code, text = stack.rcpt_reply(rcpt)
        assert code == 450 and text.startswith("4.2.1"), (rcpt, code, text)
    ok, answer = stack.host.imap_login(dave, PASSWORDS[dave])
    assert not ok, answer
    assert stack.host.doveadm("auth", "test", dave, PASSWORDS[dave], check=False).returncode == 77
    code, output = stack.host.check(dave, "--policy", "none")
    assert code == 1, output
    verdict = check_verdict(output)
    suspended = "450 4.2.1 Mailbox temporarily unavailable: domain suspended"
    assert f"  port 25, RCPT TO:<{dave}>: {suspended}\n" in verdict, output
    assert f"  login as {dave} (IMAP, submission): refused\n" in verdict, output
    # other domains are untouched
    assert stack.rcpt_reply("alice@e2e-a.test")[0] == 250
    # mail Postfix accepted before the suspension still reaches the Maildir:
    # Dovecot's userdb keeps the mailbox, only the passdb refuses it
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, dave, "queued before suspension"
    msg.set_content("token tokqueued1\n")
    with smtplib.LMTP(str(stack.host.lmtp_socket), timeout=20) as lmtp:
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
    ok, count = stack.host.imap_login(dave, PASSWORDS[dave])
    assert ok and count == 4, count


def test_password_set_through_odoo_logs_in(stack):
    alice = "alice@e2e-a.test"
    stack.odoo(
        f'env["emboux.mailbox"]._find_by_email({alice!r}).set_password({ALICE_NEW_PASSWORD!r})'
    )
    ok, count = stack.host.imap_login(alice, ALICE_NEW_PASSWORD)
    assert ok and count >= 2, count
    ok, answer = stack.host.imap_login(alice, PASSWORDS[alice])
    assert not ok, answer


def test_quota_from_the_view(stack):
    proc = stack.host.doveadm("quota", "get", "-u", "alice@e2e-a.test")
    # quota_mb 1024 by default -> '*:storage=1024M' -> 1048576 KiB
    assert re.search(r"STORAGE\s+\d+\s+1048576\b", proc.stdout), proc.stdout


def test_check_without_the_servers_running(stack):
    """Last (it stops them): without Postfix's proxymap, check reads the
    tables itself and says so; a policy service or a Dovecot that does not
    answer is a failed lookup (exit 2), named."""
    host = stack.host
    run(["postfix", "-c", str(host.pf_dir), "stop"])
    code, output = host.check("alice@e2e-a.test", "--policy", "none")
    assert code == 0, output
    assert "(proxymap not reachable, is Postfix running? tables read without it)" in output
    assert "virtual_mailbox_maps alice@e2e-a.test -> e2e-a.test/alice/" in output
    # the policy service master.cf names (nothing listens in this test)
    code, output = host.check("alice@e2e-a.test")
    assert code == 2, output
    assert f"policy {host.policy}:\n" in output, output
    assert "  RCPT sender=alice@e2e-a.test recipient=alice@e2e-a.test -> NO ANSWER: " in output
    run(["doveadm", "-c", str(host.dc_conf), "stop"])
    wait_for(lambda: not (host.dc_run / "master.pid").exists(), 20, "Dovecot to stop")
    code, output = host.check("alice@e2e-a.test", "--policy", "none")
    assert code == 2, output
    assert "  userdb alice@e2e-a.test -> LOOKUP FAILED: " in output, output
