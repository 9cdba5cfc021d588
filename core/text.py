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
