import asyncio
import logging

from fastapi import FastAPI, HTTPException
import psycopg2

from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_saas.exceptions import EmbouxQuotaError

from ..dependencies import (
    ROLE_CUSTOMER,
    Caller,
    CallerEnv,
    authenticated_caller_impl,
    master_only,
    master_or_owner,
)
from ..routing import EmbouxRouter, HTTPExceptionLogLevelMiddleware, to_http_exception
from .common import EmbouxApiCase


def _probe_router():
    """A router of our classes whose routes write, then fail."""
    router = EmbouxRouter()

    @router.post("/probe/{kind}", **master_only())
    def probe(kind: str, env: CallerEnv):
        env["emboux.domain"].create({"name": "written-before-the-error.org"})
        if kind == "input":
            raise EmbouxInputError("retention_days", "Must not be negative")
        if kind == "conflict":
            raise EmbouxConflictError("name", "The domain 'x.org' already exists")
        if kind == "unique":
            # a real unique violation, as two parallel creates would meet it
            env.cr.execute(
                "INSERT INTO emboux_domain (name, status)"
                " VALUES ('written-before-the-error.org', 'active')"
            )
        if kind == "missing":
            env["emboux.domain"].browse(987654321).name  # noqa: B018
        return {"ok": True}

    @router.get("/owner-or-master", **master_or_owner())
    def owner_or_master():
        return {"ok": True}

    return router


@tagged("post_install", "-at_install")
class TestErrors(EmbouxApiCase):
    def _probe_client(self, **kwargs):
        app = FastAPI()
        app.include_router(_probe_router())
        return self._create_test_client(app=app, raise_server_exceptions=False, **kwargs)

    def test_failed_request_leaves_nothing(self):
        with self._probe_client() as client:
            self.client = client
            cases = {
                "input": (422, "retention_days: must not be negative"),
                "conflict": (409, "name: the domain 'x.org' already exists"),
                "unique": (409, "name: 'written-before-the-error.org' already exists"),
                "missing": (404, "Not found"),
            }
            for kind, (code, detail) in cases.items():
                with self.subTest(kind=kind), mute_logger("odoo.sql_db"):
                    self.assertStatus(self.api("POST", f"/probe/{kind}"), code, detail)
                    self.assertFalse(
                        self.Domain.search([("name", "=", "written-before-the-error.org")])
                    )
            # the cursor is still usable and a good request commits its work
            self.assertStatus(self.api("POST", "/probe/none/"), 200)
            self.assertTrue(self.Domain.search([("name", "=", "written-before-the-error.org")]))

    def test_role_master_or_owner(self):
        def customer_caller():
            return Caller(role=ROLE_CUSTOMER, env=self.env(user=self.api_user))

        with self._probe_client() as client:
            self.client = client
            self.assertStatus(self.api("GET", "/owner-or-master"), 200)
            self.assertStatus(
                self.api("GET", "/owner-or-master", token="nope"), 401, "Not authenticated"
            )
        overrides = {authenticated_caller_impl: customer_caller}
        with self._probe_client(dependency_overrides=overrides) as client:
            self.client = client
            self.assertStatus(self.api("GET", "/owner-or-master", token=None), 200)
            self.assertStatus(
                self.api("POST", "/probe/none", token=None), 403, "Master token required"
            )

    def test_mapping(self):
        def mapped(exc):
            http_exc = to_http_exception(exc)
            return http_exc and (http_exc.status_code, http_exc.detail)

        # the messages are plain sentences: the field is added here, once
        self.assertEqual(mapped(EmbouxInputError("email", "Bad")), (422, "email: bad"))
        self.assertEqual(
            mapped(EmbouxInputError("email", "'x' is bad")), (422, "email: 'x' is bad")
        )
        self.assertEqual(
            mapped(EmbouxInputError("name", "API keys are made here")),
            (422, "name: API keys are made here"),
        )
        self.assertEqual(mapped(EmbouxConflictError("email", "Taken")), (409, "email: taken"))
        self.assertEqual(mapped(ValidationError("odd")), (422, "odd"))
        self.assertEqual(mapped(UserError("refused")), (409, "refused"))
        self.assertEqual(mapped(MissingError("gone")), (404, "Not found"))
        self.assertIsNone(mapped(AccessError("no")))  # the addon answers 403
        self.assertEqual(
            mapped(EmbouxQuotaError("max_domains", "The quota of 1 is reached")),
            (403, "max_domains: the quota of 1 is reached"),
        )
        self.assertIsNone(mapped(HTTPException(418, "teapot")))
        self.assertIsNone(mapped(RuntimeError("bug")))  # a bug stays a 500

    def test_mapping_of_real_integrity_errors(self):
        self.make_domain("taken.org")
        statements = {
            "INSERT INTO emboux_domain (name, status) VALUES ('taken.org', 'active')": (
                409,
                "name: 'taken.org' already exists",
            ),
            "INSERT INTO emboux_domain (name, status) VALUES (NULL, 'active')": (
                422,
                "name: invalid value",
            ),
            "INSERT INTO emboux_domain (name, status, retention_days)"
            " VALUES ('n.org', 'active', -1)": (
                422,
                None,
            ),
        }
        for statement, (code, detail) in statements.items():
            with self.subTest(statement=statement), mute_logger("odoo.sql_db"):
                try:
                    with self.env.cr.savepoint():
                        self.env.cr.execute(statement)
                except psycopg2.IntegrityError as exc:
                    http_exc = to_http_exception(exc)
                else:
                    self.fail("no IntegrityError")
                self.assertEqual(http_exc.status_code, code)
                if detail:
                    self.assertEqual(http_exc.detail, detail)

    def test_http_exceptions_are_logged_as_answers(self):
        """Odoo logs an exception leaving a request at ERROR with its
        traceback unless it has a loglevel: ours get INFO."""
        for code in (401, 404, 405, 409, 422):
            exc = HTTPException(code, "x")

            async def app(scope, receive, send, exc=exc):
                raise exc

            middleware = HTTPExceptionLogLevelMiddleware(app)
            with self.assertRaises(HTTPException) as caught:
                asyncio.run(middleware({"type": "http"}, None, None))
            self.assertEqual(caught.exception.loglevel, logging.INFO)
