"""Generated requests against the live API: never a server error.

Starts a real Odoo (``tests/live_odoo.py``) and loads its
``/api/openapi.json`` into schemathesis, which generates requests for every
operation from the schema, valid ones and invalid ones (wrong types,
missing fields, odd path parameters). On top of that, about every other
request gets malformed headers of our own: ``Accept-Language``,
``Content-Type``, ``Authorization`` and ``X-API-Key`` that are garbage,
empty, non-ASCII or long. Three callers: a customer (an API key the master
makes first), then the master, then nobody. Every answer must be below
500; the count and the statuses are printed.

Bounded: a fixed number of examples per operation, caller and mode
(``EMBOUX_FUZZ_EXAMPLES``, default 10: 45 operations x 5 caller-modes x
10, about 2,200 requests, a minute), no shrinking, a timeout on each request and a
deadline for the whole run. The server only reaches 127.0.0.1: its
outgoing HTTP goes to a dead local proxy and its DNS to a dead local port.

The webhooks' signing key and SNS topics are configured: without them
they answer 503 on purpose (the providers retry until the operator sets
them), which is no server error.

The docs pages are loaded in headless Chromium too, when there is one:
Swagger UI renders every operation with nothing from another origin.

Environment: ``EMBOUX_FUZZ_PORT`` (default 8391), ``EMBOUX_FUZZ_EXAMPLES``,
``EMBOUX_LIVE_KEEP_DB=1`` keeps the database.
"""

from collections import Counter
import os
import re
import secrets
import shutil
import subprocess
import time

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from live_odoo import PYTHON, TOP, LiveOdoo, suite_addons
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode

# hypothesis' cache (unicode tables) with the other runtime files, not in the tree
set_hypothesis_home_dir(TOP / ".run" / "hypothesis")

DB = f"emboux_fuzz_{os.getpid()}"
TOKEN = "fuzz-" + secrets.token_urlsafe(24)
PORT = int(os.environ.get("EMBOUX_FUZZ_PORT", "8391"))
# the suite, installed once per session as a template (tests/conftest.py)
LIVE_TEMPLATES = (suite_addons(),)
EXAMPLES = int(os.environ.get("EMBOUX_FUZZ_EXAMPLES", "10"))
MIN_REQUESTS = 2000
REQUEST_TIMEOUT = 30
RUN_DEADLINE = 300  # seconds for all the generated requests
MAX_BODY_BYTES = 1024 * 1024  # emboux_api/fastapi_dispatcher.py
# the server's way out: nothing listens there
DEAD = "127.0.0.1:9"
SERVER_ENV = {
    "HTTP_PROXY": f"http://{DEAD}",
    "HTTPS_PROXY": f"http://{DEAD}",
    "http_proxy": f"http://{DEAD}",
    "https_proxy": f"http://{DEAD}",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "EMBOUX_DNS_NAMESERVERS": DEAD,
    "EMBOUX_DNS_TIMEOUT": "0.5",
    # the webhooks' settings: unset, they answer 503 on purpose (the
    # providers retry until the operator configures them)
    "MAILGUN_WEBHOOK_SIGNING_KEY": "fuzz-signing-key",
    "EMBOUX_SES_SNS_TOPIC_ARNS": f"arn:aws:sns:eu-west-1:123456789012:fuzz-{secrets.token_hex(8)}",
    "MAILGUN_API_KEY": "",
    "AWS_REGION": "",
    "AWS_ENDPOINT_URL_SES": "",
}

# -- malformed headers ------------------------------------------------------
# header values as bytes: any octet but CR, LF and NUL, no leading space
# (what an HTTP client can put on the wire)
OCTETS = st.binary(max_size=300).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"").lstrip(b" \t")
)
UNICODE = st.text(max_size=200).map(
    lambda s: re.sub(r"[\r\n\x00]", "", s).lstrip(" \t").encode("utf-8")
)
JUNK = st.one_of(OCTETS, UNICODE, st.sampled_from([b"", b";", b";q=", b"=", b",", b"*"]))
LONG = st.integers(1000, 20000).map(lambda n: b"x" * n)

ACCEPT_LANGUAGE = st.one_of(
    st.sampled_from(
        [
            b";q=",
            b"-;@V8 u'qHy___q",
            b"fr-FR,fr;q=0.9,en;q=0.8",
            b"en;q=nan",
            b"a;b;c",
            b"de;q=1e999",
            b"\xff\xfe",
            "é-ü;q=0.5".encode(),
        ]
    ),
    JUNK,
    LONG,
)
CONTENT_TYPE = st.one_of(
    st.sampled_from(
        [
            b"garbage",
            b"application/json; charset=ebcdic",
            b"application/json; charset=",
            b"application/json; charset=utf-16",
            b"multipart/form-data",
            b"multipart/form-data; boundary=",
            b"application/x-www-form-urlencoded",
            b"text/plain",
            b"application/json;" + b"a=b;" * 1000,
            "ümlaut/ä; charset=€".encode(),
            b"\xff/\xfe",
        ]
    ),
    JUNK,
)


def authorization(token):
    return st.one_of(
        st.sampled_from(
            [
                b"Bearer",
                b"Bearer ",
                b"Basic Zm9vOmJhcg==",
                b"Digest realm=x",
                b"bearer " + token.encode(),
                b"Bearer " + token.encode() + b"\xff",
                b"Bearer " + token.encode()[:-1],
                "Bearer ü€".encode(),
            ]
        ),
        JUNK,
        JUNK.map(lambda b: b"Bearer " + b),
        LONG.map(lambda b: b"Bearer " + b),
    )


def fuzzed_headers(token):
    """Nothing (half the time), else some of the four headers, malformed."""
    return st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {},
            optional={
                "Accept-Language": ACCEPT_LANGUAGE,
                "Content-Type": CONTENT_TYPE,
                "Authorization": authorization(token or TOKEN),
                "X-API-Key": st.one_of(JUNK, LONG, st.just((token or "").encode() + b"\xff")),
            },
        ),
    )


# -- the run ----------------------------------------------------------------
class Tally:
    def __init__(self):
        self.statuses = Counter()
        self.failures = []
        self.unsatisfiable = []
        self.started = time.monotonic()

    @property
    def total(self):
        return sum(self.statuses.values())

    def record(self, label, kwargs, response=None, error=None):
        headers = {k: v[:100] for k, v in (kwargs.get("headers") or {}).items()}
        if error is not None:
            self.statuses["error"] += 1
            self.failures.append(f"{label}: {error!r} headers={headers}")
            return
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.failures.append(
                f"{label}: {response.status_code} {response.text[:300]!r} "
                f"headers={headers} params={kwargs.get('params')} "
                f"body={str(kwargs.get('json', kwargs.get('data')))[:300]!r}"
            )


def fuzz_operation(session, base_url, operation, mode, caller_headers, token, tally):
    label_op = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), extra=fuzzed_headers(token))
    def run(case, extra):
        if time.monotonic() - tally.started > RUN_DEADLINE:
            return
        kwargs = case.as_transport_kwargs(base_url=base_url)
        headers = {**(kwargs.get("headers") or {}), **caller_headers, **extra}
        kwargs["headers"] = headers
        kwargs["timeout"] = REQUEST_TIMEOUT
        kwargs["allow_redirects"] = False
        label = f"{mode.value} {label_op} -> {kwargs.get('url')}"
        try:
            response = session.request(**kwargs)
        except requests.RequestException as exc:
            tally.record(label, kwargs, error=exc)
        else:
            tally.record(label, kwargs, response=response)

    try:
        run()
    except Unsatisfiable:
        # nothing can be invalid about it (negative mode of an operation
        # whose only input is a free-form header)
        tally.unsatisfiable.append(f"{mode.value} {label_op}")


@pytest.fixture(scope="module")
def odoo(tmp_path_factory):
    if not PYTHON.exists():
        pytest.skip("no virtualenv: run `make setup` first")
    server = LiveOdoo(
        tmp_path_factory.mktemp("emboux-fuzz"), db=DB, token=TOKEN, port=PORT, extra_env=SERVER_ENV
    )
    try:
        server.install()
        server.start(log_level="warn")
        yield server
    finally:
        server.stop()
        server.drop()


def customer_key(odoo):
    response = requests.post(
        odoo.url("/api-keys/"),
        json={"partner_ref": "fuzz-tenant", "name": "fuzz"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=REQUEST_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_generated_requests_never_make_a_server_error(odoo, capsys):
    schema = schemathesis.openapi.from_url(odoo.url("/openapi.json"), timeout=REQUEST_TIMEOUT)
    base_url = f"http://127.0.0.1:{odoo.port}{odoo.prefix}"
    operations = [result.ok() for result in schema.get_all_operations()]
    customer = customer_key(odoo)
    both = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    callers = [
        # the customer first: the master's DELETE /api-keys/{id} may revoke its key
        ("customer", {"X-API-Key": customer}, customer, both),
        ("master", {"Authorization": f"Bearer {TOKEN}"}, TOKEN, both),
        # nobody: a 401 before the input is looked at, mostly
        ("anonymous", {}, None, (GenerationMode.POSITIVE,)),
    ]
    tally = Tally()
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1, whatever the proxy settings
        for _name, caller_headers, token, modes in callers:
            for operation in operations:
                for mode in modes:
                    fuzz_operation(session, base_url, operation, mode, caller_headers, token, tally)
        # oversized bodies and headers, by hand
        big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
        for path, headers in (
            ("/domains/", {"Authorization": f"Bearer {TOKEN}"}),
            ("/webhooks/ses", {}),
            ("/webhooks/mailgun", {}),
        ):
            for data in (big, (big[i : i + 65536] for i in range(0, len(big), 65536))):
                kwargs = {
                    "method": "POST",
                    "url": base_url + path,
                    "data": data,
                    "headers": {**headers, "Content-Type": "application/json"},
                    "timeout": REQUEST_TIMEOUT,
                }
                response = session.request(**kwargs)
                tally.record(f"oversized POST {path}", kwargs, response=response)
                assert response.status_code == 413, response.text
        for headers in ({"X-Big": "x" * 70000}, {f"X-H{i}": "1" for i in range(120)}):
            kwargs = {"method": "GET", "url": base_url + "/health", "headers": headers}
            response = session.request(**kwargs, timeout=REQUEST_TIMEOUT)
            tally.record("oversized headers", kwargs, response=response)
            assert response.status_code == 431, response.text
    elapsed = time.monotonic() - tally.started
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items(), key=str))
    with capsys.disabled():  # shown in `make test` too
        print(
            f"\nfuzz: {tally.total} requests over {len(operations)} operations in {elapsed:.0f} s, "
            f"{len(tally.failures)} server errors ({statuses}); "
            f"{len(tally.unsatisfiable)} operations have nothing to make invalid"
        )
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert tally.total >= MIN_REQUESTS, f"only {tally.total} requests in {RUN_DEADLINE} s"
    # nothing the server logged as a failure but http.server's own 431s
    errors = [
        line
        for line in odoo.log().splitlines()
        if re.search(r" (ERROR|CRITICAL) ", line) and "code 431" not in line
    ]
    assert not errors, "\n".join(errors[:20])


@pytest.mark.skipif(not shutil.which("chromium"), reason="no chromium")
def test_docs_render_in_chromium_with_nothing_from_elsewhere(odoo, tmp_path):
    """Swagger UI draws every operation under the page's CSP, and the
    browser reports no blocked load (a blocked one would be a CDN URL)."""
    schema = requests.get(odoo.url("/openapi.json"), timeout=REQUEST_TIMEOUT).json()
    operations = sum(len(item) for item in schema["paths"].values())
    run = subprocess.run(
        [
            shutil.which("chromium"),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            odoo.url("/docs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    drawn = run.stdout.count('class="opblock-summary-path"')
    assert drawn >= operations, f"{drawn} of {operations} operations drawn"
    blocked = [line for line in run.stderr.splitlines() if "Content Security Policy" in line]
    assert not blocked, "\n".join(blocked)
