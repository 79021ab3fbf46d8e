"""CPU and memory of a process, from its own accounting in /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float
    """User plus system CPU seconds since the process started."""
    rss_kb: int


def usage(pid: int) -> Usage:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        # The command name may hold spaces; the fields after it do not.
        fields = stat.read().rsplit(b")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICK
    rss = 0
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1])
                break
    return Usage(cpu_s=cpu, rss_kb=rss)
