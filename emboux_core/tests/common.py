import base64
from contextlib import contextmanager
import logging
import pathlib
import unittest
from unittest.mock import patch

import psycopg2

from odoo.tests import HttpCase, TransactionCase, common as tests_common, new_test_user
from odoo.tools import SQL, config


class EmbouxCase(TransactionCase):
    """Two staff users (Emboux user and manager) and one domain."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Domain = cls.env["emboux.domain"]
        cls.Mailbox = cls.env["emboux.mailbox"]
        cls.Alias = cls.env["emboux.alias"]
        cls.emboux_user = new_test_user(
            cls.env, login="emboux_user", groups="base.group_user,emboux_core.group_emboux_user"
        )
        cls.emboux_manager = new_test_user(
            cls.env,
            login="emboux_manager",
            groups="base.group_user,emboux_core.group_emboux_manager",
        )
        cls.domain = cls.Domain.create({"name": "example.com"})

    @classmethod
    def make_mailbox(cls, email="jane@example.com", password="correct horse battery", **vals):
        return cls.Mailbox.create({"email": email, "password": password, **vals})


class TourCase(HttpCase):
    """Runs a tour in Debian's Chromium; a browser or websocket-client that
    is missing fails the test instead of skipping it."""

    def run_tour(self, url, tour, login, screenshot=None):
        """Run ``tour``; with ``screenshot`` (a file name), the page the
        tour ended on is kept as a full-page PNG in Odoo's screenshots
        folder (``--screenshots``): returns its path."""
        if tests_common.websocket is None:
            self.fail("websocket-client is not installed: the browser tests cannot run")
        try:
            tests_common._find_executable()
        except unittest.SkipTest:
            self.fail("Chromium is not installed (scripts/ensure_chromium.sh): the tour cannot run")
        path = None
        if screenshot:
            folder = pathlib.Path(config["screenshots"]) / self.env.cr.dbname / "screenshots"
            path = folder / screenshot
            path.unlink(missing_ok=True)
        try:
            with self._capture_last_page(path):
                self.start_tour(url, tour, login=login)
        except unittest.SkipTest as exc:
            self.fail(f"the tour did not run: {exc}")
        # what the browser's requests wrote
        self.env.invalidate_all()
        return path

    @contextmanager
    def _capture_last_page(self, path):
        """Before Odoo closes the browser (the tour passed), capture the
        whole page through the DevTools protocol into ``path``."""
        if path is None:
            yield
            return
        stop = tests_common.ChromeBrowser.stop
        logger = logging.getLogger(__name__)

        def capture_then_stop(browser):
            if hasattr(browser, "ws") and not path.exists():
                try:
                    size = browser._websocket_request("Page.getLayoutMetrics")["cssContentSize"]
                    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
                    shot = browser._websocket_request(
                        "Page.captureScreenshot",
                        params={
                            "format": "png",
                            "captureBeyondViewport": True,
                            "clip": {**clip, "scale": 1},
                        },
                    )
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(base64.b64decode(shot["data"]))
                    logger.info("Screenshot of the tour's last page: %s", path)
                except Exception:
                    logger.exception("The tour's last page could not be captured")
            return stop(browser)

        with patch.object(tests_common.ChromeBrowser, "stop", capture_then_stop):
            yield


@contextmanager
def all_logs_with_sql():
    """Every record logged meanwhile, with ``odoo.sql_db`` at DEBUG (as
    ``--log-sql``): yields the list of formatted records (level, logger,
    message and any traceback), to search for a secret."""
    lines = []
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(formatter.format(record))

    handler = Capture(logging.DEBUG)
    root, sql = logging.getLogger(), logging.getLogger("odoo.sql_db")
    level = sql.level
    root.addHandler(handler)
    sql.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        sql.setLevel(level)
        root.removeHandler(handler)


def run_as_role(env, role, query):
    """Run ``query`` as the PostgreSQL ``role`` (SET LOCAL ROLE inside the
    test's transaction); the rows, or the exception class."""
    cr = env.cr
    env.flush_all()
    try:
        # a failed statement rolls the savepoint back, SET LOCAL with it
        with cr.savepoint(flush=False):
            cr.execute(SQL("SET LOCAL ROLE %s", SQL.identifier(role)))
            cr.execute(query, log_exceptions=False)
            rows = cr.fetchall() if cr.description else []
            cr.execute("RESET ROLE")
            return rows
    except psycopg2.Error as exc:
        return type(exc)
