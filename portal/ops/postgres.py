"""Reaching PostgreSQL for backup and restore: the machine's client programs (pg_dump,
pg_restore, psql) and their versions, a database as they and psycopg reach it, and the
two runs: ``pg_dump`` of one snapshot, and ``pg_restore | psql`` in one transaction.

Passwords go to the programs through the environment (``PGPASSWORD``), never on a
command line, where other users of the machine could read them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import dj_database_url
import psycopg
from django.conf import settings
from django.db import connection

from portal.ops.archive import CHUNK, BackupProblem

# libpq parameters a Django database's OPTIONS may carry, and their environment variables.
_LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslpassword": "PGSSLPASSWORD",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
}

# What --force clears before the restore, in the restore's own transaction: every table,
# view and sequence outside PostgreSQL's own schemas (Django keeps all of its in public).
_CLEAR_SQL = r"""
DO $clear$
DECLARE
  r record;
BEGIN
  -- Tables and views first; then the sequences no column owned (those went with theirs).
  FOR r IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%'
  LOOP
    EXECUTE format(
      'DROP %s IF EXISTS %s CASCADE',
      CASE r.relkind
        WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE'
      END,
      r.name
    );
  END LOOP;
  FOR r IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%'
  LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %s CASCADE', r.name);
  END LOOP;
END
$clear$;
"""

_USER_RELATIONS_SQL = r"""
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'
"""


@dataclass(frozen=True, order=True)
class Version:
    """A PostgreSQL release, major and minor (15.20)."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def from_number(cls, number: int) -> Version:
        """From ``server_version_num`` (150020 is 15.20; PostgreSQL 10 and later)."""
        return cls(number // 10000, number % 10000)


def client_program(name: str) -> tuple[str, Version]:
    """The path and version of a PostgreSQL client program on PATH."""
    path = shutil.which(name)
    if path is None:
        raise BackupProblem(
            f"{name} is not installed (or not on PATH). Install the PostgreSQL client "
            f"programs (Debian: postgresql-client) of the server's major version or later."
        )
    result = subprocess.run(  # noqa: S603 (a program found on PATH, no shell)
        [path, "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"(\d+)(?:\.(\d+))?", result.stdout)
    if result.returncode != 0 or found is None:
        raise BackupProblem(f"{path} --version did not say its version: {result.stderr.strip()}")
    return path, Version(int(found[1]), int(found[2] or 0))


def check_pg_dump(*, server: Version, client: Version) -> None:
    """pg_dump refuses a server of a newer major version; say so before it does."""
    if client.major < server.major:
        raise BackupProblem(
            f"The PostgreSQL server is {server}, newer than this machine's pg_dump "
            f"({client}): pg_dump cannot dump a server newer than itself. Install the "
            f"client programs of PostgreSQL {server.major} (Debian: "
            f"postgresql-client-{server.major}) and run the backup again."
        )


def check_restore_clients(*, dumped_by: Version, pg_restore: Version, psql: Version) -> None:
    """pg_restore must read the dump's format and psql must understand pg_restore's
    script (its ``\\restrict`` lines came in minor releases), so: one installation."""
    if pg_restore.major < dumped_by.major:
        raise BackupProblem(
            f"The backup was dumped by pg_dump {dumped_by}; this machine's pg_restore is "
            f"{pg_restore} and cannot read it. Install the client programs of PostgreSQL "
            f"{dumped_by.major} or later."
        )
    if psql != pg_restore:
        raise BackupProblem(
            f"psql is {psql} but pg_restore is {pg_restore}: use the client programs of one "
            f"PostgreSQL installation (put its bin directory first on PATH)."
        )


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database as the client programs and psycopg reach it."""

    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings_dict: dict[str, Any]) -> Database:
        engine = str(settings_dict.get("ENGINE", ""))
        if "sqlite" in engine:
            raise BackupProblem(
                f"The database is the embedded SQLite file ({settings_dict.get('NAME')}); "
                f"backup and restore cover PostgreSQL. To back up the embedded setup, stop "
                f"the portal and copy that file and MEDIA_ROOT ({settings.MEDIA_ROOT})."
            )
        if "postgresql" not in engine:
            raise BackupProblem(f"Backup and restore cover PostgreSQL, not {engine}.")
        options = settings_dict.get("OPTIONS") or {}
        return cls(
            name=str(settings_dict["NAME"]),
            user=str(settings_dict.get("USER") or ""),
            password=str(settings_dict.get("PASSWORD") or ""),
            host=str(settings_dict.get("HOST") or ""),
            port=str(settings_dict.get("PORT") or ""),
            options={k: str(v) for k, v in options.items() if k in _LIBPQ_OPTIONS},
        )

    @classmethod
    def from_url(cls, url: str) -> Database:
        try:
            parsed = dj_database_url.parse(url)
        except ValueError as exc:
            raise BackupProblem(f"--database-url is not a database URL: {exc}") from None
        return cls.from_settings(dict(parsed))

    @classmethod
    def configured(cls) -> Database:
        return cls.from_settings(connection.settings_dict)

    @property
    def label(self) -> str:
        """Where it is, without the password."""
        where = f"{self.host or 'localhost'}:{self.port or 5432}"
        return f"database {self.name} on {where}"

    def libpq_env(self) -> dict[str, str]:
        """Environment for pg_dump, pg_restore and psql: the password never on a
        command line, where other users of the machine could read it."""
        env = {"PGDATABASE": self.name}
        for key, variable in (
            ("user", "PGUSER"),
            ("password", "PGPASSWORD"),
            ("host", "PGHOST"),
            ("port", "PGPORT"),
        ):
            if value := getattr(self, key):
                env[variable] = value
        for key, value in self.options.items():
            env[_LIBPQ_OPTIONS[key]] = value
        return env

    def url(self) -> str:
        """A DATABASE_URL for a ``manage.py`` run against this database."""
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        netloc = f"{credentials}@{host}" if credentials else host
        if self.port:
            netloc += f":{self.port}"
        query = f"?{urlencode(self.options)}" if self.options else ""
        return f"postgres://{netloc}/{quote(self.name, safe='')}{query}"

    def relations(self) -> int:
        """How many tables, views and sequences it holds outside PostgreSQL's own
        schemas (0: empty)."""
        with self.connect() as database:
            row = database.execute(_USER_RELATIONS_SQL).fetchone()
        return int(row[0]) if row else 0

    def connect(self) -> psycopg.Connection[Any]:
        params: dict[str, Any] = {"dbname": self.name, **self.options}
        for key, name in (("user", "user"), ("password", "password"), ("host", "host")):
            if value := getattr(self, key):
                params[name] = value
        if self.port:
            params["port"] = self.port
        try:
            return psycopg.connect(autocommit=True, **params)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise BackupProblem(
                f"Cannot connect to the {self.label}: {first}. Create it first if it does "
                f"not exist (createdb)."
            ) from None


def run_pg_dump(program: str, database: Database, *, snapshot: str, into: Path) -> None:
    result = subprocess.run(  # noqa: S603 (a program found on PATH, no shell)
        [
            program,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--snapshot={snapshot}",
            f"--file={into}",
        ],
        env={**os.environ, **database.libpq_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupProblem(f"pg_dump failed ({result.returncode}): {result.stderr.strip()}")


def pg_restore_into(
    pg_restore: str, psql: str, database: Database, dump: Path, *, force: bool, work: Path
) -> None:
    """``pg_restore | psql`` in one transaction, committed only once pg_restore has
    written the whole script: any failure rolls back, the target stays as it was."""
    env = {**os.environ, **database.libpq_env()}
    restore_errors, psql_errors = work / "pg_restore.err", work / "psql.err"
    with restore_errors.open("wb") as producer_err, psql_errors.open("wb") as consumer_err:
        consumer = subprocess.Popen(  # noqa: S603 (a program found on PATH, no shell)
            [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=consumer_err,
            env=env,
        )
        producer = subprocess.Popen(  # noqa: S603 (a program found on PATH, no shell)
            [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=producer_err,
            env=env,
        )
        assert consumer.stdin is not None and producer.stdout is not None
        try:
            with contextlib.suppress(BrokenPipeError):  # psql stopped at an error
                consumer.stdin.write(b"BEGIN;\n")
                if force:
                    consumer.stdin.write(_CLEAR_SQL.encode())
                shutil.copyfileobj(producer.stdout, consumer.stdin, CHUNK)
                if producer.wait() == 0:
                    consumer.stdin.write(b"COMMIT;\n")
                # Otherwise psql reaches the end of its input inside the transaction
                # and disconnects: PostgreSQL rolls it back.
        finally:
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            consumed = consumer.wait()
            if producer.poll() is None:  # psql gave up first: nobody reads pg_restore
                producer.kill()
            produced = producer.wait()
            producer.stdout.close()
    if consumed != 0:
        raise BackupProblem(
            f"The restore failed and was rolled back; the {database.label} is as it was. "
            f"psql said: {_tail(psql_errors)}"
        )
    if produced != 0:
        raise BackupProblem(
            f"pg_restore could not read the dump ({produced}); nothing was restored: "
            f"{_tail(restore_errors)}"
        )


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return " ".join(text[-lines:]) or "(no message)"
