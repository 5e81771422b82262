"""A PostgreSQL server of one's own, for tests and harnesses that stop, restart or cut
off their database (so the machine's shared server and other tests are not disturbed).

``initdb`` in a temporary folder, then ``pg_ctl`` on a free port, listening on the
addresses given (a veth address, say), trusting every client. Run as root, the
server runs as the ``postgres`` user (``initdb`` refuses root). Binaries come from
``/usr/lib/postgresql/*/bin`` (the newest) or the ``PATH``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL's server
    binaries are not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def unavailable_reason() -> str | None:
    """Why a server of one's own cannot be started here, or None if it can."""
    if pg_bin() is None:
        return ("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
                "apt-get install -y postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, initdb needs a 'postgres' user to run as: useradd postgres"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgInstance:
    """One PostgreSQL server in a temporary folder; ``start``, ``restart``, ``stop``,
    ``destroy`` (stops it and removes the folder)."""

    def __init__(self, listen: tuple[str, ...] = ("127.0.0.1",), port: int | None = None,
                 settings: dict[str, str] | None = None) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.bin = pg_bin()
        self.listen = listen
        self.port = port or free_port()
        self.settings = {"max_connections": "200", "shared_buffers": "64MB",
                         "log_min_messages": "warning", **(settings or {})}
        self.root = Path(tempfile.mkdtemp(prefix="durable-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        with open(self.data / "pg_hba.conf", "a") as f:
            f.write("host all all 0.0.0.0/0 trust\n")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        argv = [str(self.bin / tool), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}"
                               f"\n{self.server_log()}")
        return done

    def server_log(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def start(self) -> None:
        options = [f"-c listen_addresses={','.join(self.listen)}", f"-p {self.port}",
                   f"-c unix_socket_directories={self.root}",
                   *(f"-c {k}={v}" for k, v in self.settings.items())]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", " ".join(options), "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected and the server shuts down cleanly;
        ``immediate``: as a crash (recovery from the WAL on the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def url(self, dbname: str = "postgres", host: str | None = None) -> str:
        return f"postgresql://postgres@{host or self.listen[0]}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgInstance:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
