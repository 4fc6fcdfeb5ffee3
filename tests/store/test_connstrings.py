"""Connection strings → psflow URLs: before/after pairs, then what is refused and how.

Every URL produced is also read back by the backend's own URL parser, so a pair here
cannot pass with a URL the backend would misread.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from psflow.errors import StoreError
from psflow.store.backends.mssql import parse_mssql_url
from psflow.store.connstrings import (
    ConnectionStringError,
    absolute_sqlite_url,
    detect,
    normalize_key,
    parse_pairs,
    to_url,
)

# ---- before → after ----------------------------------------------------------------

SQLITE = [
    ("Data Source=./bin/SQLDb.sqlite;", "sqlite:///./bin/SQLDb.sqlite"),
    ("Data Source=/var/lib/psflow/psflow.sqlite", "sqlite:////var/lib/psflow/psflow.sqlite"),
    ("data source = jobs.db ; Version=3;", "sqlite:///jobs.db"),
    ("DataSource=jobs.sqlite3;Pooling=True;Journal Mode=WAL", "sqlite:///jobs.sqlite3"),
    ("Filename=C:\\psflow\\jobs.sqlite", "sqlite:///C:\\psflow\\jobs.sqlite"),  # Microsoft.Data.Sqlite
    ("Data Source='./my jobs;v2.sqlite'", "sqlite:///./my jobs;v2.sqlite"),
    ("Data Source=jobs.sqlite;Synchronous=Normal", "sqlite:///jobs.sqlite?synchronous=normal"),
    ("Data Source=jobs.sqlite;Synchronous=Full", "sqlite:///jobs.sqlite"),
    ("Data Source=jobs.sqlite;Mode=ReadWriteCreate", "sqlite:///jobs.sqlite"),
    ("sqlite:///relative/jobs.sqlite", "sqlite:///relative/jobs.sqlite"),
    ("sqlite:////srv/jobs.sqlite?synchronous=normal", "sqlite:////srv/jobs.sqlite?synchronous=normal"),
]

MSSQL = [
    (
        "Server=db01,1433;Database=psflow;User Id=psflow;Password=s3cret;Encrypt=True",
        "mssql://psflow:s3cret@db01:1433/psflow?encrypt=yes",
    ),
    (
        "Data Source=db01;Initial Catalog=psflow;UID=sa;PWD=pw",
        "mssql://sa:pw@db01/psflow",
    ),
    (  # keys in any case and spacing; quoted values keep ';' and doubled quotes
        "SERVER=db01;DATABASE=psflow;USER ID=ops;PASSWORD='it''s;secret';encrypt=false",
        "mssql://ops:it%27s%3Bsecret@db01/psflow?encrypt=no",
    ),
    (
        'Server=db01;Database=psflow;User=ops;Password="say ""hi"";";',
        "mssql://ops:say%20%22hi%22%3B@db01/psflow",
    ),
    (  # the named instance and the tcp: prefix; an instance with a port needs no name
        "Server=tcp:db01\\SQLEXPRESS;Database=psflow;User Id=ops;Password=pw",
        "mssql://ops:pw@db01/psflow?instance=SQLEXPRESS",
    ),
    ("Server=tcp:db01\\SQLEXPRESS,1500;Database=psflow;User Id=ops;Password=pw", "mssql://ops:pw@db01:1500/psflow"),
    ("Server=.;Database=psflow;User Id=sa;Password=pw", "mssql://sa:pw@localhost/psflow"),
    ("Server=(local),1433;Database=psflow;User Id=sa;Password=pw", "mssql://sa:pw@localhost:1433/psflow"),
    ("Server=db01;Port=1533;Database=psflow;User Id=sa;Password=pw", "mssql://sa:pw@db01:1533/psflow"),
    (  # timeouts and the application name; pooling and MARS mean nothing to psflow
        (
            "Server=db01;Database=psflow;User Id=ops;Password=pw;Connect Timeout=5;Command Timeout=120;"
            "Application Name=nightly;MultipleActiveResultSets=True;Pooling=false;Max Pool Size=50"
        ),
        "mssql://ops:pw@db01/psflow?login_timeout=5&timeout=120&appname=nightly",
    ),
    ("Server=db01;Database=psflow;User Id=ops;Password=pw;Connect Timeout=0", "mssql://ops:pw@db01/psflow"),
    (  # integrated security said to be off is fine
        "Server=db01;Database=psflow;Integrated Security=False;User Id=ops;Password=pw",
        "mssql://ops:pw@db01/psflow",
    ),
    (  # an ODBC driver: pyodbc, which can trust a certificate without checking it
        (
            "Driver={ODBC Driver 18 for SQL Server};Server=db01,1433;Database=psflow;Uid=ops;Pwd={p}}w;d};"
            "Encrypt=yes;TrustServerCertificate=yes"
        ),
        (
            "mssql+pyodbc://ops:p%7Dw%3Bd@db01:1433/psflow?driver=ODBC%20Driver%2018%20for%20SQL%20Server"
            "&encrypt=yes&trust_server_certificate=yes"
        ),
    ),
    (
        "Driver={ODBC Driver 18 for SQL Server};Server=db01;Database=psflow;Uid=ops;Pwd=pw;Encrypt=Strict",
        "mssql+pyodbc://ops:pw@db01/psflow?driver=ODBC%20Driver%2018%20for%20SQL%20Server&encrypt=strict",
    ),
    (  # OLE DB
        "Provider=MSOLEDBSQL;Server=db01;Database=psflow;User Id=ops;Password=pw",
        "mssql://ops:pw@db01/psflow",
    ),
    (  # without encryption there is no certificate to trust
        "Server=db01;Database=psflow;User Id=ops;Password=pw;TrustServerCertificate=True",
        "mssql://ops:pw@db01/psflow",
    ),
    (
        "Server=db01;Database=psflow;User Id=DOMAIN\\svc;Password=p@ss:w/rd",
        "mssql://DOMAIN%5Csvc:p%40ss%3Aw%2Frd@db01/psflow",
    ),
    ("mssql://ops:pw@db01:1433/psflow?encrypt=yes", "mssql://ops:pw@db01:1433/psflow?encrypt=yes"),
    ("mssql+pyodbc://ops:pw@db01/psflow", "mssql+pyodbc://ops:pw@db01/psflow"),
]

POSTGRES = [
    ("postgresql://ops:pw@pg01:5432/psflow", "postgresql://ops:pw@pg01:5432/psflow"),
    ("postgres://ops@pg01/psflow", "postgres://ops@pg01/psflow"),
    (  # Npgsql
        "Host=pg01;Port=5432;Database=psflow;Username=ops;Password=p@ss;SSL Mode=Require;Pooling=true",
        "postgresql://ops:p%40ss@pg01:5432/psflow?sslmode=require",
    ),
    (
        "Host=pg01;Database=psflow;Username=ops;Password=pw;SslMode=VerifyFull;Timeout=5;Application Name=psflow-nightly",
        "postgresql://ops:pw@pg01/psflow?sslmode=verify-full&connect_timeout=5&application_name=psflow-nightly",
    ),
    ("Host=pg01;Database=psflow", "postgresql://pg01/psflow"),
    (  # ODBC
        "Driver={PostgreSQL Unicode};Server=pg01;Port=5433;Database=psflow;Uid=ops;Pwd=pw",
        "postgresql://ops:pw@pg01:5433/psflow",
    ),
]


@pytest.mark.parametrize(("text", "url"), SQLITE + MSSQL + POSTGRES)
def test_connection_string_becomes_url(text, url):
    assert to_url(text).url == url


@pytest.mark.parametrize(("text", "url"), SQLITE, ids=[text for text, _ in SQLITE])
def test_sqlite_option_takes_the_same_strings(text, url):
    assert to_url(text, "sqlite").url == url


@pytest.mark.parametrize(("text", "url"), MSSQL)
def test_mssql_urls_read_back_to_the_same_login(text, url):
    """The password, user and database the string gave are what python-tds/pyodbc receive."""
    target = parse_mssql_url(to_url(text, "mssql").url)
    pairs = {normalize_key(key): value for key, value in parse_pairs(text)} if "://" not in text else {}
    if pairs:
        assert target.password == pairs.get("password", pairs.get("pwd"))
        assert target.user == pairs.get("userid", pairs.get("uid", pairs.get("user")))
        assert target.database == pairs.get("database", pairs.get("initialcatalog"))


@pytest.mark.parametrize(("text", "url"), POSTGRES)
def test_postgres_urls_read_back_to_the_same_login(text, url):
    from playhouse.db_url import parse

    params = parse(to_url(text, "postgres").url, unquote_password=True, unquote_user=True)
    assert params["database"] == "psflow"
    if "Password=p@ss" in text:
        assert params["password"] == "p@ss"


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("jobs.sqlite", "sqlite:///jobs.sqlite"),
        ("/srv/psflow/jobs.sqlite", "sqlite:////srv/psflow/jobs.sqlite"),
        ("./a=b.sqlite", "sqlite:///./a=b.sqlite"),  # a path, even with '=': --sqlite said so
        ("~/jobs.sqlite", "sqlite:///~/jobs.sqlite"),
    ],
)
def test_sqlite_option_takes_a_bare_path(path, url):
    assert to_url(path, "sqlite") == to_url(path, "sqlite")  # pure
    assert to_url(path, "sqlite").url == url


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("sqlite:///./bin/SQLDb.sqlite", "sqlite:////work/bin/SQLDb.sqlite"),
        ("sqlite:///jobs.sqlite?synchronous=normal", "sqlite:////work/jobs.sqlite?synchronous=normal"),
        ("sqlite:////srv/jobs.sqlite", "sqlite:////srv/jobs.sqlite"),
        ("sqlite:///../up/jobs.sqlite", "sqlite:////up/jobs.sqlite"),
        ("postgresql://ops:pw@pg01/psflow", "postgresql://ops:pw@pg01/psflow"),
        ("mssql://ops:pw@db01/psflow", "mssql://ops:pw@db01/psflow"),
    ],
)
def test_relative_sqlite_paths_are_made_absolute(url, absolute):
    assert absolute_sqlite_url(url, "/work") == absolute


def test_home_folder_is_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ops")
    assert absolute_sqlite_url("sqlite:///~/jobs.sqlite", "/work") == "sqlite:////home/ops/jobs.sqlite"


# ---- reading KEY=VALUE -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("a=1;b=2", [("a", "1"), ("b", "2")]),
        ("  a = 1 ;; b=2 ;", [("a", "1"), ("b", "2")]),
        ("a='x;y'", [("a", "x;y")]),
        ("a='it''s'", [("a", "it's")]),
        ('a="say ""hi"""', [("a", 'say "hi"')]),
        ("a={x;}}y}", [("a", "x;}y")]),
        ("a='x' ; b=2", [("a", "x"), ("b", "2")]),
        ("a=", [("a", "")]),
        ("a=x=y", [("a", "x=y")]),  # only the first '=' separates
        ("a=it's", [("a", "it's")]),  # a quote inside an unquoted value is just a character
        ("User Id=u", [("User Id", "u")]),
    ],
)
def test_pairs(text, pairs):
    assert parse_pairs(text) == pairs


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("User Id", "userid"),
        ("UserID", "userid"),
        ("Trusted_Connection", "trustedconnection"),
        ("DATA  SOURCE", "datasource"),
    ],
)
def test_keys_are_compared_without_case_spaces_or_underscores(key, normal):
    assert normalize_key(key) == normal


@pytest.mark.parametrize(
    ("text", "backend"),
    [
        ("Data Source=./x.sqlite", "sqlite"),
        ("Data Source=jobs;Version=3", "sqlite"),
        ("Data Source=db01;Initial Catalog=psflow", "mssql"),
        ("Server=db01;Database=psflow", "mssql"),
        ("Host=pg01;Database=psflow", "postgres"),
        ("Driver={ODBC Driver 17 for SQL Server};Server=x", "mssql"),
        ("Provider=SQLNCLI11;Data Source=x", "mssql"),
        ("Data Source=db01", None),  # a server or a file? psflow does not guess
    ],
)
def test_detect(text, backend):
    assert detect(parse_pairs(text)) == backend


# ---- refused, with what to do -----------------------------------------------------------

REFUSED = [
    # unparsable
    ("", None, "empty connection string"),
    ("   ", None, "empty connection string"),
    (";;", None, "empty connection string"),
    ("just some words", None, "not a connection string or URL"),
    ("C:\\data\\jobs.sqlite", None, "for a SQLite file use --sqlite PATH"),
    ("Server=db01;Database=psflow;User Id=u;Password=ab;cd", None, "part 5 (after Password=…) is not KEY=VALUE"),
    ("Server=db01;=x", None, "part 2 has no key"),
    ("Server=db01;Password='abc", None, "the value of Password has no closing '"),
    ("Server=db01;Password={abc", None, "the value of Password has no closing }"),
    ("Server=db01;Password='abc'def;Database=x", None, "text after the quoted value of Password"),
    # unknown provider
    ("mysql://u:p@h/db", None, "mysql:// databases are not supported"),
    ("oracle://u:p@h/db", None, "oracle:// databases are not supported"),
    (
        "Provider=Microsoft.ACE.OLEDB.12.0;Data Source=C:\\x.accdb",
        None,
        "Provider=Microsoft.ACE.OLEDB.12.0, which psflow does not support",
    ),
    ("Driver={MySQL ODBC 8.0 Unicode Driver};Server=h;Database=d", None, "which psflow does not support"),
    ("Data Source=db01", None, "cannot tell which database"),
    ("Color=blue;Size=large", None, "cannot tell which database"),
    # SQL Server specifics
    (
        "Server=db01;Database=psflow;Integrated Security=SSPI",
        None,
        "integrated (Windows) authentication is not supported",
    ),
    (
        "Server=db01;Database=psflow;Trusted_Connection=yes",
        None,
        "integrated (Windows) authentication is not supported",
    ),
    ("Server=db01;Database=psflow;Trusted_Connection=True;User Id=u", None, "integrated (Windows) authentication"),
    (
        "Server=db01;Database=psflow;Authentication=ActiveDirectoryPassword;User Id=u",
        None,
        "Authentication=ActiveDirectoryPassword is not supported",
    ),
    ("Server=db01;Database=psflow", None, "names no login"),
    ("Server=db01;User Id=u;Password=p", None, "names no database"),
    ("Database=psflow;User Id=u;Password=p", "mssql", "names no server"),
    ("Server=db01,http;Database=psflow;User Id=u;Password=p", None, "bad port 'http'"),
    ("Server=db01,70000;Database=psflow;User Id=u;Password=p", None, "bad port '70000'"),
    ("Server=db01,1433;Port=1533;Database=psflow;User Id=u;Password=p", None, "two ports given"),
    ("Server=np:\\\\db01\\pipe\\sql\\query;Database=psflow;User Id=u;Password=p", None, "over TCP only"),
    ("Server=(localdb)\\MSSQLLocalDB;Database=psflow;User Id=u;Password=p", None, "LocalDB is not reachable"),
    (
        "Server=db01;Database=psflow;User Id=u;Pasword=p",
        None,
        "unknown key 'Pasword' in a SQL Server connection string",
    ),
    ("Server=db01;Database=psflow;User Id=u;Password=p;AttachDbFilename=x.mdf", None, "unknown key 'AttachDbFilename'"),
    ("Server=db01;Database=psflow;User Id=u;Password=p;Encrypt=sometimes", None, "Encrypt must be True, False"),
    (
        "Server=db01;Database=psflow;User Id=u;Password=p;Encrypt=Strict",
        None,
        "Encrypt=Strict (TDS 8) needs the ODBC driver",
    ),
    (
        "Server=db01;Database=psflow;User Id=u;Password=p;Encrypt=True;TrustServerCertificate=True",
        None,
        "python-tds always checks the server's certificate",
    ),
    (
        "Server=db01;Database=psflow;User Id=u;Password=p;Connect Timeout=soon",
        None,
        "Connect Timeout must be a number of seconds",
    ),
    # SQLite specifics
    ("Data Source=:memory:", None, "not a file psflow can keep jobs in"),
    ("Data Source=:memory:", "sqlite", "not a file psflow can keep jobs in"),
    ("Data Source=|DataDirectory|\\jobs.sqlite;Version=3", None, "not a file psflow can keep jobs in"),
    ("Data Source=x.sqlite;Password=p", "sqlite", "encrypted SQLite files"),
    ("Data Source=x.sqlite;Mode=ReadOnly", None, "Mode=ReadOnly is not supported"),
    ("Data Source=x.sqlite;Read Only=True", None, "Read Only=True is not supported"),
    ("Data Source=x.sqlite;Synchronous=Off", None, "Synchronous=Off is not supported"),
    ("Data Source=x.sqlite;Colour=blue", "sqlite", "unknown key 'Colour' in a SQLite connection string"),
    ("Version=3", "sqlite", "names no file"),
    # PostgreSQL specifics
    ("Host=pg01", None, "names no database"),
    ("Host=pg01,pg02;Database=psflow", None, "needs one Host=NAME"),
    ("Host=pg01;Database=psflow;Port=big", None, "bad port 'big'"),
    ("Host=pg01;Database=psflow;SSL Mode=Maybe", None, "SSL Mode must be one of"),
    ("Host=pg01;Database=psflow;Search Path=x", None, "unknown key 'Search Path'"),
    # the option and the string disagree
    ("Server=db01;Database=psflow;User Id=u;Password=p", "sqlite", "--sqlite was given a SQL Server connection string"),
    (
        "Server=db01;Database=psflow;User Id=u;Password=p",
        "postgres",
        "--postgres was given a SQL Server connection string",
    ),
    ("Data Source=./x.sqlite", "mssql", "--mssql was given a SQLite connection string"),
    ("postgresql://u:p@h/db", "mssql", "--mssql was given a PostgreSQL URL: use --postgres or --connection-string"),
    ("sqlite:///x.sqlite", "postgres", "--postgres was given a SQLite URL"),
    ("pg01", "postgres", "not a connection string or URL"),
]


@pytest.mark.parametrize(("text", "backend", "message"), REFUSED)
def test_refused_with_a_message_that_never_repeats_a_value(text, backend, message):
    with pytest.raises(ConnectionStringError, match=re.escape(message)) as caught:
        to_url(text, backend)
    assert isinstance(caught.value, StoreError)  # the CLI's exit 2
    said = str(caught.value)
    for secret in ("ab;cd", "=cd", "'abc"):
        assert secret not in said
    assert "\n" not in said


def test_ignored_keys_are_reported_as_written():
    connection = to_url(
        "Server=db01;Database=psflow;User Id=u;Password=p;MultipleActiveResultSets=True;Persist Security Info=False"
    )
    assert connection.ignored == ("MultipleActiveResultSets", "Persist Security Info")
    assert to_url("Data Source=x.sqlite;Version=3;Pooling=True").ignored == ("Version", "Pooling")


def test_last_of_a_repeated_key_wins_as_in_adonet():
    assert to_url("Server=a;Server=b;Database=d;User Id=u;Password=p").url == "mssql://u:p@b/d"
    assert to_url("Server=a;Database=d;UID=first;User Id=second;Password=p").url == "mssql://second:p@a/d"


def test_urls_are_not_rewritten():
    """A URL is the psflow form already: options and all pass through to the backend's own parser."""
    url = "mssql://u:p%3Bx@db01:1433/psflow?encrypt=yes&cafile=/etc/ca.pem"
    assert to_url(url) == to_url(url, "mssql")
    assert to_url(url).url == url and to_url(url).backend == "mssql"
    query = dict(parse_qsl(urlsplit(url).query))
    assert query == {"encrypt": "yes", "cafile": "/etc/ca.pem"}


def test_backend_name_is_checked():
    with pytest.raises(ValueError):
        to_url("Data Source=x.sqlite", "oracle")
