"""Outbound sending control (the API contract's "Outbound" and "The send
decision"): the thin REST layer over ``emboux.domain.outbound_send_decision()``,
``set_outbound_settings()``, ``_outbound_info()``, ``_outbound_history()``
and the counter resets."""

from typing import Annotated

from fastapi import Body, Query

from odoo.addons.emboux_outbound.sending_config import HISTORY_KEEP_DAYS

from ..dependencies import (
    AuthenticatedCaller,
    CallerEnv,
    master_body_when_refused,
    master_only,
    master_or_owner,
)
from ..routing import EmbouxRouter, one_statement
from ..schemas import (
    ErrorOut,
    IncrementIn,
    IncrementOut,
    OutboundDayOut,
    OutboundIn,
    OutboundOut,
    ResetOut,
)
from .domains import Domain, DomainName, domain_not_found

router = EmbouxRouter(tags=["outbound"])
# the send decision alone, included first (ROUTERS): Starlette tries the
# routes in order, and matching the path against the hundred-odd routes
# before it took a tenth of the decision's time in the worker
decision_router = EmbouxRouter(tags=["outbound"])

_NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown domain, or another tenant's"}}


@router.get("/domains/{name}/outbound", **master_or_owner(responses=_NOT_FOUND))
def get_outbound(domain: Domain) -> OutboundOut:
    """The domain's sending limits, counters, warm-up and reputation."""
    return OutboundOut(**domain._outbound_info())


@router.put(
    "/domains/{name}/outbound",
    **master_or_owner(
        responses={
            **_NOT_FOUND,
            403: {
                "model": ErrorOut,
                "description": "Master token required: a customer changed a master-only field",
            },
        }
    ),
)
def set_outbound(domain: Domain, body: OutboundIn, caller: AuthenticatedCaller) -> OutboundOut:
    """Change the fields sent. A customer may set its own lower caps
    (`daily_limit`, `monthly_limit`); `outbound_tier`, `outbound_enforcement`,
    `outbound_status`, `warmup_profile` and `spike_max_multiplier` are the
    master's (403 `Master token required` when a customer changes one;
    sending the value they already have is fine). 422 naming the field for
    an unknown tier or a bad value. Setting `outbound_status` to `active`
    lifts a pause or a guillotine."""
    values = body.model_dump(include=body.model_fields_set)
    with master_body_when_refused(caller):
        domain.set_outbound_settings(values)
    return OutboundOut(**domain._outbound_info())


@router.get("/domains/{name}/outbound/history", **master_or_owner(responses=_NOT_FOUND))
def get_outbound_history(
    domain: Domain,
    days: Annotated[
        int,
        Query(ge=1, le=HISTORY_KEEP_DAYS, description="Days back, today included"),
    ] = 30,
) -> list[OutboundDayOut]:
    """The domain's messages sent, bounces and complaints per day (UTC),
    oldest first, today included: past days as the daily reset filed them
    (zeros for a day without any), today from the live counters. 422
    naming `days` outside 1-400."""
    return [OutboundDayOut(**day) for day in domain._outbound_history(days)]


@decision_router.post("/domains/{name}/outbound/increment", **master_only(responses=_NOT_FOUND))
@one_statement
async def increment(
    name: DomainName, env: CallerEnv, body: Annotated[IncrementIn | None, Body()] = None
) -> IncrementOut:
    """The send decision of the policy service: may the domain send
    `count` message(s) to `recipients` of `size_bytes` bytes? The counters
    move only when `allowed` is true, in the SQL statement that checks the
    limits, so parallel calls never exceed a limit nor lose a count.

    Refused whatever the enforcement: `suspended`, `unverified` (a
    subdomain is verified when its parent is), `paused`, `guillotined`,
    `suppressed` (every recipient is suppressed; suppressed ones are always
    listed in `suppressed_recipients`). Limits, in the order reported:
    `monthly_limit`, `daily_limit`, `warmup_cap`, `hourly_limit`, `spike`,
    `transfer_limit`: `hard` enforcement refuses, `soft` allows, counts and
    names the limit in `reason`, `off` allows and counts. Without a body:
    one message, no recipients, size 0."""
    # the domain is looked up here rather than by the Domain dependency, in
    # the decision's statement (the master's route: every domain is its):
    # no ORM search, one query less on the hot path. A coroutine, so that
    # FastAPI does not hand it to a worker thread: the decision is one
    # statement of a fraction of a millisecond, and each request has an
    # event loop of its own (the fastapi addon's pool of loops)
    body = body or IncrementIn()
    decision = env["emboux.send.decision"]._decide_by_name(
        name, count=body.count, recipients=body.recipients, size_bytes=body.size_bytes
    )
    if decision is None:
        raise domain_not_found()
    return IncrementOut(**decision)


@router.post("/outbound/reset-daily", **master_only())
def reset_daily(env: CallerEnv) -> ResetOut:
    """Close the day (also the daily `ir.cron`): each domain's `sent_today`
    and today's bounces and complaints go to its daily history (kept 400
    days; a second run on one day adds to the same day), then the day and
    the hour restart from 0. `domains_reset` counts the domains that had
    something to reset."""
    return ResetOut(domains_reset=env["emboux.outbound.counter"].reset_daily())


@router.post("/outbound/reset-monthly", **master_only())
def reset_monthly(env: CallerEnv) -> ResetOut:
    """Freeze the month (also the monthly `ir.cron`): each domain's
    `sent_this_month` and transfer go to its monthly history, then
    `sent_this_month` and `transfer_used_mb` restart from 0. `domains_reset`
    counts the domains that had something to reset."""
    return ResetOut(domains_reset=env["emboux.outbound.counter"].reset_monthly())
