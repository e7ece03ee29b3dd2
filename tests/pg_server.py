"""A throwaway PostgreSQL server for tests that must stop and start one: initdb and pg_ctl on a free port.

It lives in a temporary directory, listens on 127.0.0.1 only, and never touches the shared server.
Run as root, it runs as the `postgres` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg


def binaries() -> Path | None:
    """Return the newest PostgreSQL bin directory on this machine that has initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found and Path(found[-1]).with_name("pg_ctl").exists() else None


def missing_reason() -> str | None:
    """Say why no throwaway server can be made here, or None when one can."""
    if binaries() is None:
        return "no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One throwaway server: start(), stop() (a clean, fast shutdown) and start() again, cleanup()."""

    def __init__(self) -> None:
        """Make its directory and cluster (initdb), not yet running."""
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="sched-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of its `sched` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/sched"

    def _run(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL tool (as the postgres user when root); fail loudly with its output."""
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}\n{done.stderr}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server: it disconnects every client, as an outage or a failover does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        """Create the `sched` database."""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE sched")

    def cleanup(self) -> None:
        """Stop it if it runs and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
