"""The staff form's buttons: the shared methods (``action_provider_*``,
``action_outbound_*``, also used by the REST API and the portal) plus a
notification saying what happened, and a reload of the form."""

from odoo import models


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    def _button_notification(self, title, message, kind="success"):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _provider_notification(self, title):
        self.ensure_one()
        status = self._provider_status()
        if status["provider_error"]:
            return self._button_notification(
                title,
                self.env._("The provider failed: %(error)s", error=status["provider_error"]),
                kind="warning",
            )
        labels = dict(self._fields["verification_status"]._description_selection(self.env))
        providers = dict(self._fields["provider"]._description_selection(self.env))
        return self._button_notification(
            title,
            self.env._(
                "%(provider)s: verification %(status)s, DKIM %(dkim)s.",
                provider=providers.get(status["provider"], "-"),
                status=labels.get(status["status"], status["status"]),
                dkim=labels.get(status["dkim_status"], status["dkim_status"]),
            ),
        )

    def button_provider_verify(self):
        self.ensure_one()
        self.action_provider_verify()
        return self._provider_notification(self.env._("Verification started"))

    def button_provider_refresh(self):
        self.ensure_one()
        self.action_provider_refresh()
        return self._provider_notification(self.env._("Status refreshed"))

    def button_provider_register_subdomain(self):
        self.ensure_one()
        self.action_provider_register_subdomain()
        return self._provider_notification(self.env._("Registered with the parent's identity"))

    def button_outbound_pause(self):
        self.action_outbound_pause()
        return self._button_notification(
            self.env._("Sending paused"),
            self.env._(
                "%(names)s sends nothing until a manager resumes it.",
                names=", ".join(self.mapped("name")),
            ),
            kind="warning",
        )

    def button_outbound_resume(self):
        self.action_outbound_resume()
        return self._button_notification(
            self.env._("Sending resumed"),
            self.env._("%(names)s may send again.", names=", ".join(self.mapped("name"))),
        )
