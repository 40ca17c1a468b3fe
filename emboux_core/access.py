"""Who may call what: the checks at the top of public model methods.

Every public method of a model is reachable through Odoo's JSON-RPC
(``/web/dataset/call_kw``) by any logged-in user, portal customers
included. So a public method either does only what the caller's access
rights and record rules allow (the ORM checks them), or it starts with
one of these checks, the same as the REST API's dependency for that
operation:

- :func:`check_master`: what the API contract reserves to the master (role M). The
  REST API's master runs as a technical Emboux manager; in the backend it
  is an Emboux manager; internally, the superuser (crons, ``sudo()``).
- :func:`check_staff`: what any Emboux staff member may do in the backend
  and no customer may (e.g. ask Dovecot for a mailbox's storage used).
- ``records.check_access("write")``: what the master or the owning
  customer may do (role C); the record rules confine customers to their
  own tenant, and staff need the manager's write access.

Helpers that run ``sudo()`` or raw SQL are private (``_name``).
"""

from odoo.exceptions import AccessError

MASTER_GROUP = "emboux_core.group_emboux_manager"
STAFF_GROUP = "emboux_core.group_emboux_user"


def is_master(env):
    """True for the superuser and Emboux managers (the REST API's master
    runs as one)."""
    return env.su or env.user.has_group(MASTER_GROUP)


def check_master(env):
    """AccessError unless :func:`is_master`."""
    if not is_master(env):
        raise AccessError(env._("Only an Emboux manager can do this."))


def is_staff(env):
    """True for the superuser and Emboux users (managers included)."""
    return env.su or env.user.has_group(STAFF_GROUP)


def check_staff(env):
    """AccessError unless :func:`is_staff`."""
    if not is_staff(env):
        raise AccessError(env._("Only Emboux staff can do this."))
