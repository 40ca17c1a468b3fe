"""Malformed headers and oversized bodies through Odoo's real HTTP stack
(the suite's dispatcher reads the body and Accept-Language before the app
runs): a 4xx, or the header is ignored, never a 5xx.

Oversized headers are not sent here: werkzeug's server answers them 431
itself but logs that at ERROR, which would fail ``make test``;
tests/test_api_fuzz.py sends them to a live server."""

import os
import socket
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo.tests import HttpCase, tagged

from ..fastapi_dispatcher import BODY_TOO_LARGE, MAX_BODY_BYTES, lang_from_accept_language

TOKEN = "headers-master-token"


@tagged("post_install", "-at_install")
class TestHeadersAndBodies(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": TOKEN}))
        cls.prefix = cls.env.ref("emboux_api.endpoint_emboux_api").root_path
        cls.env["emboux.domain"].create({"name": "headers.test"})

    def _call(self, method, path, headers=None, token=TOKEN, **kwargs):
        headers = dict(headers or {})
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        return self.url_open(
            f"{self.prefix}{path}",
            method=method,
            headers=headers,
            allow_redirects=False,
            timeout=60,
            **kwargs,
        )

    def assertAnswer(self, response, code, detail=None):
        self.assertEqual(
            response.status_code,
            code,
            f"{response.request.method} {response.request.headers}: {response.text[:300]}",
        )
        if detail is not None:
            self.assertEqual(response.json(), {"detail": detail})

    # -- Accept-Language ----------------------------------------------------
    def test_malformed_accept_language_is_ignored(self):
        plain = self._call("GET", "/domains/")
        self.assertAnswer(plain, 200)
        for value in (
            ";q=",
            "-;@V8 u'qHy___q",
            "a;b;c",
            "fr;q=abc",
            "en;q=nan",
            ";",
            "é".encode(),
            b"\xff\xfe;q=",
            "x" * 9000,  # over the parser's own limit: it raises
            "en-US," * 100,
        ):
            with self.subTest(value=value):
                response = self._call("GET", "/domains/", headers={"Accept-Language": value})
                self.assertAnswer(response, 200)
                self.assertEqual(response.json(), plain.json())
        # public routes and errors too
        response = self._call("GET", "/health", headers={"Accept-Language": ";q="}, token=None)
        self.assertAnswer(response, 200)
        response = self._call("GET", "/domains/", headers={"Accept-Language": ";q="}, token=None)
        self.assertAnswer(response, 401, "Not authenticated")

    def test_accept_language_still_picks_an_installed_language(self):
        env = self.env
        self.assertEqual(lang_from_accept_language(env, "en-US,en;q=0.9"), "en_US")
        self.assertEqual(lang_from_accept_language(env, "xx;q=0.5,en;q=0.1"), "en_US")
        for value in (None, "", ";q=", "a;b;c", "x" * 300, "xx"):
            self.assertIsNone(lang_from_accept_language(env, value), value)

    # -- Content-Type ---------------------------------------------------------
    def test_malformed_content_type(self):
        body = b'{"name": "ct.headers.test"}'
        for value in (
            "garbage",
            "",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "application/x-www-form-urlencoded",
            "text/plain",
            "ümlaut/ä; charset=€".encode(),
            b"\xff/\xfe",
        ):
            with self.subTest(value=value):
                response = self._call(
                    "POST", "/domains/", data=body, headers={"Content-Type": value}
                )
                # not JSON: the body is not read as an object
                self.assertAnswer(response, 422)
        for value in (
            "application/json; charset=ebcdic",
            "application/json; charset=",
            "application/json; charset=utf-16",
            "application/json;" + "a=b;" * 1000,
        ):
            with self.subTest(value=value):
                # JSON with odd parameters: read as JSON, 201 then 409
                response = self._call(
                    "POST", "/domains/", data=body, headers={"Content-Type": value}
                )
                self.assertIn(response.status_code, (201, 409), response.text)
        for path in ("/webhooks/mailgun", "/webhooks/ses"):
            for value in ("garbage", b"\xff/\xfe", "multipart/form-data; boundary="):
                with self.subTest(path=path, value=value):
                    response = self._call(
                        "POST", path, data=b'{"a": 1}', headers={"Content-Type": value}, token=None
                    )
                    self.assertIn(response.status_code, (406, 422), response.text)

    # -- Authorization and X-API-Key ------------------------------------------
    def test_malformed_credentials_are_401(self):
        for value in (
            "garbage",
            "Bearer",
            "Bearer ",
            "Basic Zm9vOmJhcg==",
            "Digest realm=x",
            "Bearer éé".encode(),
            "Bearer ü€".encode(),
            b"Bearer \x01\xff",
            f"Bearer {TOKEN}\xff".encode("latin-1"),
            "Bearer " + "x" * 10000,
        ):
            with self.subTest(authorization=value):
                response = self._call("GET", "/domains/", headers={"Authorization": value})
                self.assertAnswer(response, 401, "Not authenticated")
        for value in ("", "ü".encode(), b"\xff\xfe", "x" * 10000, f"{TOKEN}\xff".encode("latin-1")):
            with self.subTest(api_key=value):
                response = self._call("GET", "/domains/", headers={"X-API-Key": value}, token=None)
                self.assertAnswer(response, 401, "Not authenticated")
        # the scheme is case-insensitive, as in RFC 9110
        response = self._call("GET", "/domains/", headers={"Authorization": f"bearer {TOKEN}"})
        self.assertAnswer(response, 200)

    # -- body size ------------------------------------------------------------
    def test_body_over_the_limit_is_413(self):
        padding = b" " * (MAX_BODY_BYTES - 2)
        at_limit = padding + b"{}"
        self.assertEqual(len(at_limit), MAX_BODY_BYTES)
        headers = {"Content-Type": "application/json"}
        # at the limit: read and parsed (not a domain: 422)
        response = self._call("POST", "/domains/", data=at_limit, headers=headers)
        self.assertAnswer(response, 422)
        for path, token in (
            ("/domains/", TOKEN),
            ("/users/", TOKEN),
            ("/webhooks/mailgun", None),
            ("/webhooks/ses", None),
        ):
            with self.subTest(path=path):
                response = self._call(
                    "POST", path, data=at_limit + b" ", headers=headers, token=token
                )
                self.assertAnswer(response, 413, BODY_TOO_LARGE)
                response = self._call(
                    "POST", path, data=b"x" * (5 * MAX_BODY_BYTES), headers=headers, token=token
                )
                self.assertAnswer(response, 413, BODY_TOO_LARGE)
        # before authentication: an anonymous body is not read either
        response = self._call(
            "POST", "/domains/", data=at_limit + b" ", headers=headers, token=None
        )
        self.assertAnswer(response, 413, BODY_TOO_LARGE)
        self.assertFalse(self.env["emboux.domain"].search([("name", "=", "x")]))

    def test_chunked_body(self):
        def chunks(data, size=65536):
            for i in range(0, len(data), size):
                yield data[i : i + size]

        headers = {"Content-Type": "application/json"}
        # a chunked body reaches the app (the WSGI bridge needs its length)
        response = self._call(
            "POST",
            "/domains/",
            data=chunks(b'{"name": "chunked.headers.test"}', 7),
            headers=headers,
        )
        self.assertAnswer(response, 201)
        self.assertEqual(response.json()["name"], "chunked.headers.test")
        # and is cut at the limit while it is read
        big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
        for path, token in (("/domains/", TOKEN), ("/webhooks/ses", None)):
            with self.subTest(path=path):
                response = self._call("POST", path, data=chunks(big), headers=headers, token=token)
                self.assertAnswer(response, 413, BODY_TOO_LARGE)

    def test_garbage_content_length(self):
        # by hand: an HTTP client would correct it (with the test server's
        # cookie, as url_open)
        url = urlsplit(self.base_url())
        body = b'{"name": "cl.headers.test"}'
        for value in (b"abc", b"-5", b"99999999999999999999999", b"1e3"):
            with self.subTest(value=value), self.allow_requests():
                cookie = self.opener.cookies.get("test_request_key")
                request = (
                    (
                        f"POST {self.prefix}/domains/ HTTP/1.1\r\nHost: {url.netloc}\r\n"
                        f"Cookie: test_request_key={cookie}\r\n"
                        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                    ).encode()
                    + b"Content-Length: "
                    + value
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )
                with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
                    sock.sendall(request)
                    answer = sock.makefile("rb").read()
                status_line, _sep, _rest = answer.partition(b"\r\n")
                code = int(status_line.split()[1])
                # werkzeug reads no body for a length it cannot read
                self.assertIn(code, (413, 422), answer)
