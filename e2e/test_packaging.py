"""The addons install like OCA addons into an Odoo that already runs.

A new virtualenv holds only Odoo 19 (the source `make setup` unpacked, or
``ODOO_PYTHONPATH``, on a ``.pth`` line) and Odoo's own runtime pinned in
``requirements-odoo.txt``. One ``pip install`` of the four addon folders
(each a ``pyproject.toml`` built by whool from its manifest) must then:

- change no package that was there (only add),
- give an Odoo that finds the addons in the virtualenv's ``odoo/addons``
  (no ``--addons-path`` to this repository) and installs ``emboux_api``
  with the rest.

Slow (a virtualenv, four wheel builds, an install of the suite): part of
``make e2e``, not ``make test``. whool packages the files git tracks: the
addons are installed from a clone of this repository's HEAD, so this tests
what is committed.
"""

import json
import os
from pathlib import Path
import subprocess
import sys

import psycopg2
import pytest

TOP = Path(__file__).resolve().parents[1]
ADDONS = ["emboux_core", "emboux_saas", "emboux_outbound", "emboux_api"]
ODOO_SOURCE = Path(
    os.environ.get("ODOO_PYTHONPATH")
    or TOP / ".setup" / "odoo-root" / "usr" / "lib" / "python3" / "dist-packages"
)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def installed(python):
    """{normalized name: version} of every package of the virtualenv."""
    out = run([python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"])
    return {
        package["name"].lower().replace("_", "-"): package["version"] for package in json.loads(out)
    }


@pytest.fixture(scope="module")
def odoo_venv(tmp_path_factory):
    """A virtualenv with Odoo 19 and its own runtime only."""
    if not (ODOO_SOURCE / "odoo" / "release.py").exists():
        pytest.fail(f"no Odoo 19 source in {ODOO_SOURCE}: run make setup")
    venv = tmp_path_factory.mktemp("odoo-venv")
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(site.strip(), "odoo.pth").write_text(f"{ODOO_SOURCE}\n")
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(TOP / "requirements-odoo.txt")], timeout=900)  # fmt: skip
    return venv


@pytest.fixture(scope="module")
def committed_addons(tmp_path_factory):
    clone = tmp_path_factory.mktemp("clone") / "emboux"
    run(["git", "clone", "--quiet", "--no-hardlinks", str(TOP), str(clone)])
    return clone


def test_one_pip_install_adds_the_suite_and_changes_nothing_of_odoo(odoo_venv, committed_addons):
    python = str(odoo_venv / "bin" / "python")
    before = installed(python)
    assert "odoo" in before, "pip does not see Odoo 19 in the virtualenv"
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *(str(committed_addons / addon) for addon in ADDONS)], timeout=900)  # fmt: skip
    after = installed(python)

    changed = {
        name: f"{version} -> {after.get(name)}"
        for name, version in before.items()
        if after.get(name) != version
    }
    assert not changed, f"installing the addons changed Odoo's runtime: {changed}"
    for addon in [*ADDONS, "fastapi", "endpoint-route-handler"]:
        assert f"odoo-addon-{addon.replace('_', '-')}" in after, f"{addon} was not installed"

    # Odoo finds the addons in the virtualenv (no addons path to this
    # repository) and installs the suite from there
    db = f"emboux_packaging_{os.getpid()}"
    data_dir = odoo_venv / "odoo-data"
    launcher = ["-c", "from odoo.cli.command import main; main()"]
    try:
        run([python, *launcher, "-d", db, "-i", "emboux_api", "--stop-after-init",
             "--workers=0", "--http-port=0", f"--data-dir={data_dir}",
             "--log-level=warn"], timeout=900, cwd=odoo_venv)  # fmt: skip
        with psycopg2.connect(dbname=db) as conn, conn.cursor() as cr:
            cr.execute(
                "SELECT name, state FROM ir_module_module WHERE name = ANY(%s)",
                [[*ADDONS, "fastapi"]],
            )
            states = dict(cr.fetchall())
        conn.close()
        assert states == dict.fromkeys([*ADDONS, "fastapi"], "installed"), states
        where = run([python, "-c", "import odoo.addons.emboux_api as m; print(m.__file__)"])
        assert where.startswith(str(odoo_venv)), f"emboux_api imported from {where}"
    finally:
        subprocess.run(["dropdb", "--if-exists", db], check=False, capture_output=True)
