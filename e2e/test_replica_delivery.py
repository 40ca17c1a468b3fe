"""Mail delivered while Postfix and Dovecot read a streaming replica.

The mail host of mailserver/README.md (tests/mailhost.py: Debian's Postfix
and Dovecot 2.3 as private instances, the README's ``e2e: run`` blocks run
as written) on the suite's database of e2e/conftest.py, then docs/deploy.md's
``e2e: replica`` block run as written on it: Postfix's map files list the
replica and then the primary (``hosts = inet:<replica>:<port>
inet:<primary>:<port>``), Dovecot's ``connect`` one ``host=`` for each, and
both servers reload. The replica is a hot standby of the primary
(e2e/standby.py: ``pg_basebackup -R``, streaming replication) on another
loopback address at the primary's port, as another machine would be:
Dovecot gives every ``host=`` the same ``port=``.

Shown, in order:

1. the primary refuses the mail servers' role (a ``reject`` line at the top
   of its ``pg_hba.conf``; its sessions ended): a domain, a mailbox and an
   alias created through the REST API on the primary, once replayed on the
   replica (the lag then is printed), receive mail on port 25, delivered by
   LMTP into the Maildir and read over IMAP: the replica's statement log
   holds each lookup, as the role, and the primary has no session of it;
2. with both up, Dovecot's lookups alternate between the two hosts;
3. the replica stopped: mail to the same addresses, and to an alias created
   meanwhile (on the primary only), is delivered through the primary.

Environment: ``EMBOUX_E2E_REPLICA_HOST`` (default 127.0.0.2: the replica
listens there on the primary's port), ``EMBOUX_E2E_REPLICA_MAIL_PORTS``
(smtp, submission, submissions, imap, imaps; default
``2625,2687,2665,14400,19940``), ``EMBOUX_E2E_KEEP=1`` keeps the temporary
folders.
"""

from email.message import EmailMessage
import os
import re
import smtplib
import socket
import time

from cluster import MAIL_PASSWORD, MAIL_ROLE, PREFIX
from live_odoo import TOP
from mailhost import (
    HOST,
    MailHost,
    doc_run_blocks,
    ensure_packages,
    scratch_dir,
    tls_context,
    wait_for,
    with_settings,
)
import psycopg2
import pytest
from standby import PRIMARY, Standby, primary_sql

DEPLOY = TOP / "docs" / "deploy.md"
REPLICA_MARK = "<!-- e2e: replica -->"
REPLICA_HOST = os.environ.get("EMBOUX_E2E_REPLICA_HOST", "127.0.0.2")
PORT = PRIMARY["port"]
MAIL_PORTS = os.environ.get("EMBOUX_E2E_REPLICA_MAIL_PORTS", "2625,2687,2665,14400,19940")
SERVICES = ("smtp", "submission", "submissions", "imap", "imaps")
PORTS = dict(zip(SERVICES, map(int, MAIL_PORTS.split(",")), strict=True))
DOMAIN = "replica-mail-e2e.example"
MAILBOX = f"alice@{DOMAIN}"
ALIAS = f"info@{DOMAIN}"
LATE = f"late@{DOMAIN}"
PASSWORD = "replica mail e2e password"
SENDER = "sender@e2e-outside.invalid"
# the views the servers read for mail from outside (mailserver/postfix/*.cf,
# dovecot-sql.conf.ext); Postfix's mailbox table is asked only for an address
# the alias table does not answer, and every mailbox has its identity row there
POSTFIX_VIEWS = ("emboux_postfix_domains", "emboux_postfix_aliases")
DOVECOT_VIEW = "emboux_dovecot_users"
VIEWS = (
    *POSTFIX_VIEWS,
    "emboux_postfix_recipient_access",
    "emboux_postfix_mailboxes",
    DOVECOT_VIEW,
)


@pytest.fixture(scope="module")
def standby(cluster):
    if os.geteuid() != 0:
        pytest.fail("the replica delivery test runs PostgreSQL, Postfix and Dovecot: run as root")
    ensure_packages()
    # free when the primary listens on its own address only (Debian's
    # listen_addresses = 'localhost'), not on every address
    if listening(REPLICA_HOST, PORT):
        pytest.fail(f"{REPLICA_HOST}:{PORT} is taken: set EMBOUX_E2E_REPLICA_HOST")
    replica = Standby(PORT, prefix=PREFIX, host=REPLICA_HOST, log_statements=True)
    try:
        replica.create()
        yield replica
    finally:
        replica.destroy()


@pytest.fixture(scope="module")
def host(cluster, standby):
    """The README's mail host on the suite's database, then docs/deploy.md's
    replica block as written (its first line set to the test's hosts)."""
    with scratch_dir("emboux-replica-mail-") as tmp:
        mail = MailHost(tmp, db=cluster.db, role=MAIL_ROLE, password=MAIL_PASSWORD, ports=PORTS)
        try:
            mail.build()
            (block,) = doc_run_blocks(DEPLOY, REPLICA_MARK)
            values = {"DB_REPLICA_HOST": REPLICA_HOST, "DB_HOST": HOST, "DB_PORT": PORT}
            mail.run_script(with_settings(block, values), "replica", "docs/deploy.md's block")
            yield mail
        finally:
            mail.stop()


# --- helpers ---------------------------------------------------------------------


def listening(address, port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


def full_log(host, name):
    path = host.tmp / name
    return path.read_text(errors="replace") if path.exists() else ""


def send(rcpt, token):
    """A message from outside on port 25 (STARTTLS); an address Postfix
    refuses raises."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, rcpt, f"replica e2e {token}"
    msg.set_content(f"token {token}\n")
    with smtplib.SMTP(HOST, PORTS["smtp"], timeout=30) as smtp:
        smtp.starttls(context=tls_context())
        smtp.send_message(msg, from_addr=SENDER, to_addrs=[rcpt])


def maildir_tokens(host, address):
    local, domain = address.split("@")
    found = set()
    for sub in ("new", "cur"):
        folder = host.mailroot / domain / local / sub
        if folder.is_dir():
            for path in folder.iterdir():
                found.update(re.findall(r"token (\w+)", path.read_text(errors="replace")))
    return found


def deliver(host, tokens):
    """Send each ``{rcpt: token}`` and wait for all in alice's Maildir:
    the seconds it took."""
    started = time.monotonic()
    for rcpt, token in tokens.items():
        send(rcpt, token)
    wait_for(
        lambda: set(tokens.values()) <= maildir_tokens(host, MAILBOX),
        30,
        f"{sorted(tokens.values())} in {MAILBOX}'s Maildir (postfix.log:\n"
        f"{host.log('postfix.log')}\ndovecot.log:\n{host.log('dovecot.log')})",
    )
    return time.monotonic() - started


def replica_statements(standby, since=0):
    """``(log length, {view: statements of the mail role that read it})``
    from the replica's log after ``since``."""
    text = standby.log()
    counts = {}
    marker = f"{MAIL_ROLE}@"
    for line in text[since:].splitlines():
        if marker in line and " LOG:  statement: " in line:
            for view in VIEWS:
                if view in line:
                    counts[view] = counts.get(view, 0) + 1
    return len(text), counts


def primary_refused(log):
    return log.count(f'pg_hba.conf rejects connection for host "127.0.0.1", user "{MAIL_ROLE}"')


def reload_servers(host):
    host.run_script("systemctl reload postfix\nsystemctl reload dovecot\n", "reload")
    wait_for(host.lmtp_socket.exists, 20, "Dovecot's LMTP socket after the reload")


# --- the tests (in order: one mail host, one standby) --------------------------------


def test_the_documented_block_points_both_servers_at_the_replica_first(host):
    hosts = {
        line
        for table in host.maps.glob("*.cf")
        for line in table.read_text().splitlines()
        if line.startswith("hosts = ")
    }
    assert hosts == {f"hosts = inet:{REPLICA_HOST}:{PORT} inet:{HOST}:{PORT}"}
    connect = re.findall(r"(?m)^connect = .*$", (host.dc_dir / "dovecot-sql.conf.ext").read_text())
    expected = (
        f"connect = host={REPLICA_HOST} host={HOST} port={PORT} dbname={host.settings['DB_NAME']}"
        f" user={MAIL_ROLE} password={MAIL_PASSWORD}"
    )
    assert connect == [expected]


def test_rest_addresses_receive_mail_through_the_replica(cluster, standby, host, figures):
    standby.refuse_on_primary(MAIL_ROLE)
    with pytest.raises(psycopg2.OperationalError, match="pg_hba.conf rejects connection"):
        psycopg2.connect(
            host=HOST, port=PORT, dbname=cluster.db, user=MAIL_ROLE, password=MAIL_PASSWORD
        )
    since, _ = replica_statements(standby)
    for path, body in (
        ("/domains/", {"name": DOMAIN}),
        ("/users/", {"email": MAILBOX, "password": PASSWORD}),
        ("/aliases/", {"source": ALIAS, "destination": MAILBOX}),
    ):
        response = cluster.api(cluster.nodes[0], "POST", path, json=body)
        assert response.status_code == 201, response.text
    created = time.monotonic()
    ((lsn,),) = primary_sql("SELECT pg_current_wal_lsn()::text")
    while not standby.replayed(lsn):
        assert time.monotonic() - created < 30, standby.log()[-3000:]
        time.sleep(0.001)
    replayed = time.monotonic() - created
    lag = standby.lag()
    took = deliver(host, {MAILBOX: "tokreplica1", ALIAS: "tokreplica2"})
    ok, count = host.imap_login(MAILBOX, PASSWORD)
    assert ok and count == 2, count
    # who answered: the replica, as the role; the primary has no session of it
    _, served = replica_statements(standby, since)
    for view in (*POSTFIX_VIEWS, DOVECOT_VIEW):
        assert served.get(view), (view, served)
    assert standby.sessions(MAIL_ROLE, cluster.db, on_primary=True) == {}
    on_replica = standby.sessions(MAIL_ROLE, cluster.db)
    assert on_replica.get("postfix") and on_replica.get("dovecot"), on_replica
    # Dovecot connects to every host: it met the refusal and used the replica
    dovecot_refused = primary_refused(full_log(host, "dovecot.log"))
    assert dovecot_refused, host.log("dovecot.log")
    figures(
        f"replica delivery: the REST-created domain, mailbox and alias replayed on the replica "
        f"{replayed * 1000:.1f} ms after the last 201; lag then {lag}; 2 messages (mailbox, "
        f"alias) delivered in {took:.2f} s and read over IMAP with the primary refusing the "
        f"mail role; lookups on the replica: {served}; sessions of the role on the replica "
        f"{on_replica}, on the primary none; primary's refusals logged: Postfix "
        f"{primary_refused(full_log(host, 'postfix.log'))}, Dovecot {dovecot_refused}"
    )


def test_with_both_up_dovecot_alternates_its_lookups(cluster, standby, host, figures):
    """Dovecot's SQL pool sends each query to the next connected host."""
    standby.allow_on_primary(MAIL_ROLE)
    # new proxymap and auth processes: nothing of the refusal remembered
    reload_servers(host)
    # the auth process starts and connects to both hosts
    for _ in range(3):
        host.doveadm("user", MAILBOX)
    since, _ = replica_statements(standby)
    lookups = 20
    for _ in range(lookups):
        assert f"home\t{host.mailroot}/{DOMAIN}/alice/" in host.doveadm("user", MAILBOX).stdout
    _, served = replica_statements(standby, since)
    on_replica = served.get(DOVECOT_VIEW, 0)
    assert 0 < on_replica < lookups, served
    figures(
        f"replica delivery: with both up, {on_replica} of {lookups} Dovecot userdb lookups "
        "went to the replica (round robin over host= of connect)"
    )


def test_delivery_falls_back_to_the_primary_when_the_replica_stops(cluster, standby, host, figures):
    # live connections to the replica first (they break with it)
    deliver(host, {MAILBOX: "tokboth1"})
    standby.stop()
    assert not listening(REPLICA_HOST, PORT)
    # written while the replica is down: only the primary has it
    response = cluster.api(
        cluster.nodes[1], "POST", "/aliases/", json={"source": LATE, "destination": MAILBOX}
    )
    assert response.status_code == 201, response.text
    took = deliver(host, {MAILBOX: "tokprimary1", ALIAS: "tokprimary2", LATE: "tokprimary3"})
    ok, count = host.imap_login(MAILBOX, PASSWORD)
    assert ok and count == 6, count
    on_primary = standby.sessions(MAIL_ROLE, cluster.db, on_primary=True)
    assert on_primary.get("postfix") and on_primary.get("dovecot"), on_primary
    # what each server logged of the replica's end (the replica's own
    # connections break mid-query or are refused; neither reached the client)
    postfix_log, dovecot_log = full_log(host, "postfix.log"), full_log(host, "dovecot.log")
    logged = {
        "Postfix, query failed on the replica": postfix_log.count(
            f"pgsql query failed: fatal error from host inet:{REPLICA_HOST}:{PORT}"
        ),
        "Postfix, connect refused": postfix_log.count(
            f"connect to pgsql server inet:{REPLICA_HOST}:{PORT}"
        ),
        "Dovecot, query retried on another host": dovecot_log.count(
            "sqlpool(pgsql): Query failed, retrying"
        ),
        "Dovecot, connect refused": dovecot_log.count(f"pgsql({REPLICA_HOST}): Connect failed"),
    }
    assert logged["Dovecot, connect refused"], dovecot_log[-3000:]
    figures(
        f"replica delivery: replica stopped, 3 messages (mailbox, alias, an alias created "
        f"meanwhile) delivered through the primary in {took:.2f} s; sessions of the role on "
        f"the primary {on_primary}; logged: {logged}"
    )


def test_nothing_of_the_standby_stays_on_the_primary(standby):
    standby.destroy()
    assert not primary_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (standby.name,))
    assert standby.name not in standby.hba_file.read_text()
    assert f"{MAIL_ROLE} refused" not in standby.hba_file.read_text()
