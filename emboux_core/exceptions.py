"""Exceptions of the Emboux suite.

Each names the field at fault in ``field``; the message is a plain
sentence without that name, as staff read it on a form and customers on
the portal. Each front door adds the field where it maps the error: the
portal marks the form input, the REST API answers 422 for
:class:`EmbouxInputError` and 409 for :class:`EmbouxConflictError` with the
detail ``<field>: <message>``.
"""

from odoo.exceptions import UserError, ValidationError


class EmbouxInputError(ValidationError):
    """Bad input (API 422). ``field`` names the offending field."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


class EmbouxConflictError(UserError):
    """The object already exists (API 409). ``field`` names the field."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
