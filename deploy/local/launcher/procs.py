"""Which processes exist and which listen on which ports (Linux /proc)."""

from __future__ import annotations

import os
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # state is the field after the parenthesised command name; Z = zombie, X = dead
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def listening_ports() -> dict[int, set[str]]:
    """port -> socket inodes in LISTEN state (IPv4 and IPv6, any address)."""
    result: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A":
                port = int(parts[1].rsplit(":", 1)[1], 16)
                result.setdefault(port, set()).add(parts[9])
    return result


def pids_listening_on(ports: list[int]) -> dict[int, int]:
    """pid -> one of `ports` it listens on."""
    table = listening_ports()
    wanted = {f"socket:[{inode}]": port for port in ports for inode in table.get(port, ())}
    found: dict[int, int] = {}
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        with fds:
            for fd in fds:
                try:
                    link = os.readlink(fd.path)
                except OSError:
                    continue
                if link in wanted:
                    found[int(entry.name)] = wanted[link]
                    break
    return found


def port_listening(port: int) -> bool:
    return port in listening_ports()


