"""Mail hosts read a streaming replica; the send decision stays on the primary.

A hot standby of the machine's PostgreSQL cluster (e2e/standby.py:
``pg_basebackup -R``, streaming replication, its own loopback port) holds
the suite's database of e2e/conftest.py. Debian's Postfix reads it with
the repository's map files (mailserver/postfix/*.cf, the substitutions of
mailserver/README.md step 5) in three forms:

- ``replica``: ``hosts = <replica>`` alone, to prove what the replica
  answers;
- ``fallback``: ``hosts = <replica> <primary>``, as docs/deploy.md tells a
  mail host (Postfix picks among the hosts at random and skips one that is
  down);
- ``prefer-standby``: a libpq URI with both hosts and
  ``target_session_attrs=prefer-standby`` (docs/deploy.md: the replica
  whenever it is up, the primary only when it is not).

Shown: a domain, mailbox and alias created through the REST API on the
primary answer through the replica (the replica lag at that moment is
printed), the mail servers' read-only role works there as replicated (no
grant made on the replica), the policy service cannot decide on the
replica, and with the replica stopped the ``fallback`` and
``prefer-standby`` maps still answer. Here the lookups are ``postmap -q``;
mail delivered by Postfix and Dovecot reading a replica (docs/deploy.md's
block for the mail host) is e2e/test_replica_delivery.py's.

Environment: ``EMBOUX_E2E_REPLICA_PORT`` (default 5471),
``EMBOUX_E2E_KEEP=1`` keeps the standby's folder.
"""

import os
from pathlib import Path
import re
import subprocess
import time

from cluster import MAIL_PASSWORD, MAIL_ROLE, POLICY_PASSWORD, POLICY_ROLE, PREFIX
from live_odoo import PYTHON, TOP, free_port
from mailhost import ensure_packages
import policy_load
import psycopg2
import pytest
from standby import PRIMARY, Standby, primary_sql

MAPS = TOP / "mailserver" / "postfix"
POLICYD = TOP / "mailserver" / "policyd"
PORT = int(os.environ.get("EMBOUX_E2E_REPLICA_PORT", "5471"))
DOMAIN = "replica-e2e.example"
MAILBOX = f"alice@{DOMAIN}"
ALIAS = f"info@{DOMAIN}"
# the answer of each table for the records the test makes
ANSWERS = {
    "virtual_mailbox_domains.cf": (DOMAIN, "1"),
    "virtual_mailbox_maps.cf": (MAILBOX, f"{DOMAIN}/alice/"),
    "virtual_alias_maps.cf": (ALIAS, MAILBOX),
    "sender_login_maps.cf": (ALIAS, MAILBOX),
}


@pytest.fixture(scope="module")
def standby(cluster):
    ensure_packages(["postfix", "postfix-pgsql"])
    replica = Standby(PORT, prefix=PREFIX)
    try:
        replica.create()
        yield replica
    finally:
        replica.destroy()


def hosts_forms(port):
    primary = f"127.0.0.1:{PRIMARY['port']}"
    uri = (
        f"postgresql://{MAIL_ROLE}:{MAIL_PASSWORD}@/{{db}}"
        f"?host=127.0.0.1%2C127.0.0.1&port={port}%2C{PRIMARY['port']}"
        "&target_session_attrs=prefer-standby&connect_timeout=3"
    )
    return {
        "replica": f"inet:127.0.0.1:{port}",
        "fallback": f"inet:127.0.0.1:{port} inet:{primary}",
        "prefer-standby": uri,
    }


@pytest.fixture(scope="module")
def maps(cluster, standby, tmp_path_factory):
    """{form: folder}: a Postfix configuration folder (an empty main.cf:
    postmap needs one) holding the repository's map files, with the
    database settings written in as mailserver/README.md step 5 does."""
    folders = {}
    for form, hosts in hosts_forms(PORT).items():
        folder = tmp_path_factory.mktemp(f"postfix-{form}")
        (folder / "main.cf").write_text("")
        for source in MAPS.glob("*.cf"):
            text = source.read_text()
            for key, value in (
                ("hosts", hosts.format(db=cluster.db)),
                ("user", MAIL_ROLE),
                ("password", MAIL_PASSWORD),
                ("dbname", cluster.db),
            ):
                text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
                assert found == 1, f"{source.name}: no line '{key} = ...'"
            (folder / source.name).write_text(text)
        folders[form] = folder
    return folders


def postmap(folder, table, key):
    """``postmap -q key pgsql:folder/table``: (exit status, answer)."""
    proc = subprocess.run(
        ["postmap", "-c", str(folder), "-q", key, f"pgsql:{folder / table}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout.strip()


def answers(folder):
    return {table: postmap(folder, table, key) for table, (key, _answer) in ANSWERS.items()}


EXPECTED = {table: (0, answer) for table, (_key, answer) in ANSWERS.items()}


def replica_connections(standby):
    """Connections of the mail servers' role the standby logged so far."""
    return standby.log().count(f"connection authorized: user={MAIL_ROLE} ")


def test_the_standby_streams(standby, figures):
    assert standby.sql("SELECT pg_is_in_recovery()") == [(True,)]
    rows = primary_sql(
        "SELECT state, sync_state FROM pg_stat_replication WHERE usename = %s", (standby.name,)
    )
    assert rows == [("streaming", "async")]
    figures(f"replica: streaming on 127.0.0.1:{PORT}, lag after the base backup {standby.lag()}")


def test_rest_writes_on_the_primary_answer_through_the_replica(cluster, standby, maps, figures):
    # the replica alone, as the mail servers' role, connected beforehand:
    # it polls for the moment the last write is there
    replica = psycopg2.connect(
        host="127.0.0.1", port=PORT, dbname=cluster.db, user=MAIL_ROLE, password=MAIL_PASSWORD
    )
    replica.autocommit = True
    primary = psycopg2.connect(dbname=cluster.db)
    primary.autocommit = True
    node = cluster.nodes[0]
    try:
        for path, body in (
            ("/domains/", {"name": DOMAIN}),
            ("/users/", {"email": MAILBOX, "password": "replica e2e password"}),
            ("/aliases/", {"source": ALIAS, "destination": MAILBOX}),
        ):
            response = cluster.api(node, "POST", path, json=body)
            assert response.status_code == 201, response.text
        written = time.monotonic()
        with primary.cursor() as cr:
            cr.execute("SELECT pg_current_wal_lsn()::text")
            ((lsn,),) = cr.fetchall()
        with replica.cursor() as cr:
            while True:
                cr.execute("SELECT 1 FROM emboux_postfix_aliases WHERE source = %s", [ALIAS])
                if cr.fetchone():
                    break
                assert time.monotonic() - written < 30, standby.log()[-3000:]
                time.sleep(0.001)
        visible = time.monotonic() - written
    finally:
        replica.close()
        primary.close()
    lag = standby.lag()
    assert standby.replayed(lsn)
    figures(
        f"replica: the alias created through the REST API was readable on the replica "
        f"{visible * 1000:.1f} ms after the 201; lag right after: {lag}"
    )
    assert answers(maps["replica"]) == EXPECTED
    # an active domain: no temporary failure at RCPT
    assert postmap(maps["replica"], "recipient_access.cf", MAILBOX) == (1, "")
    for form in ("fallback", "prefer-standby"):
        assert answers(maps[form]) == EXPECTED, form


def test_where_each_form_sends_its_lookups(standby, maps, figures):
    """prefer-standby: every lookup to the replica while it is up; the
    documented two-host form: Postfix picks a host at random."""
    before = replica_connections(standby)
    for _ in range(10):
        assert postmap(maps["prefer-standby"], "virtual_alias_maps.cf", ALIAS) == (0, MAILBOX)
    assert replica_connections(standby) - before == 10
    before = replica_connections(standby)
    for _ in range(20):
        assert postmap(maps["fallback"], "virtual_alias_maps.cf", ALIAS) == (0, MAILBOX)
    figures(
        "hosts = <replica> <primary>: "
        f"{replica_connections(standby) - before} of 20 lookups went to the replica (random)"
    )


def test_the_read_only_role_works_on_the_replica_as_replicated(cluster, standby):
    """No grant was made on the replica (it takes none): the role, its
    password and its rights are the primary's."""
    conn = psycopg2.connect(
        host="127.0.0.1", port=PORT, dbname=cluster.db, user=MAIL_ROLE, password=MAIL_PASSWORD
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            for view in (
                "emboux_postfix_domains",
                "emboux_postfix_mailboxes",
                "emboux_postfix_aliases",
                "emboux_postfix_sender_logins",
                "emboux_postfix_recipient_access",
                "emboux_dovecot_users",
            ):
                cr.execute(f"SELECT count(*) FROM {view}")
                assert cr.fetchone()[0] >= 0
            cr.execute("SELECT password FROM emboux_dovecot_users WHERE email = %s", [MAILBOX])
            assert cr.fetchone()[0].startswith("{SHA512-CRYPT}$6$")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cr.execute("SELECT password_hash FROM emboux_mailbox")
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cr.execute("CREATE TEMP TABLE mine (x int)")
    finally:
        conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host="127.0.0.1", port=PORT, dbname=cluster.db, user=MAIL_ROLE, password="wrong"
        )


def sent_today(cluster, name):
    rows = cluster.sql(
        "SELECT c.sent_today FROM emboux_outbound_counter c"
        " JOIN emboux_domain d ON d.id = c.domain_id WHERE d.name = %s",
        (name,),
    )
    return rows[0][0] if rows else 0


def test_the_send_decision_needs_the_primary(cluster, standby, tmp_path):
    """Every decision writes (it counts): on the replica the policy service
    defers; a DSN listing both hosts with target_session_attrs=read-write
    finds the primary. policyd.conf.example says the host is the primary."""
    example = (POLICYD / "policyd.conf.example").read_text()
    dsn_comment = example.split("\ndsn = ")[0].rsplit("\n\n", 1)[-1]
    assert "PRIMARY" in dsn_comment, dsn_comment
    name = "send-replica-e2e.example"
    assert (
        cluster.api(cluster.nodes[0], "POST", "/domains/", json={"name": name}).status_code == 201
    )
    cluster.sql(
        "UPDATE emboux_domain SET verification_status = 'verified', warmup_profile = NULL"
        " WHERE name = %s",
        (name,),
    )
    credentials = f"dbname={cluster.db} user={POLICY_ROLE} password={POLICY_PASSWORD}"
    request = policy_load.end_of_message(f"news@{name}")
    dsns = {
        "replica": f"host=127.0.0.1 port={PORT} {credentials}",
        "either": (
            f"host=127.0.0.1,127.0.0.1 port={PORT},{PRIMARY['port']} {credentials}"
            " target_session_attrs=read-write"
        ),
    }
    services = {}
    try:
        for form, dsn in dsns.items():
            services[form] = policy_load.PolicyService(
                tmp_path, dsn=dsn, port=free_port(), python=PYTHON,
                script=POLICYD / "emboux_policyd.py", pool_size=1,
            ).start()  # fmt: skip
        action = policy_load.ask(services["replica"].port, request)
        assert action.startswith("451 4.3.0 "), action
        assert "read-only transaction" in services["replica"].log_text()
        assert sent_today(cluster, name) == 0
        assert policy_load.ask(services["either"].port, request) == "DUNNO"
        assert sent_today(cluster, name) == 1
    finally:
        for service in services.values():
            service.stop()


def test_lookups_answer_through_the_primary_while_the_replica_is_down(
    cluster, standby, maps, figures
):
    standby.stop()
    try:
        status, answer = postmap(maps["replica"], "virtual_alias_maps.cf", ALIAS)
        assert (status, answer) == (1, ""), answer
        # written while the replica is down: the primary answers it
        late = f"late@{DOMAIN}"
        response = cluster.api(
            cluster.nodes[1], "POST", "/aliases/", json={"source": late, "destination": MAILBOX}
        )
        assert response.status_code == 201, response.text
        for form in ("fallback", "prefer-standby"):
            for _ in range(5):
                assert answers(maps[form]) == EXPECTED, form
                assert postmap(maps[form], "virtual_alias_maps.cf", late) == (0, MAILBOX)
        ((lsn,),) = primary_sql("SELECT pg_current_wal_lsn()::text")
    finally:
        standby.start()
    started = time.monotonic()
    standby.wait_streaming()
    while not standby.replayed(lsn):
        assert time.monotonic() - started < 60, standby.log()[-3000:]
        time.sleep(0.05)
    figures(
        f"replica restarted: caught up in {time.monotonic() - started:.1f} s, lag {standby.lag()}"
    )
    assert postmap(maps["replica"], "virtual_alias_maps.cf", late) == (0, MAILBOX)


def test_nothing_of_the_standby_stays_on_the_primary(standby):
    """Last: what the standby needed on the primary goes with it."""
    standby.destroy()
    assert not primary_sql(
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (standby.name,)
    )
    assert not primary_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (standby.name,))
    assert standby.name not in Path(standby.hba_file).read_text()
