from typing import Annotated

from fastapi import Depends

from odoo.api import Environment
from odoo.modules.module import get_manifest

from odoo.addons.fastapi.dependencies import odoo_env

from ..routing import EmbouxRouter
from ..schemas import HealthOut

router = EmbouxRouter(tags=["health"])


@router.get("/health", summary="Health check (public)")
def health(env: Annotated[Environment, Depends(odoo_env)]) -> HealthOut:
    """`{"status": "ok", "database": "ok", "version"}`, no token needed.
    `version` is the version of the emboux_api addon."""
    env.cr.execute("SELECT 1")
    database = "ok" if env.cr.fetchone() == (1,) else "error"
    return HealthOut(
        status="ok" if database == "ok" else "error",
        database=database,
        version=get_manifest("emboux_api")["version"],
    )
