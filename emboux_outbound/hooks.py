from odoo.tools import SQL

from .models.emboux_domain import EFFECTIVE_OUTBOUND_VIEW
from .models.emboux_send_decision import FUNCTIONS


def post_init_hook(env):
    """Domains that existed before this addon get the default tier (the
    tier records are loaded after the column is created, so the column
    default could not find it), in one statement."""
    tier = env["emboux.outbound.tier"]._default_tier()
    if tier:
        env["emboux.domain"].flush_model(["outbound_tier_id"])
        env.execute_query(
            SQL(
                "UPDATE emboux_domain SET outbound_tier_id = %s WHERE outbound_tier_id IS NULL",
                tier.id,
            )
        )
        env["emboux.domain"].invalidate_model(["outbound_tier_id"])


def uninstall_hook(env):
    """Drop the send decision's functions and settings, the view, and let
    go of the tiers (ondelete=restrict) so that Odoo can delete the tier
    records before it drops the columns."""
    for signature in reversed(FUNCTIONS):
        env.cr.execute(SQL("DROP FUNCTION IF EXISTS %s", SQL(signature)))
    env.cr.execute(SQL("DROP TABLE IF EXISTS emboux_outbound_settings"))
    env.cr.execute(SQL("DROP VIEW IF EXISTS %s", SQL.identifier(EFFECTIVE_OUTBOUND_VIEW)))
    env.cr.execute(SQL("UPDATE emboux_domain SET outbound_tier_id = NULL"))
