"""The list routes cost a constant number of SQL queries: one query per
model (prefetching, batched computes, one access check for all the parents),
never one per record. Each test lists a few records, then more of the same
mix, and checks that the count of queries is the same."""

from contextlib import contextmanager
import logging

from odoo.tests import tagged

from .common import MASTER_TOKEN, EmbouxApiCase


@contextmanager
def sql_logged():
    """The queries run meanwhile (``odoo.sql_db`` at DEBUG, as ``--log-sql``),
    kept out of the test log."""
    queries = []

    class Capture(logging.Handler):
        def emit(self, record):
            queries.append(record.getMessage()[:400])

    logger = logging.getLogger("odoo.sql_db")
    handler = Capture(logging.DEBUG)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield queries
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@tagged("post_install", "-at_install")
class TestListQueries(EmbouxApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant_a, cls.token_a = cls.make_tenant("acme", max_domains=0)
        cls.tenant_b, cls.token_b = cls.make_tenant("globex", max_domains=0)
        cls.tokens = {None: MASTER_TOKEN, "acme": cls.token_a, "globex": cls.token_b}
        # a wildcard parent of acme, verified: its subdomains report
        # verified_via_parent
        cls.parent_a = cls.Domain.create(
            {"name": "acme.test", "tenant_id": cls.tenant_a.id, "is_wildcard": True}
        )
        cls.parent_a._set_verification("verified")

    def setUp(self):
        super().setUp()
        self.batches = 0

    def add_domains(self, count):
        """``count`` domains of the mix every list sees: acme's plain ones
        with a mailbox, an alias and a catch-all; acme's subdomains of its
        wildcard parent (one of them two levels down); globex's subdomains
        of acme's parent (globex may not read it: unnamed for globex); the
        operator's own ones."""
        self.batches += 1
        batch = self.batches
        for i in range(count):
            kind = i % 4
            name = f"d{batch}-{i}"
            if kind == 0:
                domain = self.Domain.create({"name": f"{name}.org", "tenant_id": self.tenant_a.id})
                self.Mailbox.create(
                    {"email": f"ann@{domain.name}", "password": "correct horse battery"}
                )
                self.Alias.create({"source": f"info@{domain.name}", "destination": "x@y.test"})
                self.Alias.create({"source": f"@{domain.name}", "destination": "x@y.test"})
            elif kind == 1:
                sub = self.Domain.create(
                    {"name": f"{name}.acme.test", "tenant_id": self.tenant_a.id}
                )
                self.assertEqual(sub.parent_id, self.parent_a)
                if i % 8 == 1:
                    sub.set_parent(sub.parent_id, wildcard=True)
                    deeper = self.Domain.create(
                        {"name": f"x.{sub.name}", "tenant_id": self.tenant_a.id}
                    )
                    self.assertEqual(deeper.parent_id, sub)
            elif kind == 2:
                sub = self.Domain.create(
                    {"name": f"{name}-b.acme.test", "tenant_id": self.tenant_b.id}
                )
                sub.set_parent(self.parent_a)
            else:
                domain = self.Domain.create({"name": f"{name}.net"})
                self.Mailbox.create(
                    {"email": f"bob@{domain.name}", "password": "correct horse battery"}
                )
        # the API key list grows too: a key of each tenant per batch
        for tenant in (self.tenant_a, self.tenant_b):
            self.Key.generate(tenant, f"batch {batch}")

    def count_queries(self, path, token):
        """The SQL queries of ``GET path``, caches cold (a first request
        warms the registry-wide caches: access rights, record rules)."""
        self.env.flush_all()
        self.env.invalidate_all()
        self.assertStatus(self.api("GET", path, token=token), 200)
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        with sql_logged() as queries:
            body = self.assertStatus(self.api("GET", path, token=token), 200)
        return self.env.cr.sql_log_count - before, len(body), queries

    def assert_constant(self, cases):
        """Each ``(path, token)`` of ``cases`` costs as many queries with 5
        and with 30 more domains (and their mailboxes, aliases, keys)."""
        self.add_domains(5)
        small = {case: self.count_queries(*case) for case in cases}
        self.add_domains(25)
        large = {case: self.count_queries(*case) for case in cases}
        for case in cases:
            small_count, small_len, small_queries = small[case]
            large_count, large_len, queries = large[case]
            with self.subTest(path=case[0], customer=case[1] != self.tokens[None]):
                self.assertGreater(large_len, small_len, "the list did not grow")
                self.assertEqual(
                    large_count,
                    small_count,
                    f"GET {case[0]}: {small_count} queries for {small_len} rows, "
                    f"{large_count} for {large_len}:\n"
                    + "\n".join(queries)
                    + "\nagainst\n"
                    + "\n".join(small_queries),
                )

    def test_domains(self):
        self.assert_constant([("/domains/", self.tokens[who]) for who in (None, "acme", "globex")])

    def test_users_and_aliases(self):
        self.assert_constant(
            [
                (path, self.tokens[who])
                for path in ("/users/", "/aliases/")
                for who in (None, "acme")
            ]
        )

    def test_api_keys(self):
        self.assert_constant([("/api-keys/", self.tokens[None])])

    def test_domains_output(self):
        """The batched list answers what each domain's own GET answers."""
        self.add_domains(8)
        for who in (None, "acme", "globex"):
            with self.subTest(caller=who):
                token = self.tokens[who]
                listed = self.assertStatus(self.api("GET", "/domains/", token=token), 200)
                self.assertTrue(listed)
                for item in listed:
                    self.env.invalidate_all()
                    one = self.assertStatus(
                        self.api("GET", f"/domains/{item['name']}", token=token), 200
                    )
                    self.assertEqual(item, one)
        listed = {
            d["name"]: d
            for d in self.assertStatus(self.api("GET", "/domains/", token=self.token_b), 200)
        }
        sub = listed["d1-2-b.acme.test"]
        # globex may not read acme's parent: unnamed, its verification reported
        self.assertEqual(
            (sub["parent"], sub["verification_status"], sub["verified_via_parent"]),
            (None, "verified", True),
        )
        listed = {d["name"]: d for d in self.assertStatus(self.api("GET", "/domains/"), 200)}
        # the set-based reading (the SQL view) agrees with the ORM's computes
        self.env.invalidate_all()
        for domain in self.Domain.search([]):
            with self.subTest(domain=domain.name):
                self.assertEqual(
                    (
                        listed[domain.name]["verification_status"],
                        listed[domain.name]["verified_via_parent"],
                    ),
                    (domain.effective_verification_status, domain.verified_via_parent),
                )
        self.assertEqual(listed["d1-2-b.acme.test"]["parent"], "acme.test")
        self.assertEqual(
            (
                listed["x.d1-1.acme.test"]["parent"],
                listed["x.d1-1.acme.test"]["verified_via_parent"],
            ),
            ("d1-1.acme.test", True),
        )
        self.assertEqual(
            (listed["d1-0.org"]["mailbox_count"], listed["d1-0.org"]["alias_count"]), (1, 2)
        )
        self.assertEqual(
            (listed["acme.test"]["verified_via_parent"], listed["d1-3.net"]["mailbox_count"]),
            (False, 1),
        )
