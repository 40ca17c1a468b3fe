"""The configuration `make run` serves with (odoo.conf.example) keeps the
doors the live tests close on their own command line: no database manager
over HTTP, and no database listing per request."""

import configparser
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "odoo.conf.example"


def options():
    parser = configparser.ConfigParser(comment_prefixes=(";", "#"), inline_comment_prefixes=None)
    parser.read(EXAMPLE)
    return parser["options"]


def test_no_database_manager():
    assert options().getboolean("list_db") is False


def test_one_database_without_a_listing_filter():
    conf = options()
    assert conf.get("db_name") == "emboux"
    # Odoo lists the databases on every request without a session when a
    # dbfilter is set; db_name alone serves that one database
    assert not conf.get("dbfilter")
