"""psflow.store.urls.mask_password: no secret survives, in any form a database can be named in."""

from __future__ import annotations

import pytest

from psflow.store.urls import mask_password

SECRET = "s3cr;et@x"


@pytest.mark.parametrize(
    ("given", "masked"),
    [
        ("postgresql://ops:s3cret@db01:5432/psflow", "postgresql://ops:***@db01:5432/psflow"),
        ("mssql://ops:p%40ss@db01/psflow?encrypt=yes", "mssql://ops:***@db01/psflow?encrypt=yes"),
        (
            "postgresql://ops@db01/psflow?password=s3cret&sslmode=require",
            "postgresql://ops@db01/psflow?password=***&sslmode=require",
        ),
        ("postgresql://db01/psflow?sslmode=require&PWD=s3cret", "postgresql://db01/psflow?sslmode=require&PWD=***"),
        ("postgresql://db01/psflow?sslpassword=s3cret", "postgresql://db01/psflow?sslpassword=***"),
        (
            "Host=pg01;Database=psflow;Username=ops;Password=s3cret;SSL Mode=Require",
            "Host=pg01;Database=psflow;Username=ops;Password=***;SSL Mode=Require",
        ),
        ("Server=db01;Database=psflow;UID=ops;PWD=s3cret", "Server=db01;Database=psflow;UID=ops;PWD=***"),
        (
            "Server=db01;User Id=ops;Password='s3;cr''et';Encrypt=True",
            "Server=db01;User Id=ops;Password='***';Encrypt=True",
        ),
        ('Server=db01;Password="s3;cret";Database=psflow', 'Server=db01;Password="***";Database=psflow'),
        (
            "Driver={ODBC Driver 18 for SQL Server};Server=db01;Uid=ops;Pwd={s3;cr}}et};Database=psflow",
            "Driver={ODBC Driver 18 for SQL Server};Server=db01;Uid=ops;Pwd={***};Database=psflow",
        ),
        ("Server=db01;Password = s3cret ;Database=psflow", "Server=db01;Password = ***;Database=psflow"),
        ("Data Source=./bin/SQLDb.sqlite;Version=3;", "Data Source=./bin/SQLDb.sqlite;Version=3;"),
        ("sqlite:////srv/psflow.sqlite?synchronous=normal", "sqlite:////srv/psflow.sqlite?synchronous=normal"),
        ("/srv/a=b.sqlite", "/srv/a=b.sqlite"),
        ("postgresql://db01/psflow?application_name=a@b", "postgresql://db01/psflow?application_name=a@b"),
    ],
)
def test_every_form_is_masked(given, masked):
    assert mask_password(given) == masked


@pytest.mark.parametrize(
    "given",
    [
        f"Server=db01;Database=psflow;User Id=ops;Password={SECRET}",  # unquoted ';' (not a valid string)
        f"Server=db01;Password='{SECRET}",  # unclosed quote
        f"Server=db01;Pwd={{{SECRET}",  # unclosed brace
        f"postgresql://ops:{SECRET}@db01/psflow",  # unencoded '@' and ';'
        "postgresql://ops:s3cret@db01/psflow?application_name=a@b",  # an '@' in a query value
    ],
)
def test_text_that_does_not_parse_still_hides_the_secret(given):
    masked = mask_password(given)
    assert "s3cr" not in masked and "et@x" not in masked
