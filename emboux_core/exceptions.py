"""Exceptions of the Emboux suite.

Both name the field at fault so that every front door (forms, portal, REST
API) can tell the caller which input to fix: the REST API answers 422 for
:class:`EmbouxInputError` and 409 for :class:`EmbouxConflictError`.
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
