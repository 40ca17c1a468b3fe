"""nginx in front of the two Odoo nodes, as deploy/nginx/emboux.conf says.

Debian's nginx (installed when missing) runs the repository's file with
the substitutions docs/deploy.md lists for a loopback run (the nodes'
ports, the listen addresses; the snakeoil certificate stays), inside a
minimal nginx.conf of the test's own, in front of the two nodes of
e2e/conftest.py (their HTTP port opened by ``systemd-socket-activate`` as
deploy/systemd/odoo.socket does it).

Asserted: the shipped files pass ``nginx -t`` and ``systemd-analyze
verify``; the listen queue is 16 on a node as ``make run`` starts it and
SOMAXCONN on the socket-activated ones; HTTP redirects to HTTPS;
Odoo sees the client's own address (not one the client claims) and the
session cookie is Secure; a body over the API's 1 MiB is refused by nginx
with the API's own 413; /websocket reaches the gevent worker (101); the
database manager is not served; 200 concurrent REST clients for 30 s and
64 for 10 s through nginx get no connection error and no 5xx.

Printed only (the machine's 2 cores are shared): the p50/p99 and
requests/s of those runs, and 64 clients straight at a node started as
``make run`` starts Odoo (a listen queue of 8 per worker: the kernel drops
connections, clients wait on TCP retries, some are closed unanswered)
beside 64 straight at a socket-activated node.

Environment: ``EMBOUX_E2E_NGINX_PORT`` (HTTPS, default 8480; HTTP is the
port below it), ``EMBOUX_E2E_PLAIN_PORT`` (the node as ``make run`` starts
it, default 8473), ``EMBOUX_E2E_LOAD_SECONDS`` (default 30).
"""

import base64
import hashlib
import http.client
import json
import os
from pathlib import Path
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
from types import SimpleNamespace

from cluster import TIMEOUT, rest_load
from live_odoo import TOP, LiveOdoo
from mailhost import ensure_packages, port_open, wait_for
import pytest
import requests
from standby import primary_sql

CONF = TOP / "deploy" / "nginx" / "emboux.conf"
SOCKET_UNIT = TOP / "deploy" / "systemd" / "odoo.socket"
# the snakeoil certificate is for the host's name, not 127.0.0.1
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
HTTPS_PORT = int(os.environ.get("EMBOUX_E2E_NGINX_PORT", "8480"))
HTTP_PORT = HTTPS_PORT - 1
PLAIN_PORT = int(os.environ.get("EMBOUX_E2E_PLAIN_PORT", "8473"))
SECONDS = float(os.environ.get("EMBOUX_E2E_LOAD_SECONDS", "30"))
MIB = 1048576
TOO_LARGE = {"detail": f"Request body too large: at most {MIB} bytes"}

# the http block of Debian's /etc/nginx/nginx.conf, without its sites
MAIN = """user www-data;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format upstreams '$remote_addr "$request" $status $upstream_addr $request_time';
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {site};
}}
"""


def substitutions(nodes):
    """docs/deploy.md's list: (text in the shipped file, loopback text)."""
    a, b = nodes
    return [
        ("10.0.0.11:8069", f"127.0.0.1:{a.port}"),
        ("10.0.0.12:8069", f"127.0.0.1:{b.port}"),
        ("10.0.0.11:8072", f"127.0.0.1:{a.gevent_port}"),
        ("10.0.0.12:8072", f"127.0.0.1:{b.gevent_port}"),
        ("listen 80;", f"listen 127.0.0.1:{HTTP_PORT};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{HTTPS_PORT} ssl http2;"),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
    ]


def nginx_folder(root, site):
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(root / "tmp" / sub, "www-data")
    main = root / "nginx.conf"
    main.write_text(MAIN.format(dir=root, site=site))
    return main


def nginx_t(main):
    return subprocess.run(
        ["nginx", "-t", "-c", str(main)], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def nginx(cluster):
    if os.geteuid() != 0:
        pytest.fail("nginx runs its workers as www-data: run as root")
    for port in (HTTP_PORT, HTTPS_PORT):
        if port_open(port):
            pytest.fail(f"port {port} is taken: set EMBOUX_E2E_NGINX_PORT")
    ensure_packages(["nginx", "ssl-cert"])
    text = CONF.read_text()
    for shipped, loopback in substitutions(cluster.nodes):
        assert text.count(shipped) == 1, f"{CONF.name}: {shipped!r} is not there once"
        text = text.replace(shipped, loopback)
    # its workers (www-data) write request bodies under it: not in pytest's
    # root-only tmp_path
    root = Path(tempfile.mkdtemp(prefix="emboux-nginx-"))
    root.chmod(0o755)
    proc = None
    try:
        site = root / "emboux.conf"
        site.write_text(text)
        main = nginx_folder(root, site)
        checked = nginx_t(main)
        assert checked.returncode == 0, checked.stderr
        proc = subprocess.Popen(
            ["nginx", "-c", str(main), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: port_open(HTTPS_PORT), 20, f"nginx on {HTTPS_PORT}")
        assert proc.poll() is None, (root / "error.log").read_text()
        yield SimpleNamespace(proc=proc, root=root)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGQUIT)  # graceful: the workers end too
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if os.environ.get("EMBOUX_E2E_KEEP"):
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def https(path):
    return f"https://127.0.0.1:{HTTPS_PORT}{path}"


def tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the snakeoil certificate
    return context


def test_the_shipped_files_pass_their_checks(tmp_path):
    ensure_packages(["nginx", "ssl-cert"])
    checked = nginx_t(nginx_folder(tmp_path / "nginx", CONF))
    assert checked.returncode == 0, checked.stderr
    if shutil.which("systemd-analyze"):
        (tmp_path / "odoo.service").write_text("[Service]\nExecStart=/bin/true\n")
        shutil.copy(SOCKET_UNIT, tmp_path / "odoo.socket")
        proc = subprocess.run(
            ["systemd-analyze", "verify", tmp_path / "odoo.socket", tmp_path / "odoo.service"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_http_redirects_to_https(nginx):
    response = requests.get(f"http://127.0.0.1:{HTTP_PORT}/my", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == "https://127.0.0.1/my"


def test_odoo_sees_the_client_address_and_the_cookie_is_secure(cluster, nginx):
    """A client on 127.0.0.5 that claims another address in
    X-Forwarded-For: Odoo (proxy_mode) logs the login from 127.0.0.5."""
    conn = http.client.HTTPSConnection(
        "127.0.0.1", HTTPS_PORT, timeout=TIMEOUT, context=tls_context(),
        source_address=("127.0.0.5", 0),
    )  # fmt: skip
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {"db": cluster.db, "login": "admin", "password": "admin"},
    }
    conn.request(
        "POST",
        "/web/session/authenticate",
        body=json.dumps(body),
        headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"},
    )
    response = conn.getresponse()
    answer = json.loads(response.read())
    cookie = response.getheader("Set-Cookie")
    conn.close()
    assert answer["result"]["uid"], answer
    assert re.search(r"session_id=[^;]+;.*; Secure; SameSite=Lax", cookie), cookie
    logs = "".join(node.log() for node in cluster.nodes)
    assert "Login successful for login:admin from 127.0.0.5" in logs
    assert "from 203.0.113.9" not in logs


def test_the_api_body_limit_at_nginx(cluster, nginx):
    """Over 1 MiB: nginx answers the API's own 413, Odoo never sees it;
    exactly 1 MiB reaches the API (an invalid domain name: 422)."""
    headers = {"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json"}
    for size, status in ((MIB + 1, 413), (MIB, 422)):
        prefix = '{"name": "'
        body = prefix + "x" * (size - len(prefix) - 2) + '"}'
        assert len(body) == size
        response = requests.post(
            https("/api/domains/"), data=body, headers=headers, verify=False, timeout=TIMEOUT
        )
        assert response.status_code == status, response.text[:300]
        if status == 413:
            assert response.json() == TOO_LARGE
            direct = requests.post(
                cluster.nodes[0].url("/domains/"), data=body, headers=headers, timeout=TIMEOUT
            )
            assert (direct.status_code, direct.json()) == (413, TOO_LARGE)
    # nginx's own answer: no node was asked ($upstream_addr is "-")
    refused = [line for line in nginx_access(nginx) if '"POST /api/domains/ HTTP/1.1" 413 ' in line]
    assert refused and all(" 413 - " in line for line in refused), refused


def nginx_access(nginx):
    return (nginx.root / "access.log").read_text().splitlines()


def test_websocket_reaches_the_gevent_worker(nginx):
    key = base64.b64encode(os.urandom(16)).decode()
    conn = http.client.HTTPSConnection(
        "127.0.0.1", HTTPS_PORT, timeout=TIMEOUT, context=tls_context()
    )
    conn.request(
        "GET",
        "/websocket?version=19.0-1",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            "Origin": f"https://127.0.0.1:{HTTPS_PORT}",
        },
    )
    response = conn.getresponse()
    accept = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    conn.close()
    assert response.status == 101
    assert response.getheader("Sec-WebSocket-Accept") == accept


def test_the_database_manager_is_not_served(nginx):
    for path in ("/web/database/manager", "/web/database/list"):
        response = requests.get(https(path), verify=False, timeout=TIMEOUT)
        assert response.status_code == 404, path


def upstream_split(nginx, before):
    """Requests per node port in nginx's log since line ``before``."""
    split = {}
    for line in nginx_access(nginx)[before:]:
        found = re.search(r" 127\.0\.0\.1:(\d+) [\d.]+$", line)
        if found:
            split[found.group(1)] = split.get(found.group(1), 0) + 1
    return split


def listen_queue(port):
    """The listen queue (backlog) of the socket on 127.0.0.1:``port``."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[2])


def listen_overflows():
    """The kernel's count of connections dropped for a full listen queue
    (machine-wide)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    names, values = (line.split() for line in lines[:2])
    return int(dict(zip(names, values, strict=True))["ListenOverflows"])


def test_200_clients_for_30_seconds_through_nginx(cluster, nginx, figures):
    before = len(nginx_access(nginx))
    load = rest_load(HTTPS_PORT, "/api/domains/", cluster.token, 200, SECONDS, tls=True)
    figures(f"nginx, GET /api/domains/ over HTTPS, two nodes: {load.summary()}")
    figures(f"   requests per node port: {upstream_split(nginx, before)}")
    rows = primary_sql(
        "SELECT count(*), count(DISTINCT application_name) FROM pg_stat_activity"
        " WHERE datname = %s AND application_name LIKE 'odoo-%%'",
        (cluster.db,),
    )
    figures(f"   PostgreSQL connections of the Odoo processes after it (connections, processes): "
            f"{rows[0]}")  # fmt: skip
    assert load.answered > 0
    assert not load.errors, load.errors
    assert load.server_errors == 0 and set(load.statuses) == {200}, load.statuses


@pytest.fixture(scope="module")
def plain_node(cluster, tmp_path_factory):
    """A third node on the same database, started as ``make run`` starts
    Odoo (--workers=2, Odoo's own listen queue). With the others'
    configuration: each start of Odoo writes the sending rules into the
    database (a node without HOURLY_FRACTION=1 would make the hourly limit
    1/6 of the daily one for every node)."""
    node = LiveOdoo(
        tmp_path_factory.mktemp("plain-node"),
        db=cluster.db,
        token=cluster.token,
        port=PLAIN_PORT,
        extra_env=cluster.nodes[0].extra_env,
    )
    try:
        node.start()
        yield node
    finally:
        node.stop()


def test_64_clients_straight_at_a_node_and_through_nginx(cluster, nginx, plain_node, figures):
    assert listen_queue(plain_node.port) == 8 * plain_node.workers
    for node in cluster.nodes:
        assert listen_queue(node.port) == int(Path("/proc/sys/net/core/somaxconn").read_text())
    runs = [
        ("straight at a node as make run starts it (listen queue 16)", plain_node.port, False),
        ("straight at a socket-activated node (listen queue 4096)", cluster.nodes[0].port, False),
        ("through nginx, HTTPS, two socket-activated nodes", HTTPS_PORT, True),
    ]
    results = {}
    for name, port, tls in runs:
        overflows = listen_overflows()
        # every request a new connection (Odoo closes each); an answer
        # may take 15 s at most
        load = rest_load(port, "/api/domains/", cluster.token, 64, 10, keepalive=tls, tls=tls,
                         timeout=15)  # fmt: skip
        dropped = listen_overflows() - overflows
        figures(
            f"64 clients {name}: {load.summary()}; "
            f"kernel listen-queue overflows meanwhile (machine-wide): {dropped}"
        )
        results[name] = load
    through_nginx = results[runs[-1][0]]
    assert not through_nginx.errors and set(through_nginx.statuses) == {200}, (
        through_nginx.summary()
    )
