import os
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged
from odoo.tools import config, mute_logger

from odoo.addons.endpoint_route_handler.registry import EndpointRegistry


@tagged("post_install", "-at_install")
class TestEndpoint(TransactionCase):
    """The shipped endpoint record: its user, its group, its prefix."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.endpoint = cls.env.ref("emboux_api.endpoint_emboux_api")
        cls.Endpoint = cls.env["fastapi.endpoint"]

    def _with_prefix(self, value):
        return patch.dict(os.environ, {"EMBOUX_API_PREFIX": value})

    def test_installed_and_synced(self):
        self.assertEqual(self.endpoint.app, "emboux")
        self.assertTrue(self.endpoint.registry_sync)
        self.assertFalse(self.endpoint.save_http_session)
        self.assertEqual(self.endpoint.root_path, self.Endpoint._emboux_root_path())
        keys = self.endpoint._registered_endpoint_rule_keys()
        rules = list(EndpointRegistry.registry_for(self.env.cr).get_rules(keys=keys))
        self.assertEqual(len(rules), 1)
        self.assertEqual(
            rules[0].routing["routes"],
            [f"{self.endpoint.root_path}/", f"{self.endpoint.root_path}/<path:application_path>"],
        )

    def test_technical_user(self):
        user = self.endpoint.user_id
        self.assertEqual(user, self.env.ref("emboux_api.user_emboux_api"))
        self.assertTrue(user.has_group("fastapi.group_fastapi_endpoint_runner"))
        self.assertTrue(user.has_group("emboux_core.group_emboux_manager"))
        self.assertFalse(user.has_group("base.group_system"))
        # it can do the API's work, not more
        env = self.env(user=user)
        self.assertTrue(env["emboux.domain"].has_access("create"))
        self.assertTrue(env["emboux.mailbox"].has_access("unlink"))
        self.assertFalse(env["res.users"].has_access("write"))

    def test_root_path_from_config(self):
        cases = {
            "/api": "/api",
            "mail-api": "/mail-api",
            "/mail/v1/": "/mail/v1",
            "//x//y//": "/x/y",
            "/": "/api",
            "": "/api",
        }
        for value, expected in cases.items():
            with self.subTest(value=value), self._with_prefix(value):
                self.assertEqual(self.Endpoint._emboux_root_path(), expected)
        with (
            self._with_prefix(""),
            patch.dict(config._runtime_options, {"emboux_api_prefix": "/from-conf"}),
        ):
            self.assertEqual(self.Endpoint._emboux_root_path(), "/from-conf")

    def test_follows_a_new_prefix_at_registry_load(self):
        with self._with_prefix("/emboux/rest"):
            self.Endpoint._register_hook()
        self.assertEqual(self.endpoint.root_path, "/emboux/rest")
        self.assertEqual(self.endpoint.openapi_url, "/emboux/rest/openapi.json")
        # the write unsynced it, the hook synced it again (registered on commit)
        self.assertTrue(self.endpoint.registry_sync)
        with self._with_prefix(""):
            self.Endpoint._register_hook()
        self.assertEqual(self.endpoint.root_path, "/api")
        self.assertTrue(self.endpoint.registry_sync)

    def test_resyncs_an_unsynced_endpoint(self):
        self.endpoint.registry_sync = False
        self.Endpoint._register_hook()
        self.assertTrue(self.endpoint.registry_sync)

    def test_prefix_taken_by_another_endpoint(self):
        other = self.Endpoint.create(
            {
                "name": "Other",
                "app": "emboux",
                "root_path": "/taken",
                "user_id": self.endpoint.user_id.id,
            }
        )
        before = self.endpoint.root_path
        with (
            self._with_prefix("/taken"),
            mute_logger("odoo.addons.emboux_api.models.fastapi_endpoint"),
        ):
            self.Endpoint._emboux_sync_endpoint()
        self.assertEqual(self.endpoint.root_path, before)
        self.assertEqual(other.root_path, "/taken")

    def test_register_hook_never_breaks_loading(self):
        with (
            self._with_prefix("/web"),
            mute_logger("odoo.addons.emboux_api.models.fastapi_endpoint"),
        ):
            # '/web' is blacklisted by the fastapi addon: logged, not raised
            self.Endpoint._register_hook()
        self.assertNotEqual(self.endpoint.root_path, "/web")
