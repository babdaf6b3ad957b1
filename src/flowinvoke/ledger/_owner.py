"""Which process wrote an intent, and whether that process is gone.

An intent without a run id is either a start on its way or the trace of a process that
died between its two writes. The owner string tells them apart where it can: a process
of this machine that no longer exists (or whose pid now belongs to another process) left
an ambiguous start behind at once; elsewhere the row's age decides (`START_GRACE`).
"""

from __future__ import annotations

import os
import socket

__all__ = ["START_GRACE", "owner_is_gone", "this_owner"]

#: Seconds after which an intent of a live or unknown process, still without a run id, is
#: taken to be ambiguous: longer than any start's retries.
START_GRACE = 300.0

_tokens: dict[int, str] = {}  # pid -> token: a forked child makes its own


def this_owner() -> str:
    """This process's name in the ledger: host, pid and a token new in each process."""
    pid = os.getpid()
    token = _tokens.get(pid)
    if token is None:
        token = _tokens[pid] = os.urandom(6).hex()
    return f"{socket.gethostname()}/{pid}/{token}"


def owner_is_gone(owner: str) -> bool:
    """True when `owner` was a process of this machine that has ended."""
    host, _, rest = owner.partition("/")
    pid_text, _, _token_text = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    if owner == this_owner():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # an earlier process that had this pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
