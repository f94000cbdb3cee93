"""Running real servers for tests and benchmarks: on a free loopback port, stopped after.

One piece of code starts every process the suite and the benchmarks talk to
(``tipgraph serve``, the Oxigraph server, Virtuoso): it waits until the
process answers, shows the end of its log when it does not, and stops it
(SIGTERM, then SIGKILL of the process group it started) when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    """The process exited or did not answer within its start-up limit."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(command: list[str], ready: Callable[[], bool], *, name: str,
            cwd: Path | None = None, env: Mapping[str, str] | None = None,
            startup_limit: float = 90.0, stop_limit: float = 30.0
            ) -> Iterator[subprocess.Popen]:
    """Run ``command`` in its own session until the block ends, once ``ready()`` is true.

    :raises ServerDidNotStart: with the end of the process's output
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=cwd, env=None if env is None else dict(env),
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + startup_limit
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-3000:]
                    raise ServerDidNotStart(f"{name} did not start:\n{tail}")
                time.sleep(0.2)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=stop_limit)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only what it started
                process.wait()


def health(base: str) -> dict | None:
    """What ``/health`` of a tipgraph server says, or None when it does not answer."""
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


class ServerURL(str):
    """A server's base URL that also knows the server's process id."""

    pid: int


@contextlib.contextmanager
def serving(build_dir: Path, settings: Mapping[str, object] | None = None, *,
            workers: int = 2, port: int | None = None, args: tuple[str, ...] = (),
            startup_limit: float = 90.0) -> Iterator[ServerURL]:
    """Run ``tipgraph serve`` on ``build_dir`` until the block ends; yields its base URL.

    :param port: the port to listen on (a free one when None; given, to restart a server)
    :param args: more ``serve`` options, e.g. ``("--store", url)``
    """
    port = port or free_port()
    command = [sys.executable, "-m", "tipgraph.cli", "serve", "--build", str(build_dir),
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *args]
    for name, value in (settings or {}).items():
        command += ["--setting", name, str(value)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPGRAPH_")}
    base = f"http://127.0.0.1:{port}"
    with running(command, lambda: health(base) is not None, name="tipgraph serve",
                 cwd=build_dir, env=env, startup_limit=startup_limit,
                 stop_limit=20.0) as process:
        url = ServerURL(base)
        url.pid = process.pid
        yield url


def fetch(url: str, *, method: str = "GET", data: bytes | None = None,
          headers: Mapping[str, str] | None = None,
          timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request, sent as given (no headers added); returns status, headers, body.

    Header names come back lower-case; error statuses are returned, not raised.
    """
    parts = urllib.parse.urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=data, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()
    finally:
        connection.close()


def answers_sparql(endpoint: str) -> bool:
    """Whether ``endpoint`` answers ``ASK { ?s ?p ?o }`` with 200."""
    query = urllib.parse.urlencode({"query": "ASK { ?s ?p ?o }"})
    try:
        with urllib.request.urlopen(f"{endpoint}?{query}", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def find_binary(names: Sequence[str]) -> str | None:
    """The first of ``names`` beside this Python (a venv's console scripts) or on PATH."""
    for name in names:
        beside = Path(sys.executable).parent / name
        if beside.is_file():
            return str(beside)
        found = shutil.which(name)
        if found:
            return found
    return None


VIRTUOSO_INI = """\
[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{isql_port}
DisableUnixSocket = 1
ServerThreads = 10
CheckpointInterval = 60
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {dirty_buffers}
DirsAllowed = {dirs_allowed}
MaxSortedTopRows = {sorted_rows}

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {db}
ServerThreads = 10
MaxClientConnections = 10

[SPARQL]
ResultSetMaxRows = {max_rows}
MaxQueryExecutionTime = {max_seconds}
"""
# Our own ini rather than the package's: both ports on 127.0.0.1 only, the database in a
# directory of the caller's, and the row and time caps chosen by the caller.
# ResultSetMaxRows also caps CONSTRUCT answers; Virtuoso cuts any answer at 2^20 rows.
# MaxQueryExecutionTime is an "anytime" limit: past it Virtuoso answers with partial results.
# MaxSortedTopRows: the rows ORDER BY sorts under LIMIT/OFFSET (deeper paging is an error).

#: A user that may write (SPARQL Update, Graph Store) through Virtuoso's authenticated
#: endpoints, as ``tipgraph publish --auth`` does; everyone else may only read.
VIRTUOSO_PUBLISHER = "publisher:publisher-secret"
VIRTUOSO_SETUP = """\
DB.DBA.USER_CREATE('publisher', 'publisher-secret');
GRANT SPARQL_UPDATE TO "publisher";
DB.DBA.RDF_DEFAULT_USER_PERMS_SET('nobody', 1);
DB.DBA.RDF_DEFAULT_USER_PERMS_SET('publisher', 3);
"""


@dataclass(frozen=True)
class Virtuoso:
    """A running Virtuoso open-source server and how to reach it."""

    root: str  # http://127.0.0.1:PORT
    isql: str  # the isql binary
    isql_port: int
    directory: Path  # its database, log and ini
    pid: int

    @property
    def sparql(self) -> str:
        """The SPARQL 1.1 Protocol endpoint."""
        return self.root + "/sparql"

    def run_sql(self, script: str, *, timeout: float = 60.0) -> str:
        """Run ``script`` through isql as ``dba``; returns isql's output.

        :raises RuntimeError: when isql fails or reports an error
        """
        path = self.directory / f"script-{time.monotonic_ns()}.sql"
        path.write_text(script, encoding="utf-8")
        done = subprocess.run([self.isql, f"127.0.0.1:{self.isql_port}", "dba", "dba",
                               str(path)], capture_output=True, text=True, timeout=timeout,
                              check=False)
        output = done.stdout + done.stderr
        if done.returncode != 0 or "*** Error" in output:
            raise RuntimeError(f"isql failed on Virtuoso: {output[-3000:]}")
        return output


@contextlib.contextmanager
def virtuoso(directory: Path, *, binary: str | None = None, isql: str | None = None,
             max_rows: int = 10_000, max_seconds: int = 60, buffers: int = 10_000,
             sorted_rows: int = 10_000, dirs_allowed: Sequence[Path] = (),
             startup_limit: float = 120.0
             ) -> Iterator[Virtuoso]:
    """Run Virtuoso (Debian ``virtuoso-opensource-7-bin``) from our own ini in ``directory``.

    Not the Debian service, which listens on every interface: this one listens on two
    free 127.0.0.1 ports, keeps its database in ``directory`` and stops when the block
    ends.

    :param max_rows: most rows (or CONSTRUCT triples) of one answer
    :param max_seconds: the anytime limit of one query, in seconds
    :param buffers: 8 KiB pages of its cache
    :param sorted_rows: most rows ``ORDER BY`` sorts under ``LIMIT``/``OFFSET`` (Virtuoso's
        default: 10,000; an offset deeper than that is an error)
    :param dirs_allowed: directories the bulk loader (``ld_dir``) may read besides its own
    :raises FileNotFoundError: when ``virtuoso-t`` or ``isql`` is not installed
    :raises ServerDidNotStart: with the end of its output
    """
    binary = binary or find_binary(("virtuoso-t",))
    isql = isql or find_binary(("isql-vt", "isql"))
    if binary is None or isql is None:
        raise FileNotFoundError("virtuoso-t or isql-vt not found: apt-get install "
                                "virtuoso-opensource-7-bin")
    isql_port, http_port = free_port(), free_port()
    ini = directory / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(
        db=directory, isql_port=isql_port, http_port=http_port, max_rows=max_rows,
        max_seconds=max_seconds, buffers=buffers, dirty_buffers=buffers * 3 // 5,
        sorted_rows=sorted_rows,
        dirs_allowed=", ".join(str(d) for d in (directory, *dirs_allowed))), encoding="utf-8")
    root = f"http://127.0.0.1:{http_port}"
    with running([binary, "+foreground", "+configfile", str(ini)],
                 lambda: answers_sparql(root + "/sparql"), cwd=directory, name="Virtuoso",
                 startup_limit=startup_limit) as process:
        yield Virtuoso(root, isql, isql_port, directory, process.pid)
