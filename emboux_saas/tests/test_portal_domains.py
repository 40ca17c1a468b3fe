import re

from odoo.tests import tagged

from .test_portal import STRONG, PortalCase


def flat(text):
    return re.sub(r"\s+", " ", text)


@tagged("post_install", "-at_install")
class TestPortalDomains(PortalCase):
    """What a customer does with its domains over REST, in the portal: add,
    delete, suspend and activate; and what the mailbox page says about
    the mail of a deactivated mailbox."""

    def test_add_domain(self):
        self.tenant_a.max_domains = 3
        self.login(self.user_a)
        listing = self.get("/my/domains").text
        self.assertIn('action="/my/domains/new"', listing)
        self.assertRegex(flat(listing), r"Domains used: <strong>1</strong> of <strong>3</strong>")
        response = self.post("/my/domains/new", {"name": " New-Acme.TEST. "})
        domain = self.Domain.search([("name", "=", "new-acme.test")])
        self.assertTrue(domain, "the domain was not created")
        self.assertTrue(
            response.headers["Location"].endswith(f"/my/domains/{domain.id}?msg=domain_created")
        )
        self.assertEqual(domain.tenant_id, self.tenant_a)
        self.assertEqual(domain.create_uid, self.user_a, "not created as the portal user")
        self.assertEqual(self.tenant_a.domains_used, 2)
        page = self.get(response.headers["Location"]).text
        self.assertIn("The domain was added.", page)
        mx = re.search(r'data-record-type="MX".*?</tr>', page, re.DOTALL).group(0)
        self.assertIn("mail.new-acme.test", mx)
        self.assertRegex(
            flat(self.get("/my/domains").text),
            r"Domains used: <strong>2</strong> of <strong>3</strong>",
        )

    def test_add_domain_refusals_are_messages(self):
        self.tenant_a.max_domains = 2
        self.login(self.user_a)
        for name, expected in (
            ("not a domain", "is not a valid domain name"),
            ("localhost", "is not a valid domain name"),
            ("", "A domain name is required"),
            ("ACME-portal.test", "already exists"),
            ("globex-portal.test", "already exists"),
            ("shop.globex-portal.test", "hosted for someone else"),
        ):
            response = self.post("/my/domains/new", {"name": name}, status=422)
            error = self.error_of(response)
            self.assertIn(expected, error, name)
            self.assertEqual(self.invalid_inputs(response), {"name"}, name)
            self.assertNotIn("Traceback", response.text)
            if name:
                # what was typed stays in the form
                self.assertIn(f'value="{name}"', response.text)
        # the quota: one slot left, then none
        self.post("/my/domains/new", {"name": "second-acme.test"})
        response = self.post("/my/domains/new", {"name": "third-acme.test"}, status=422)
        self.assertTrue(
            self.error_of(response).startswith("The quota of 2 domains"), response.text[-500:]
        )
        self.assertEqual(self.invalid_inputs(response), {"name"})
        self.assertIn('value="third-acme.test"', response.text)
        self.assertFalse(self.Domain.search_count([("name", "=", "third-acme.test")]))
        self.assertEqual(self.tenant_a.domains_used, 2)
        self.assertEqual(self.tenant_b.domains_used, 1)

    def test_delete_domain_with_confirmation(self):
        self.login(self.user_a)
        page = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn(f'action="/my/domains/{self.domain_a.id}/delete"', page)
        self.assertIn('name="confirm_name"', page)
        url = f"/my/domains/{self.domain_a.id}/delete"
        for typed in ("", "globex-portal.test", "acme-portal"):
            response = self.post(url, {"confirm_name": typed}, status=422)
            self.assertTrue(self.error_of(response).startswith("Type the domain name"))
            self.assertEqual(self.invalid_inputs(response), {"confirm_name"})
        self.assertTrue(self.domain_a.exists())
        self.assertEqual(self.tenant_a.domains_used, 1)
        response = self.post(url, {"confirm_name": " ACME-portal.test "})
        self.assertTrue(response.headers["Location"].endswith("/my/domains?msg=domain_deleted"))
        self.assertFalse(self.domain_a.exists())
        self.assertFalse(self.mailbox_a.exists())
        self.assertFalse(self.alias_a.exists())
        self.assertEqual(self.tenant_a.domains_used, 0)
        listing = self.get("/my/domains?msg=domain_deleted").text
        self.assertIn("The domain was deleted", listing)
        self.assertIn("You have no domains yet", listing)
        # the deletion is logged for the delta sync of the tenant
        deleted = self.env["emboux.deletion.log"].search(
            [("tenant_id", "=", self.tenant_a.id), ("key", "=", "acme-portal.test")]
        )
        self.assertTrue(deleted)

    def test_suspend_and_activate(self):
        self.login(self.user_a)
        page = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn("o_emboux_suspend_modal", page)
        self.assertNotIn("o_emboux_suspended", page)
        response = self.post(f"/my/domains/{self.domain_a.id}/suspend")
        self.assertIn("msg=domain_suspended", response.headers["Location"])
        self.assertEqual(self.domain_a.status, "suspended")
        self.assertEqual(self.domain_a.suspended_by_id, self.user_a)
        page = self.get(response.headers["Location"]).text
        self.assertIn("The domain was suspended", page)
        self.assertIn("o_emboux_suspended", page)
        self.assertIn(f'action="/my/domains/{self.domain_a.id}/activate"', page)
        response = self.post(f"/my/domains/{self.domain_a.id}/activate")
        self.assertIn("msg=domain_activated", response.headers["Location"])
        self.assertEqual(self.domain_a.status, "active")
        # one that staff suspended: the model refuses, the page says why
        self.domain_a.action_suspend()
        response = self.post(f"/my/domains/{self.domain_a.id}/activate", status=422)
        self.assertIn("only staff can activate it", self.error_of(response))
        self.assertEqual(self.domain_a.status, "suspended")

    def test_other_tenants_domain_is_not_found(self):
        self.login(self.user_a)
        missing = 987654321
        for domain_id in (self.domain_b.id, missing):
            for action, data in (
                ("delete", {"confirm_name": "globex-portal.test"}),
                ("suspend", {}),
                ("activate", {}),
            ):
                response = self.post(f"/my/domains/{domain_id}/{action}", data, status=404)
                self.assertNotIn("globex-portal.test", response.text)
        self.post(f"/my/mailboxes/{self.mailbox_b.id}/active", {}, status=404)
        self.assertTrue(self.domain_b.exists())
        self.assertEqual(self.domain_b.status, "active")
        self.assertTrue(self.mailbox_b.active)
        self.assertEqual(self.tenant_b.domains_used, 1)

    def test_writes_without_csrf_token_are_refused(self):
        self.login(self.user_a)
        for url, data in (
            ("/my/domains/new", {"name": "nocsrf-acme.test"}),
            (f"/my/domains/{self.domain_a.id}/delete", {"confirm_name": "acme-portal.test"}),
            (f"/my/domains/{self.domain_a.id}/suspend", {"confirm": "1"}),
            (f"/my/mailboxes/{self.mailbox_a.id}/active", {"active": ""}),
        ):
            # (a POST with a body: requests makes a GET of an empty one)
            self.post(url, data, status=400, csrf=False)
        self.assertFalse(self.Domain.search_count([("name", "=", "nocsrf-acme.test")]))
        self.assertTrue(self.domain_a.exists())
        self.assertEqual(self.domain_a.status, "active")
        self.assertTrue(self.mailbox_a.active)
        self.domain_a.with_user(self.user_a).action_suspend()
        self.post(
            f"/my/domains/{self.domain_a.id}/activate", {"confirm": "1"}, status=400, csrf=False
        )
        self.assertEqual(self.domain_a.status, "suspended")
        # every form of the pages carries the token
        for url in (
            "/my/domains",
            f"/my/domains/{self.domain_a.id}",
            f"/my/mailboxes/{self.mailbox_a.id}",
        ):
            text = self.get(url).text
            forms = re.findall(r"<form\b.*?</form>", text, re.DOTALL)
            posts = [f for f in forms if 'method="post"' in f]
            self.assertTrue(posts, url)
            for form in posts:
                self.assertIn('name="csrf_token"', form, f"{url}: {form[:200]}")

    def test_deactivated_mailbox_mail_is_refused_without_catch_all(self):
        self.login(self.user_a)
        url = f"/my/mailboxes/{self.mailbox_a.id}"
        page = flat(self.get(url).text)
        # the confirmation says it before
        self.assertIn("o_emboux_deactivate_modal", page)
        self.assertIn("Mail sent to it will be refused as an unknown address", page)
        self.assertIn("550 5.1.1 User unknown", page)
        response = self.post(f"{url}/active", {})
        self.assertIn("msg=mailbox_deactivated", response.headers["Location"])
        self.assertFalse(self.mailbox_a.active)
        page = flat(self.get(response.headers["Location"]).text)
        self.assertIn("The mailbox was deactivated.", page)
        notice = re.search(r"o_emboux_mailbox_inactive_notice.*?</div>", page).group(0)
        self.assertIn('data-fate="refused"', notice)
        self.assertIn("ann@acme-portal.test is refused as an unknown address", notice)
        # still listed on its domain's page, marked
        domain_page = self.get(f"/my/domains/{self.domain_a.id}").text
        row = re.search(rf'id="mailbox-{self.mailbox_a.id}".*?</tr>', domain_page, re.DOTALL)
        self.assertIn("deactivated", row.group(0))
        response = self.post(f"{url}/active", {"active": "1"})
        self.assertIn("msg=mailbox_activated", response.headers["Location"])
        self.assertTrue(self.mailbox_a.active)
        self.assertNotIn("o_emboux_mailbox_inactive_notice", self.get(url).text)

    def test_deactivated_mailbox_mail_goes_to_the_catch_all(self):
        self.Mailbox.create(
            {"email": "desk@acme-portal.test", "password": STRONG, "catch_all": True}
        )
        self.login(self.user_a)
        url = f"/my/mailboxes/{self.mailbox_a.id}"
        page = flat(self.get(url).text)
        self.assertIn(
            "Mail sent to it will go to the domain's catch-all: <strong>desk@acme-portal.test", page
        )
        self.post(f"{url}/active", {})
        self.assertFalse(self.mailbox_a.active)
        notice = re.search(
            r"o_emboux_mailbox_inactive_notice.*?</div>", flat(self.get(url).text)
        ).group(0)
        self.assertIn('data-fate="catch_all"', notice)
        self.assertIn("goes to the domain's catch-all: <strong>desk@acme-portal.test", notice)

    def test_deactivating_the_catch_all_itself_says_so(self):
        self.mailbox_a.catch_all = True
        self.login(self.user_a)
        url = f"/my/mailboxes/{self.mailbox_a.id}"
        self.assertIn("It is the catch-all of acme-portal.test", flat(self.get(url).text))
        self.post(f"{url}/active", {})
        notice = re.search(
            r"o_emboux_mailbox_inactive_notice.*?</div>", flat(self.get(url).text)
        ).group(0)
        self.assertIn('data-fate="own_catch_all"', notice)
        self.assertIn("It is the catch-all of acme-portal.test", notice)
        self.assertNotIn("refused as an unknown address", notice)
