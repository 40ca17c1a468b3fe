"""The live tests' installs, once per session.

A test module that installs the suite (tests/live_odoo.py) names what it
installs in ``LIVE_TEMPLATES`` (a tuple of addon lists). Before the first
test, each of them is installed into a template database
(``<EMBOUX_LIVE_DB_PREFIX>_tpl<n>_<pid>``), all at once, in the background;
the tests start when every install is over (none competes with a test for
the CPU). A module's install is then a copy of its template
(``createdb -T``, a few seconds) instead of an install of its own (a minute
or more). The templates are dropped at the end of the session.

``EMBOUX_LIVE_TEMPLATES_DIR``: the folder of the templates, where
``python tests/live_odoo.py prebuild`` may have started them already
(scripts/test.sh does, before the lint); a temporary folder by default.
"""

import os

import live_odoo
import pytest


@pytest.fixture(scope="session", autouse=True)
def live_templates(request, tmp_path_factory):
    wanted = []
    for item in request.session.items:
        for addons in getattr(getattr(item, "module", None), "LIVE_TEMPLATES", ()):
            if tuple(addons) not in wanted:
                wanted.append(tuple(addons))
    if not wanted or not live_odoo.PYTHON.exists():
        yield None
        return
    templates = live_odoo.Templates(
        os.environ.get("EMBOUX_LIVE_TEMPLATES_DIR") or tmp_path_factory.mktemp("emboux-templates"),
        prefix=os.environ.get("EMBOUX_LIVE_DB_PREFIX", "emboux_live"),
    )
    live_odoo.TEMPLATES = templates
    try:
        for addons in wanted:
            templates.prepare(addons)
        templates.wait()
        yield templates
    finally:
        live_odoo.TEMPLATES = None
        templates.drop()
