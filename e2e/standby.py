"""A hot standby of the machine's PostgreSQL cluster, on loopback.

Used by e2e/test_replica.py (helpers only, no tests here). PostgreSQL's own
streaming replication: ``pg_basebackup -R`` of the primary (the cluster on
5432 that the suite's databases live in) into a temporary folder, started
with ``pg_ctl`` as the ``postgres`` user on its own port (or on another
loopback address at the primary's port: ``host``). The primary gets,
for the test's life only: a role with ``REPLICATION``, a physical
replication slot (so that no WAL the standby needs is recycled) and one
``pg_hba.conf`` line for that role; all three are removed at the end, and
those of an earlier run that died are removed at the start. A test may
also have the primary refuse a role for a while (``refuse_on_primary``):
one more ``pg_hba.conf`` line, removed the same way.
"""

import os
from pathlib import Path
import re
import secrets
import shutil
import subprocess
import tempfile
import time

import psycopg2

PRIMARY = {"host": "127.0.0.1", "port": 5432}
MARK = "emboux e2e standby, pid"
# settings a hot standby may not have lower than its primary
AT_LEAST_PRIMARY = [
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
]


class StandbyError(RuntimeError):
    pass


def primary_sql(query, params=(), dbname="postgres"):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def setting(name):
    return primary_sql("SELECT current_setting(%s)", (name,))[0][0]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_owner(name):
    """A slot or role ``<prefix>_standby_<pid>`` whose process is gone."""
    pid = name.rsplit("_", 1)[-1]
    return pid.isdigit() and not pid_alive(int(pid))


def as_postgres(*cmd, timeout=600):
    proc = subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, cmd)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise StandbyError(f"{' '.join(map(str, cmd))}: {proc.stdout}\n{proc.stderr}")
    return proc.stdout


class Standby:
    """``create()`` it, ``stop()``/``start()`` it, ``destroy()`` it (always).

    ``host``: the loopback address it listens on (127.0.0.2 with the
    primary's port stands for another machine: Dovecot gives every
    ``host=`` of its ``connect`` the same ``port=``); ``log_statements``:
    every statement in its log, with its role (``log_statement = all``)."""

    def __init__(self, port, prefix="emboux_e2e", host="127.0.0.1", log_statements=False):
        self.port = port
        self.host = host
        self.log_statements = log_statements
        self.pid = os.getpid()
        self.prefix = prefix
        # role and slot: [a-z0-9_] only
        self.name = f"{prefix}_standby_{self.pid}".lower()
        self.password = secrets.token_urlsafe(18)
        self.bindir = None
        self.root = None
        self.data = None
        self.hba_file = None
        self.created = []  # what destroy() undoes, in order

    # -- the primary's side ------------------------------------------------
    def check_primary(self):
        """What streaming replication needs, checked and never changed:
        wal_level and max_wal_senders need a restart of the primary."""
        if os.geteuid() != 0:
            raise StandbyError("the standby runs PostgreSQL as the postgres user: run as root")
        if setting("wal_level") not in ("replica", "logical"):
            raise StandbyError("the primary has wal_level = minimal: replica is needed (restart)")
        senders = primary_sql("SELECT count(*) FROM pg_stat_replication")[0][0]
        # pg_basebackup -X stream uses two senders while it copies
        if int(setting("max_wal_senders")) - senders < 2:
            raise StandbyError("no free max_wal_senders on the primary")
        slots = primary_sql("SELECT count(*) FROM pg_replication_slots")[0][0]
        if int(setting("max_replication_slots")) <= slots:
            raise StandbyError("no free max_replication_slots on the primary")
        version = int(setting("server_version_num")) // 10000
        self.bindir = Path(f"/usr/lib/postgresql/{version}/bin")
        if not (self.bindir / "pg_basebackup").exists():
            raise StandbyError(f"no {self.bindir}/pg_basebackup (Debian's postgresql-{version})")
        self.hba_file = Path(setting("hba_file"))

    def _hba_lines(self, keep):
        lines = self.hba_file.read_text().splitlines(keepends=True)
        return [line for line in lines if keep(line)]

    def _write_hba(self, lines):
        self.hba_file.write_text("".join(lines))
        primary_sql("SELECT pg_reload_conf()")

    def clean_stale(self):
        """Slots, roles and pg_hba.conf lines of runs that died."""
        pattern = re.compile(rf"{re.escape(MARK)} (\d+):")

        def dead(line):
            found = pattern.search(line)
            return bool(found) and not pid_alive(int(found.group(1)))

        if any(dead(line) for line in self._hba_lines(lambda line: True)):
            self._write_hba(self._hba_lines(lambda line: not dead(line)))
        like = f"{self.prefix}_standby_%"
        for (slot,) in primary_sql(
            "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s AND NOT active",
            (like,),
        ):
            if _dead_owner(slot):
                primary_sql("SELECT pg_drop_replication_slot(%s)", (slot,))
        for (role,) in primary_sql("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (like,)):
            if _dead_owner(role):
                primary_sql(f'DROP ROLE IF EXISTS "{role}"')

    def allow_replication(self):
        primary_sql(f"CREATE ROLE \"{self.name}\" LOGIN REPLICATION PASSWORD '{self.password}'")
        self.created.append("role")
        # first line: pg_hba.conf is read top down, first match wins
        rule = (
            f"host replication {self.name} 127.0.0.1/32 scram-sha-256"
            f"  # {MARK} {self.pid}: removed at its end\n"
        )
        self._write_hba([rule, *self._hba_lines(lambda line: True)])
        self.created.append("hba")
        errors = primary_sql(
            "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL"
        )
        if errors:
            raise StandbyError(f"pg_hba.conf does not load: {errors}")

    def _refusal_mark(self, role):
        return f"{MARK} {self.pid}: {role} refused"

    def refuse_on_primary(self, role):
        """The primary refuses every new connection of ``role`` (a first
        ``pg_hba.conf`` line ``reject``) and ends the ones it has: whatever
        ``role`` reads from now on, a replica answers it."""
        if "hba" not in self.created:
            raise StandbyError("create() the standby first")
        rule = f"host all {role} all reject  # {self._refusal_mark(role)}, removed at its end\n"
        self._write_hba([rule, *self._hba_lines(lambda line: True)])
        primary_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )

    def allow_on_primary(self, role):
        """Undo ``refuse_on_primary(role)``."""
        mark = self._refusal_mark(role)
        self._write_hba(self._hba_lines(lambda line: mark not in line))

    def sessions(self, role, dbname, on_primary=False):
        """``{'postfix': n, 'dovecot': n}``: the sessions of ``role`` open
        on the standby (or the primary), by whose views their last query
        read (Postfix's ``emboux_postfix_*``, Dovecot's
        ``emboux_dovecot_users``)."""
        query = (
            "SELECT CASE WHEN query LIKE '%%emboux_dovecot_users%%' THEN 'dovecot'"
            " WHEN query LIKE '%%emboux_postfix_%%' THEN 'postfix' ELSE 'other' END, count(*)"
            " FROM pg_stat_activity WHERE usename = %s AND datname = %s GROUP BY 1"
        )
        rows = (primary_sql if on_primary else self.sql)(query, (role, dbname))
        return dict(rows)

    # -- the standby ---------------------------------------------------------
    def create(self):
        self.check_primary()
        self.clean_stale()
        self.allow_replication()
        # a folder the postgres user may enter (pytest's tmp_path is root's)
        self.root = Path(tempfile.mkdtemp(prefix="emboux-standby-"))
        self.created.append("root")
        self.data = self.root / "data"
        shutil.chown(self.root, "postgres", "postgres")
        self.created.append("slot")  # -C makes it first thing
        as_postgres(
            self.bindir / "pg_basebackup",
            "-D", self.data,
            "-d", f"host=127.0.0.1 port={PRIMARY['port']} user={self.name} "
            f"password={self.password} application_name={self.name}",
            "-R", "-X", "stream", "-C", "-S", self.name, "-c", "fast",
        )  # fmt: skip
        self.write_configuration()
        self.start()
        self.wait_streaming()

    def write_configuration(self):
        """Debian keeps the primary's configuration in /etc: the copy has
        only postgresql.auto.conf (with primary_conninfo from -R)."""
        socket_dir = self.root / "socket"
        socket_dir.mkdir()
        shutil.chown(socket_dir, "postgres", "postgres")
        lines = [
            f"port = {self.port}",
            f"listen_addresses = '{self.host}'",
            f"unix_socket_directories = '{socket_dir}'",
            "hot_standby = on",
            "shared_buffers = 32MB",
            # who connected: the mail servers' lookups are counted from it
            "log_connections = on",
            "log_line_prefix = '%m [%p] %q%u@%d '",
            *(f"{name} = {setting(name)}" for name in AT_LEAST_PRIMARY),
            *(["log_statement = 'all'"] if self.log_statements else []),
        ]
        # a client of 127.0.0.2 connects from 127.0.0.1 (Linux picks the
        # loopback's own address): both are allowed
        clients = sorted({"127.0.0.1", self.host})
        files = {
            "postgresql.conf": "\n".join(lines) + "\n",
            # the superuser over the private socket; everyone else with a
            # password over TCP (the mail servers' role and its password
            # are the primary's: replicated)
            "pg_hba.conf": "local all all trust\n"
            + "".join(f"host all all {ip}/32 scram-sha-256\n" for ip in clients),
            "pg_ident.conf": "",
        }
        for name, text in files.items():
            path = self.data / name
            path.write_text(text)
            shutil.chown(path, "postgres", "postgres")
            path.chmod(0o600)
        self.socket_dir = socket_dir

    def start(self):
        as_postgres(
            self.bindir / "pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", "120", "start"
        )

    def stop(self):
        if self.data and (self.data / "postmaster.pid").exists():
            as_postgres(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    @property
    def log_path(self):
        return self.root / "standby.log"

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def sql(self, query, params=(), dbname="postgres"):
        """As the superuser (the root role, replicated), over the socket."""
        conn = psycopg2.connect(host=str(self.socket_dir), port=self.port, dbname=dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cr:
                cr.execute(query, params)
                return cr.fetchall() if cr.description else None
        finally:
            conn.close()

    def wait_streaming(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = primary_sql(
                "SELECT state, replay_lsn IS NOT NULL FROM pg_stat_replication WHERE usename = %s",
                (self.name,),
            )
            if rows and rows[0] == ("streaming", True):
                return
            time.sleep(0.2)
        raise StandbyError(f"the standby does not stream:\n{self.log()[-3000:]}")

    def lag(self):
        """The replica lag now: bytes of WAL the primary has written that
        the standby has not received or replayed, the primary's view of the
        delays (pg_stat_replication; None until the standby reports, and
        again once it has been idle a while), and the age of the last
        transaction the standby replayed."""
        (row,) = primary_sql(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn),"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),"
            " extract(epoch FROM write_lag), extract(epoch FROM replay_lag)"
            " FROM pg_stat_replication WHERE usename = %s",
            (self.name,),
        )
        ((age,),) = self.sql("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
        unsent, unreplayed, write_lag, replay_lag = (
            None if value is None else float(value) for value in row
        )
        return {
            "bytes_not_sent": None if unsent is None else int(unsent),
            "bytes_not_replayed": None if unreplayed is None else int(unreplayed),
            "write_lag_s": write_lag,
            "replay_lag_s": replay_lag,
            "last_replayed_commit_age_s": None if age is None else round(float(age), 3),
        }

    def replayed(self, lsn):
        ((done,),) = self.sql(
            "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", (lsn,)
        )
        return done

    def destroy(self):
        """Undo everything ``create()`` did, whatever failed on the way."""
        errors = []
        steps = {
            "root": self._remove_folder,
            "slot": lambda: primary_sql(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s",
                (self.name,),
            ),
            "hba": lambda: self._write_hba(
                self._hba_lines(lambda line: f"{MARK} {self.pid}:" not in line)
            ),
            "role": lambda: primary_sql(f'DROP ROLE IF EXISTS "{self.name}"'),
        }
        try:
            self.stop()
        except StandbyError as exc:
            errors.append(str(exc))
        # the slot can go once the standby is stopped; the folder last but
        # one (nothing depends on it), the role last (the slot names it)
        for step in ("slot", "hba", "role", "root"):
            if step in self.created:
                try:
                    steps[step]()
                except Exception as exc:  # noqa: BLE001 (every step is tried)
                    errors.append(f"{step}: {exc}")
        self.created.clear()
        if errors:
            raise StandbyError("; ".join(errors))

    def _remove_folder(self):
        if os.environ.get("EMBOUX_E2E_KEEP"):
            print(f"kept {self.root}")
            return
        shutil.rmtree(self.root, ignore_errors=True)
