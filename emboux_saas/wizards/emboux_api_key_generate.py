from odoo import fields, models


class EmbouxApiKeyGenerate(models.TransientModel):
    """Staff's "Generate key". The token is shown once, by a second step
    opened as a new, never saved record: it reaches the browser through the
    action's context and is stored nowhere (the key keeps only its hash)."""

    _name = "emboux.api.key.generate"
    _description = "Generate an Emboux API key"

    tenant_id = fields.Many2one("emboux.tenant", required=True, ondelete="cascade")
    name = fields.Char(required=True, default=lambda self: self.env._("API key"))
    expires_at = fields.Datetime(help="Empty: never expires.")
    key_id = fields.Many2one("emboux.api.key", readonly=True)
    token = fields.Char(readonly=True, store=False)
    state = fields.Selection([("new", "New"), ("done", "Done")], default="new")

    def action_generate(self):
        self.ensure_one()
        key, token = self.env["emboux.api.key"].generate(
            self.tenant_id, self.name, expires_at=self.expires_at or None
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("API key generated"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_tenant_id": key.tenant_id.id,
                "default_name": key.name,
                "default_expires_at": fields.Datetime.to_string(key.expires_at)
                if key.expires_at
                else False,
                "default_key_id": key.id,
                "default_token": token,
                "default_state": "done",
            },
        }
