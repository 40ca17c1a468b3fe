"""Reading the staff audit trail (the chatter) in tests; shared with
emboux_outbound's and emboux_api's tests."""

from collections import namedtuple

from odoo.tools import html2plaintext

Entry = namedtuple("Entry", "message author text changes")


def tracked_changes(message):
    """``{field name: (old, new)}`` of a tracking message, as the chatter
    shows them (selection labels, many2one names, numbers)."""
    changes = {}
    for tracking in message.sudo().tracking_value_ids:
        ftype = tracking.field_id.ttype
        changes[tracking.field_id.name] = (
            tracking._format_display_value(ftype, new=False)[0],
            tracking._format_display_value(ftype, new=True)[0],
        )
    return changes


def flush_trail(env):
    """Write the pending tracking messages, as a commit would (a test's
    setUpClass: its changes are not mixed with the first test's)."""
    env.flush_all()
    env.cr.flush()  # the precommit hooks: tracking messages are written there


def audit_trail(record):
    """The audit trail of ``record``, newest first: a list of :data:`Entry`
    (``author`` a partner, ``text`` the body as plain text, ``changes`` as
    :func:`tracked_changes`). Runs the pending tracking first, as a commit
    would."""
    env = record.env
    flush_trail(env)
    messages = (
        env["mail.message"]
        .sudo()
        .search([("model", "=", record._name), ("res_id", "=", record.id)], order="id desc")
    )
    return [
        Entry(
            message, message.author_id, html2plaintext(message.body or ""), tracked_changes(message)
        )
        for message in messages
    ]


def trail_size(env, model):
    """How many messages the records of ``model`` have in all (pending
    tracking run first)."""
    flush_trail(env)
    return env["mail.message"].sudo().search_count([("model", "=", model)])
