"""Which SQL Server errors psflow tries again (psflow.store.retry), offline: the drivers' own
exception classes, as peewee hands them over. A live server's restart is not tested here."""

from __future__ import annotations

import peewee
import pytest

from psflow.store.retry import BUSY, DISCONNECTED

pytds = pytest.importorskip("pytds")


@pytest.fixture
def database():
    from psflow.store.backends.mssql import open_mssql

    return open_mssql("mssql://user:secret@sql01/psflow")  # not connected


def _as_peewee(error: Exception) -> peewee.DatabaseError:
    return peewee.OperationalError(error, *error.args)


def _numbered(number: int) -> Exception:
    error = pytds.tds_base.OperationalError(f"server error {number}")
    error.msg_no = number
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_numbered(1205), BUSY),  # chosen as deadlock victim
        (_numbered(1222), BUSY),  # lock request timed out
        (_numbered(40613), DISCONNECTED),  # Azure SQL: database not currently available
        (_numbered(4060), DISCONNECTED),
        (_numbered(10054), DISCONNECTED),  # connection reset by peer
        (pytds.tds_base.ClosedConnectionError(), DISCONNECTED),
        (_numbered(2627), None),  # a duplicate key is not trouble that passes
        (_numbered(9002), None),  # the transaction log is full
    ],
)
def test_sql_server_errors_that_pass(database, error: Exception, kind: str | None) -> None:
    assert database.trouble(_as_peewee(error)) == kind


@pytest.mark.parametrize(("state", "kind"), [("08S01", DISCONNECTED), ("40001", BUSY), ("42000", None)])
def test_odbc_states_that_pass(database, state: str, kind: str | None) -> None:
    error = Exception(state, f"[Microsoft][ODBC Driver 18 for SQL Server]message ({state})")

    assert database.trouble(_as_peewee(error)) == kind
