"""Wording shared by messages, the CLI and both consoles: counts with the right plural.

Pure and free of I/O, so the core, the CLI and the templates (the ``plural``
filter) say "1 remote cluster" and "10 days" the same way.
"""

from __future__ import annotations

#: Nouns whose plural is not the noun plus "s".
_IRREGULAR = {"entry": "entries", "activity": "activities"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "remote cluster")`` -> ``"1 remote cluster"``; ``plural(10, "day")`` -> ``"10 days"``."""
    return f"{count:,} {noun if count == 1 else (many or _IRREGULAR.get(noun) or noun + 's')}"


def sentence(text: str) -> str:
    """``text`` with its first letter in upper case, the rest as it is: ``sentence("node n1 left")`` -> ``"Node n1 left"``."""
    return text[:1].upper() + text[1:]
