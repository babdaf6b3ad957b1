"""Checks on text that goes into HTTP headers or request bodies verbatim."""

from __future__ import annotations

__all__ = ["has_control_character"]

_CONTROL = frozenset(map(chr, [*range(0x20), 0x7F]))


def has_control_character(text: str) -> bool:
    """Whether `text` holds an ASCII control character (C0 or DEL: NUL, TAB, CR, LF, VT...).

    No header may carry one (h11 refuses it mid-request, or worse, a proxy splits on it),
    and in an id it is a copy-paste slip that the server would only answer "not found" to.
    """
    return not _CONTROL.isdisjoint(text)
