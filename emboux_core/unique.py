"""The one way the suite keeps a key unique (a domain name, a mailbox
address, an alias pair, a tenant's reference and customer, a suppressed
address, a tier code).

A create or write that sets the key is checked twice. First a search, so
that a key given twice or already held by another record (archived ones
included, whoever may read them) is refused with a clear
:class:`~odoo.addons.emboux_core.exceptions.EmbouxConflictError` (the API's
409). Then the database's UNIQUE constraint, which alone decides between
concurrent transactions: the write runs in a savepoint, flushed before it
is released, and a violation raises the same error, leaving the
transaction usable::

    with unique_key(self, "name", names, self._name_taken):
        return super().create(vals_list)

``conflict(keys)`` makes the error of the keys refused (a list: the one
found taken, or every key written when the constraint fired).
"""

from contextlib import contextmanager

import psycopg2

from odoo.fields import Domain


def check_unique(records, fnames, keys, conflict):
    """Raise ``conflict([key])`` for the first of ``keys`` given twice or
    held by a record other than ``records`` (the records written; empty on
    create). ``fnames`` is the field name of the key, or a tuple of names
    whose values each key holds in that order."""
    keys = list(keys)
    seen = set()
    for key in keys:
        if key in seen:
            raise conflict([key])
        seen.add(key)
    if not keys:
        return
    if isinstance(fnames, str):
        domain = Domain(fnames, "in", keys)
    else:
        domain = Domain.OR(
            Domain.AND(Domain(fname, "=", value) for fname, value in zip(fnames, key, strict=True))
            for key in keys
        )
    holder = (
        records.sudo()
        .with_context(active_test=False)
        .search(domain & Domain("id", "not in", records.ids), limit=1)
    )
    if holder:
        if isinstance(fnames, str):
            raise conflict([holder[fnames]])
        raise conflict([tuple(holder[fname] for fname in fnames)])


@contextmanager
def unique_key(records, fnames, keys, conflict):
    """:func:`check_unique`, then the block (the create or write of
    ``records``) in a savepoint flushed before release: a violation of a
    UNIQUE constraint in it raises ``conflict(keys)``."""
    keys = list(keys)
    check_unique(records, fnames, keys, conflict)
    try:
        with records.env.cr.savepoint():
            yield
    except psycopg2.errors.UniqueViolation as exc:
        raise conflict(keys) from exc
