"""The suppression list, master only: the thin REST layer
over ``emboux.suppression``."""

from typing import Annotated

from fastapi import HTTPException, Path, Response, status

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from ..dependencies import CallerEnv, Paging, master_only
from ..routing import EmbouxRouter
from ..schemas import ErrorOut, SuppressionCheckOut, SuppressionOut

router = EmbouxRouter(tags=["suppression"])

Email = Annotated[str, Path(description="The address, any case")]


@router.get("/suppression", **master_only())
def list_suppressed(env: CallerEnv, page: Paging) -> list[SuppressionOut]:
    """The suppressed addresses, ordered by address."""
    entries = env["emboux.suppression"].search(
        [], limit=page.limit, offset=page.offset, order="email, id"
    )
    return [SuppressionOut.from_record(entry) for entry in entries]


@router.get("/suppression/check/{email}", **master_only())
def check_suppressed(env: CallerEnv, email: Email) -> SuppressionCheckOut:
    """Is this address suppressed, and why? 422 naming `email` for an
    invalid address."""
    return SuppressionCheckOut(**env["emboux.suppression"].check(email))


@router.delete(
    "/suppression/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    **master_only(responses={404: {"model": ErrorOut, "description": "Not suppressed"}}),
)
def unsuppress(env: CallerEnv, email: Email) -> Response:
    """Take the address off the list: mail to it goes out again."""
    try:
        removed = env["emboux.suppression"].unsuppress(email)
    except EmbouxInputError:  # no valid address is on the list
        removed = False
    if not removed:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not suppressed")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
