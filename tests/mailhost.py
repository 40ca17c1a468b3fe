"""A private mail host built as mailserver/README.md tells an operator,
and the throwaway Odoo database the mail servers read.

Shared by e2e/test_mail_e2e.py, e2e/test_policy_e2e.py and
e2e/test_doveadm_e2e.py (helpers only, no tests here).
"""

from contextlib import contextmanager
import imaplib
import json
import os
from pathlib import Path
import re
import secrets
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

TOP = Path(__file__).resolve().parents[1]
MAILSERVER = TOP / "mailserver"
HOST = "127.0.0.1"
PYTHON = (
    str(TOP / ".venv" / "bin" / "python")
    if (TOP / ".venv" / "bin" / "python").exists()
    else sys.executable
)
# what the README's apt-get line installs (the test checks it names these)
PACKAGES = [
    "postfix",
    "postfix-pgsql",
    "dovecot-core",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "dovecot-pgsql",
    "ssl-cert",
]


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


def missing_packages(packages):
    missing = []
    for pkg in packages:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 or "install ok installed" not in proc.stdout:
            missing.append(pkg)
    return missing


def ensure_packages(packages=PACKAGES):
    """apt-get install what is missing, with debconf's "No configuration"
    for Postfix (as the README); the test fails (never skips) when it
    cannot. The packages' own services are kept from starting."""
    missing = missing_packages(packages)
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
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    # another apt-get may hold the lock for a while: wait for it
    apt = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600"]
    try:
        cmd = [*apt, "install", "-y", "--no-install-recommends", *missing]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=1200, check=False
        )
        if proc.returncode != 0:
            subprocess.run([*apt, "update"], capture_output=True, env=env, timeout=900, check=False)
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=env, timeout=1200, check=False
            )
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    if proc.returncode != 0 or missing_packages(packages):
        pytest.fail(
            f"apt-get could not install {missing} (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )


@contextmanager
def scratch_dir(prefix):
    """A temporary folder, removed at the end unless ``EMBOUX_E2E_KEEP`` is
    set."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        if os.environ.get("EMBOUX_E2E_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --- the throwaway database --------------------------------------------------------


class OdooDatabase:
    """A throwaway database with emboux_core (which creates the mail
    servers' read-only role ``<db>_ms``), driven through ``odoo shell``."""

    def __init__(self, tmp, db):
        self.tmp = Path(tmp)
        self.db = db
        self.role = f"{db}_ms"
        self.role_password = secrets.token_urlsafe(18)
        self.odoo_conf = self.tmp / "odoo.conf"
        self.install_log = ""

    def odoo_env(self, **extra):
        return {
            **os.environ,
            "EMBOUX_MAILSERVER_DB_ROLE": self.role,
            "EMBOUX_MAILSERVER_DB_PASSWORD": self.role_password,
            **extra,
        }

    def create_database(self):
        """Install emboux_core; its log (info level) is kept in ``install_log``."""
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

    def odoo(self, script, **env):
        """Run ``script`` in ``odoo shell`` (it gets ``env``; ``env`` here adds
        environment variables), commit, and return what it passed to
        ``out(...)`` as JSON."""
        code = (
            "import json\n"
            "def out(value):\n"
            "    print('E2E-JSON:' + json.dumps(value, default=str), flush=True)\n"
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
            env=self.odoo_env(**env),
            timeout=300,
        )
        found = [
            line[len("E2E-JSON:") :]
            for line in proc.stdout.splitlines()
            if line.startswith("E2E-JSON:")
        ]
        return json.loads(found[-1]) if found else None

    def drop(self):
        run(["dropdb", "--if-exists", self.db], check=False)
        run(["psql", "-d", "postgres", "-qc", f'DROP ROLE IF EXISTS "{self.role}"'], check=False)


# --- the private mail host ------------------------------------------------------

README = MAILSERVER / "README.md"
RUN_MARK = "<!-- e2e: run -->"
# the host's paths a private instance keeps under its own root, in the
# README's blocks, in the copied files and in Debian's configuration
RELOCATED = (
    "/etc/postfix",
    "/etc/dovecot",
    "/etc/aliases",
    "/var/spool/postfix",
    "/var/lib/postfix",
    "/var/lib/dovecot",
    "/var/vmail",
)
# the names step 1 of the README sets, given the test's values
SETTINGS = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "MX_HOSTNAME")
SNAKEOIL = Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")
# what Debian's postinst writes when there is no /etc/aliases
DEBIAN_ALIASES = "# See man 5 aliases for format\npostmaster:    root\n"
POSTFIX_COMMANDS = ("postconf", "postmap", "postalias", "postfix", "postsuper", "postqueue")
# master.cf services renamed to loopback ports (the port a test gives)
SMTPD_SERVICES = ("smtp", "submission", "submissions")


def readme_run_blocks(text=None):
    """The shell blocks of mailserver/README.md marked ``<!-- e2e: run -->``,
    in order."""
    return doc_run_blocks(README, RUN_MARK, text)


def doc_run_blocks(path, mark, text=None):
    """The ``sh`` blocks of the document ``path`` that follow a line
    ``mark`` (e.g. ``<!-- e2e: replica -->``), in order."""
    text = Path(path).read_text() if text is None else text
    blocks = re.findall(
        rf"^{re.escape(mark)}\n```sh\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL
    )
    assert blocks, f"no '{mark}' block in {path}"
    return blocks


def with_settings(block, values):
    """``block`` with its first line, the ``NAME=value`` settings an
    operator types, set to ``values`` (a dict naming the same settings in
    the same order)."""
    first, _, rest = block.partition("\n")
    names = re.findall(r"\b([A-Z_]+)=", first)
    assert names == list(values), f"the block's first line sets {names}, not {list(values)}"
    return " ".join(f"{name}={sh_quote(value)}" for name, value in values.items()) + "\n" + rest


def sh_quote(value):
    return "'" + str(value).replace("'", "'\\''") + "'"


def tls_context():
    """A client context that trusts the snakeoil certificate the README
    makes (for the host's name: the test connects to 127.0.0.1)."""
    context = ssl.create_default_context(cafile=str(SNAKEOIL))
    context.check_hostname = False
    return context


class MailHost:
    """Postfix and Dovecot as mailserver/README.md builds them, as private
    instances (``postfix -c DIR``, ``dovecot -c FILE``) under ``tmp/root``.

    ``root`` stands for the host's ``/``: ``etc/postfix`` with Debian's
    master.cf and no main.cf (debconf "No configuration"), ``etc/aliases``
    as the package writes it, ``etc/dovecot`` with Debian's shipped
    configuration, the empty spool and data directories, and a copy of
    mailserver/ to run the README from. The README's ``e2e: run`` blocks
    then run as one ``sh -e`` script, with step 1's values replaced by the
    test's and the paths of ``RELOCATED`` moved under ``root`` (in the
    blocks, in the copied files, in Debian's files); wrappers first in
    ``PATH`` point Postfix's and Dovecot's commands at the instance and
    turn ``systemctl restart postfix|dovecot`` into starting it. What only
    a private instance needs (queue and data directories, log files,
    loopback ports, no outbound mail) is set right before Postfix runs and
    in Dovecot's ``local.conf``.
    """

    def __init__(self, tmp, *, db, role, password, ports, policy=None, postconf=()):
        self.tmp = Path(tmp)
        self.root = self.tmp / "root"
        self.pf_dir = self.root / "etc" / "postfix"
        self.maps = self.pf_dir / "emboux"
        self.spool = self.root / "var" / "spool" / "postfix"
        self.dc_dir = self.root / "etc" / "dovecot"
        self.dc_conf = self.dc_dir / "dovecot.conf"
        self.dc_run = self.root / "run" / "dovecot"
        self.mailroot = self.root / "var" / "vmail"
        self.lmtp_socket = self.spool / "private" / "dovecot-lmtp"
        self.src = self.root / "src" / "mailserver"
        self.bin = self.root / "bin"
        self.settings = {
            "DB_HOST": HOST,
            "DB_PORT": os.environ.get("PGPORT", "5432"),
            "DB_NAME": db,
            "DB_USER": role,
            "DB_PASSWORD": password,
            "MX_HOSTNAME": "mx.e2e.invalid",
        }
        # smtp, submission, submissions, imap, imaps -> a loopback port
        self.ports = ports
        # EMBOUX_POLICY of master.cf.sh: the policy service's address (by
        # default one where nothing listens, never make policyd's 10040)
        self.policy = policy or f"inet:{HOST}:9"
        self.extra_postconf = list(postconf)
        self.instance = f"emboux-e2e-{os.getpid()}-{ports['smtp']}"
        self.started = False

    # --- paths moved under the private root -------------------------------------
    def relocate(self, text):
        pattern = r"(?<![\w./-])(" + "|".join(map(re.escape, RELOCATED)) + r")(?![\w-])"
        return re.sub(pattern, lambda m: f"{self.root}{m.group(1)}", text)

    def readme_script(self):
        """The README's blocks as the instance runs them."""
        blocks = readme_run_blocks()
        names = re.findall(r"\b([A-Z_]+)=", blocks[0])
        assert tuple(names) == SETTINGS, f"step 1 of the README sets {names}, not {SETTINGS}"
        values = " ".join(f"{name}={sh_quote(value)}" for name, value in self.settings.items())
        return "\n".join([values, *map(self.relocate, blocks[1:])])

    # --- the host as Debian leaves it ------------------------------------------
    def prepare(self):
        busy = [port for port in self.ports.values() if port_open(port)]
        if busy:
            pytest.fail(f"{HOST} ports {busy} are already in use (another mail test running?)")
        self.tmp.chmod(0o755)  # postfix, dovecot and vmail walk through it
        for path in (
            self.pf_dir,
            self.spool,
            self.root / "var" / "lib" / "postfix",
            self.root / "var" / "lib" / "dovecot",
            self.bin,
            self.src.parent,
        ):
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        # as the package leaves them (postfix check fixes the rest)
        shutil.chown(self.root / "var" / "lib" / "postfix", "postfix", "postfix")
        # postfix: master.cf as the package installs it, no main.cf
        shutil.copy("/usr/share/postfix/master.cf.dist", self.pf_dir / "master.cf")
        (self.root / "etc" / "aliases").write_text(DEBIAN_ALIASES)
        # dovecot: /usr/share/dovecot, which the package installs into /etc/dovecot
        shipped = Path("/usr/share/dovecot")
        (self.dc_dir / "conf.d").mkdir(parents=True)
        (self.dc_dir / "private").mkdir(mode=0o700)
        for source in [*shipped.glob("*.conf"), *shipped.glob("*.conf.ext")]:
            target = self.dc_dir / source.name
            target.write_text(self.relocate(source.read_text()))
            if source.suffix == ".ext":
                target.chmod(0o640)
                shutil.chown(target, group="dovecot")
        for source in (shipped / "conf.d").iterdir():
            (self.dc_dir / "conf.d" / source.name).write_text(self.relocate(source.read_text()))
        (self.dc_dir / "local.conf").write_text(self.dovecot_instance_conf())
        # the folder the operator copies from, with the same paths moved
        shutil.copytree(MAILSERVER, self.src, ignore=shutil.ignore_patterns("__pycache__"))
        for path in self.src.rglob("*"):
            if path.is_file():
                path.write_text(self.relocate(path.read_text()))
        self.write_wrappers()

    def dovecot_instance_conf(self):
        return f"""\
# the private instance of the end-to-end tests (tests/mailhost.py): Debian's
# dovecot.conf includes local.conf last
base_dir = {self.dc_run}
state_dir = {self.root / "var" / "lib" / "dovecot"}
instance_name = {self.instance}
log_path = {self.tmp / "dovecot.log"}
listen = {HOST}
# every client of the tests comes from 127.0.0.1 and some fail on purpose:
# refused logins answered at once (the default waits 2 s), and no growing
# delay for the IP after failures (the auth penalty: 2 to 15 s, longer than
# Postfix's SASL client waits)
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {self.ports["imap"]}
  }}
  inet_listener imaps {{
    port = {self.ports["imaps"]}
  }}
}}
"""

    def postfix_instance_settings(self):
        """What a private instance sets in main.cf and master.cf before
        Postfix runs (shell)."""
        settings = [
            f"queue_directory = {self.spool}",
            f"data_directory = {self.root / 'var' / 'lib' / 'postfix'}",
            # there may be no syslog: postlogd writes the log
            f"maillog_file = {self.tmp / 'postfix.log'}",
            f"maillog_file_prefixes = {self.tmp}",
            "inet_interfaces = loopback-only",
            "inet_protocols = ipv4",
            # the test's clients on 127.0.0.1 stand for the internet
            "mynetworks =",
            # nothing leaves the machine
            "default_transport = discard:outbound mail is off in the end-to-end test",
            "relay_transport = discard:outbound mail is off in the end-to-end test",
            "queue_run_delay = 2s",
            "minimal_backoff_time = 2s",
            *self.extra_postconf,
        ]
        renames = " ".join(
            f"-e 's/^{name}([[:space:]]+inet[[:space:]])/{HOST}:{self.ports[name]}\\1/'"
            for name in SMTPD_SERVICES
        )
        return (
            f"/usr/sbin/postconf -c {self.pf_dir} -e "
            + " ".join(map(sh_quote, settings))
            + f"\nsed -i -E {renames} {self.pf_dir / 'master.cf'}\n"
        )

    def write_wrappers(self):
        def wrapper(name, body):
            path = self.bin / name
            path.write_text("#!/bin/sh\n" + body)
            path.chmod(0o755)

        settings = self.root / "postfix-instance-settings"
        settings.write_text(
            "#!/bin/sh\nset -e\n"
            f"[ -e {self.pf_dir / 'main.cf'} ] || exit 0\n" + self.postfix_instance_settings()
        )
        settings.chmod(0o755)
        for name in POSTFIX_COMMANDS:
            before = f"{settings}\n" if name == "postfix" else ""
            wrapper(name, f'{before}exec /usr/sbin/{name} -c {self.pf_dir} "$@"\n')
        wrapper("newaliases", f'exec /usr/bin/newaliases -C {self.pf_dir} "$@"\n')
        for name in ("doveadm", "doveconf"):
            wrapper(name, f'exec /usr/bin/{name} -c {self.dc_conf} "$@"\n')
        # the test installed the packages (ensure_packages): check the ones named
        wrapper(
            "apt-get",
            'for arg; do case "$arg" in -*|install) ;; *)\n'
            f'  echo "$arg" >> {self.root / "apt-get.packages"}\n'
            "  dpkg-query -W -f='${Status}' \"$arg\" | grep -q 'install ok installed' ||"
            ' { echo "apt-get (test): $arg is not installed" >&2; exit 100; } ;;\n'
            "esac; done\n",
        )
        wrapper("debconf-set-selections", f"cat >> {self.root / 'debconf.selections'}\n")
        # the host's own user, with the host's paths
        wrapper(
            "useradd",
            f'for arg; do shift; set -- "$@" "${{arg#{self.root}}}"; done\n'
            'exec /usr/sbin/useradd "$@"\n',
        )
        # Debian's units: postfix@.service runs configure-instance.sh (the
        # chroot's files) before it starts the instance
        wrapper(
            "systemctl",
            'case "$1 $2" in\n'
            '"restart postfix"|"start postfix")\n'
            f"  {settings}\n"
            f"  MAIL_CONFIG={self.pf_dir} /usr/lib/postfix/configure-instance.sh -\n"
            f"  /usr/sbin/postfix -c {self.pf_dir} stop 2>/dev/null || true\n"
            f"  exec /usr/sbin/postfix -c {self.pf_dir} start ;;\n"
            '"reload postfix")\n'
            f"  exec /usr/sbin/postfix -c {self.pf_dir} reload ;;\n"
            '"restart dovecot"|"start dovecot")\n'
            f"  /usr/bin/doveadm -c {self.dc_conf} stop 2>/dev/null || true\n"
            f"  exec /usr/sbin/dovecot -c {self.dc_conf} ;;\n"
            '"reload dovecot")\n'
            f"  exec /usr/bin/doveadm -c {self.dc_conf} reload ;;\n"
            '*) echo "systemctl (test): not expected: $*" >&2; exit 1 ;;\n'
            "esac\n",
        )

    # --- build, stop ------------------------------------------------------------
    def build(self):
        """Prepare the root, run the README's blocks, wait for the servers."""
        self.prepare()
        self.started = True
        self.run_script(self.readme_script(), "readme", "the README's blocks", relocate=False)
        for name in SMTPD_SERVICES + ("imap", "imaps"):
            wait_port(self.ports[name])
        wait_for(self.lmtp_socket.exists, 20, f"Dovecot's LMTP socket {self.lmtp_socket}")

    def run_script(self, text, name, what=None, relocate=True):
        """Run the shell script ``text`` on the instance as the README's
        blocks run (``sh -e -x`` in the copied folder, the wrappers first in
        ``PATH``, the host's paths moved under the root unless
        ``relocate`` is false): e.g. another document's block for a mail
        host already built. ``<name>.sh`` and its trace ``<name>.out`` stay
        in the temporary folder; the test fails when it fails."""
        script = self.root / f"{name}.sh"
        script.write_text(self.relocate(text) if relocate else text)
        env = dict(
            os.environ,
            PATH=f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}:/usr/sbin:/sbin",
            EMBOUX_POLICY=self.policy,
        )
        # the servers daemonize: their output goes to a file, never a pipe
        with open(self.tmp / f"{name}.out", "w") as out:
            proc = subprocess.run(
                ["sh", "-e", "-x", str(script)],
                cwd=self.src,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=300,
                check=False,
            )
        if proc.returncode != 0:
            pytest.fail(
                f"{what or script} failed (exit {proc.returncode}):\n{self.log(f'{name}.out')}\n"
                f"postfix.log:\n{self.log('postfix.log')}\ndovecot.log:\n{self.log('dovecot.log')}"
            )

    def stop(self):
        if not self.started:
            return
        for cmd in (
            ["postfix", "-c", str(self.pf_dir), "stop"],
            ["doveadm", "-c", str(self.dc_conf), "stop"],
        ):
            subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        # a master left behind (a failed stop): only this instance's
        for pidfile in (self.spool / "pid" / "master.pid", self.dc_run / "master.pid"):
            try:
                os.kill(int(pidfile.read_text().split()[0]), 15)
            except (OSError, ValueError, IndexError):
                pass

    # --- asking the instance ----------------------------------------------------
    def log(self, name):
        path = self.tmp / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(none)"

    def postmap(self, key, table):
        """What ``postmap -q`` answers for ``key`` in ``table``
        (``pgsql:`` on the installed file of that name)."""
        proc = run(
            ["postmap", "-c", str(self.pf_dir), "-q", key, f"pgsql:{self.maps / table}"],
            check=False,
        )
        return proc.stdout.strip()

    def doveadm(self, *args, check=True):
        return run(["doveadm", "-c", str(self.dc_conf), *args], check=check, timeout=30)

    def check(self, address, *args):
        """mailserver/check on this instance: (exit status, output)."""
        proc = run(
            [
                "python3",
                str(MAILSERVER / "check"),
                "--postfix-config",
                str(self.pf_dir),
                "--dovecot-config",
                str(self.dc_conf),
                *args,
                address,
            ],
            check=False,
            timeout=60,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def imap_login(self, user, password, implicit_tls=False):
        """(ok, messages in INBOX or the server's answer), over STARTTLS on
        the imap port or implicit TLS on imaps."""
        if implicit_tls:
            imap = imaplib.IMAP4_SSL(
                HOST, self.ports["imaps"], ssl_context=tls_context(), timeout=20
            )
        else:
            imap = imaplib.IMAP4(HOST, self.ports["imap"], timeout=20)
            imap.starttls(ssl_context=tls_context())
        try:
            try:
                imap.login(user, password)
            except imaplib.IMAP4.error as exc:
                return False, str(exc)
            _typ, data = imap.select("INBOX", readonly=True)
            return True, int(data[0])
        finally:
            imap.logout()

    def submission(self, implicit_tls=False):
        return submission_client(self.ports, implicit_tls)


def submission_client(ports, implicit_tls=False):
    """An SMTP client on submission (587, STARTTLS) or submissions (465,
    implicit TLS), TLS started; the caller logs in."""
    if implicit_tls:
        return smtplib.SMTP_SSL(HOST, ports["submissions"], timeout=30, context=tls_context())
    smtp = smtplib.SMTP(HOST, ports["submission"], timeout=30)
    smtp.starttls(context=tls_context())
    return smtp
