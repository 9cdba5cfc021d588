"""Text from files, made safe for a terminal (`ssd info`, `ssd detect`, error lines)."""
from __future__ import annotations


def printable(text: object) -> str:
    """``str(text)`` with every character that is not printable written as its escape.

    Class names, metadata and file names come from files anyone may have written: an ESC
    sequence could clear the screen or fake output, a newline could fake a line, a bidi override
    could reorder what is shown. They appear as ``\\x1b``, ``\\n``, ``\\u202e``; letters of any
    script stay as they are.
    """
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def first_error_line(exc: BaseException) -> str:
    """The first useful line of an exception's message (at most 200 characters), for one-line errors."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # OpenVINO's messages start with "Exception from src/...": the useful sentence comes later.
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '"))] or lines
    return (useful[0][:200] if useful else type(exc).__name__)
