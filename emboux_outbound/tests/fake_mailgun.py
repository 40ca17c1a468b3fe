"""A local HTTP server that behaves like Mailgun's v3 domains API, for the
tests: HTTP basic auth ``api:<key>`` checked, state kept per domain,
answers shaped as Mailgun's documentation (and mailgun-go's mock) describe.

Routes: ``POST /v3/domains``; ``GET``/``DELETE /v3/domains/{d}``; ``PUT
/v3/domains/{d}/verify``; ``PUT /v3/domains/{d}/dkim_authority``; ``GET``/
``POST /v3/domains/{d}/credentials``; ``GET``/``POST
/v3/domains/{d}/webhooks`` and ``PUT /v3/domains/{d}/webhooks/{id}``.

``mode``: None (normal), ``"error"`` (every call answers 500), or
``"timeout"`` (every call waits ``delay`` seconds before answering).
``slow``: ``{path suffix: seconds}``, the calls whose path ends so wait
that long, then answer as usual; ``waiting`` is set while one waits.
A domain becomes ``active`` on its next verify once the test put it in
``dns_published`` (as if its DNS records were found).
"""

import base64
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

SELECTOR = "smtp"


class FakeMailgun:
    def __init__(self, api_key="key-test-mailgun", port=0):
        self.api_key = api_key
        self.domains = {}  # name -> dict
        self.dns_published = set()
        self.calls = []  # (method, path)
        self.mode = None
        self.delay = 3.0
        self.slow = {}
        self.waiting = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        # a client that gave up (timeout mode) is no error of the server
        self.server.handle_error = lambda request, client_address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def reset(self):
        with self.lock:
            self.domains.clear()
            self.dns_published.clear()
            self.calls.clear()
            self.mode = None
            self.slow = {}
            self.waiting.clear()

    def count(self, method, path_suffix=""):
        return sum(1 for m, p in self.calls if m == method and p.endswith(path_suffix))

    # ------------------------------------------------------------------
    # Mailgun's answers
    # ------------------------------------------------------------------
    def _root_of(self, name):
        """The registered root domain of ``name`` (its nearest ancestor)."""
        labels = name.split(".")
        for i in range(1, len(labels) - 1):
            candidate = ".".join(labels[i:])
            if candidate in self.domains:
                return candidate
        return None

    def _dkim_owner(self, name):
        dom = self.domains[name]
        if not dom["dkim_self"]:
            return self._root_of(name) or name
        return name

    def _sending_records(self, name):
        dom = self.domains[name]
        owner = self._dkim_owner(name)
        valid = "valid" if dom["state"] == "active" else "unknown"
        return [
            {
                "record_type": "TXT",
                "valid": valid,
                "name": name,
                "value": "v=spf1 include:mailgun.org ~all",
                "cached": [],
            },
            {
                "record_type": "TXT",
                "valid": valid,
                "name": f"{SELECTOR}._domainkey.{owner}",
                "value": f"k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GN{owner.replace('.', '')}AQAB",
                "cached": [],
            },
            {
                "record_type": "CNAME",
                "valid": valid,
                "name": f"email.{name}",
                "value": "mailgun.org",
                "cached": [],
            },
        ]

    def _domain_answer(self, name, message=None):
        dom = self.domains[name]
        body = {
            "domain": {
                "name": name,
                "state": dom["state"],
                "smtp_login": f"postmaster@{name}",
                "created_at": dom["created_at"],
                "spam_action": "disabled",
                "wildcard": False,
                "type": "custom",
            },
            "receiving_dns_records": [
                {
                    "priority": "10",
                    "record_type": "MX",
                    "valid": "unknown",
                    "value": "mxa.mailgun.org",
                    "cached": [],
                }
            ],
            "sending_dns_records": self._sending_records(name),
        }
        if message:
            body["message"] = message
        return body

    def handle(self, method, path, form):
        """``(status, body)`` of one request (already authenticated)."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["v3", "domains"]:
            return 404, {"message": "Not Found"}
        rest = parts[2:]
        if not rest:
            if method != "POST":
                return 405, {"message": "Method not allowed"}
            return self._create_domain(form)
        name = rest[0].lower()
        if name not in self.domains:
            return 404, {"message": "Domain not found"}
        sub = rest[1:]
        handler = {
            (): self._domain,
            ("verify",): self._verify,
            ("dkim_authority",): self._dkim_authority,
            ("credentials",): self._credentials,
            ("webhooks",): self._webhooks,
        }.get(tuple(sub))
        if handler is None and len(sub) == 2 and sub[0] == "webhooks":
            return self._webhook_update(method, name, sub[1], form)
        if handler is None:
            return 405, {"message": "Method not allowed"}
        return handler(method, name, form)

    def _create_domain(self, form):
        name = (form.get("name") or [""])[0].lower()
        if not name:
            return 400, {"message": "Missing parameter 'name'"}
        if name in self.domains:
            return 400, {"message": "This domain name is already taken"}
        self.domains[name] = {
            "state": "unverified",
            "dkim_self": True,
            "created_at": formatdate(usegmt=True),
            "credentials": {},
            "webhooks": {},
        }
        return 200, self._domain_answer(name, "Domain DNS records have been created")

    def _domain(self, method, name, form):
        if method == "GET":
            return 200, self._domain_answer(name)
        if method == "DELETE":
            del self.domains[name]
            return 200, {"message": "Domain has been deleted"}
        return 405, {"message": "Method not allowed"}

    def _verify(self, method, name, form):
        if method != "PUT":
            return 405, {"message": "Method not allowed"}
        dom = self.domains[name]
        owner = self._dkim_owner(name)
        if name in self.dns_published and (
            owner == name or self.domains[owner]["state"] == "active"
        ):
            dom["state"] = "active"
        return 200, self._domain_answer(name, "Domain DNS records have been updated")

    def _dkim_authority(self, method, name, form):
        if method != "PUT":
            return 405, {"message": "Method not allowed"}
        dom = self.domains[name]
        self_ = (form.get("self") or ["true"])[0].lower() == "true"
        changed = dom["dkim_self"] != self_
        dom["dkim_self"] = self_
        root = self.domains.get(self._root_of(name) or "", {})
        if not self_ and root.get("state") == "active":
            dom["state"] = "active"
        return 200, {
            "changed": changed,
            "message": "Domain DKIM authority changed",
            "sending_dns_records": self._sending_records(name),
        }

    def _credentials(self, method, name, form):
        dom = self.domains[name]
        if method == "GET":
            items = [
                {"login": login, "mailbox": login, "created_at": created}
                for login, (_pw, created) in sorted(dom["credentials"].items())
            ]
            return 200, {"total_count": len(items), "items": items}
        if method != "POST":
            return 405, {"message": "Method not allowed"}
        login = (form.get("login") or [""])[0].lower()
        password = (form.get("password") or [None])[0]
        if "@" not in login:
            return 400, {"message": "'login' parameter is not a valid address"}
        if login in dom["credentials"]:
            return 400, {"message": "Credentials already exist"}
        body = {"message": "Created 1 credentials pair(s)"}
        if not password:
            password = "generated-" + login
            body["credentials"] = {login: password}
        elif not 5 <= len(password) <= 32:
            return 400, {"message": "Password length must be between 5 and 32"}
        dom["credentials"][login] = (password, formatdate(usegmt=True))
        return 200, body

    def _webhooks(self, method, name, form):
        dom = self.domains[name]
        if method == "GET":
            return 200, {"webhooks": {k: {"urls": list(v)} for k, v in dom["webhooks"].items()}}
        if method != "POST":
            return 405, {"message": "Method not allowed"}
        hook = (form.get("id") or [""])[0]
        urls = form.get("url") or []
        if hook in dom["webhooks"]:
            return 400, {"message": "Webhook already exists"}
        if not urls or len(urls) > 3:
            return 400, {"message": "url: between 1 and 3 URLs"}
        dom["webhooks"][hook] = list(urls)
        return 200, {"message": "Webhook has been created", "webhook": {"urls": urls}}

    def _webhook_update(self, method, name, hook, form):
        dom = self.domains[name]
        if method != "PUT":
            return 405, {"message": "Method not allowed"}
        urls = form.get("url") or []
        if hook not in dom["webhooks"]:
            return 404, {"message": "Webhook not found"}
        if not urls or len(urls) > 3:
            return 400, {"message": "url: between 1 and 3 URLs"}
        dom["webhooks"][hook] = list(urls)
        return 200, {"message": "Webhook has been updated", "webhook": {"urls": urls}}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self):
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False
                try:
                    user, _sep, key = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False
                return user == "api" and key == fake.api_key

            def _dispatch(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                split = urlsplit(self.path)
                form = parse_qs(raw) if raw else {}
                for key, values in parse_qs(split.query).items():
                    form.setdefault(key, values)
                with fake.lock:
                    fake.calls.append((method, split.path))
                    mode = fake.mode
                    pause = next(
                        (s for suffix, s in fake.slow.items() if split.path.endswith(suffix)), 0
                    )
                if mode == "timeout":
                    time.sleep(fake.delay)
                if pause:
                    fake.waiting.set()
                    time.sleep(pause)
                    fake.waiting.clear()
                if mode == "error":
                    return self._answer(500, {"message": "Internal Server Error"})
                if not self._authorized():
                    data = b"Forbidden"
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                with fake.lock:
                    status, body = fake.handle(method, split.path, form)
                return self._answer(status, body)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PUT(self):
                self._dispatch("PUT")

            def do_DELETE(self):
                self._dispatch("DELETE")

        return Handler
