"""Odoo's connection pool resets a connection each time it lends it
(``ConnectionPool.borrow`` calls psycopg2's ``connection.reset()``), and
psycopg2 resets with ``DISCARD ALL``, which also throws away every cached
plan, the plans PL/pgSQL keeps of its functions' statements included. So
every request planned the send decision's statements again: 1.7 ms of
PostgreSQL time for a decision that runs in 0.25 ms on a connection that
keeps its plans (``pgbench``, and ``make bench``'s REST increment).

:func:`reset_session` does what ``DISCARD ALL`` does except ``DISCARD
PLANS``: the session a request gets is the same (no open cursor, default
role and settings, no prepared statement, listen, advisory lock, temporary
table or sequence state), only the plans stay. A cached plan is not
session state: PostgreSQL invalidates it itself when a table, a function
or ``search_path`` it depends on changes. Installed for the whole server
process when the addon is loaded.
"""

import psycopg2

from odoo import sql_db

# DISCARD ALL, as PostgreSQL documents it, without DISCARD PLANS
RESET_SESSION = (
    "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL;"
    " UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES"
)


def reset_session(connection):
    """``connection.reset()`` keeping the cached plans: roll back, then
    reset the session in one round trip outside any transaction."""
    if connection.closed:
        raise psycopg2.InterfaceError("connection already closed")
    connection.rollback()
    autocommit = connection.autocommit
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(RESET_SESSION)
    finally:
        # a connection lost meanwhile keeps its OperationalError, on which
        # the pool drops it and opens another
        if not connection.closed:
            connection.autocommit = autocommit


sql_db.PsycoConnection.reset = reset_session
