"""Find the line of a key in TOML text.

``tomllib`` reports lines for syntax errors only. A semantic error (an unknown role, a
bad view kind) is found on the parsed data, so this module maps a key path such as
``("grants", 2, "condition")`` or ``("tagging", "rules", 0, "patterns", 1)`` back to the
line that wrote it. It is a small scanner for the TOML this project writes (tables,
arrays of tables, dotted keys, multi-line arrays and strings), not a second parser: when
it cannot place a path exactly it answers the line of the nearest enclosing key it found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

Path = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_key(text: str) -> list[str] | None:
    """Split a dotted TOML key (bare or quoted parts); None when it is not a key."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        if text[i] in "\"'":
            q = text[i]
            j = text.find(q, i + 1)
            if j < 0:
                return None
            parts.append(text[i + 1 : j])
            i = j + 1
        else:
            m = _BARE.match(text, i)
            if not m:
                return None
            parts.append(m.group())
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n:
            if text[i] != ".":
                return None
            i += 1
    return parts or None


class _Scanner:
    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.aot_count: dict[Path, int] = {}
        self.table: Path = ()
        self.depth = 0  # bracket depth of the current value
        self.in_ml: str | None = None  # open multi-line string delimiter
        self.value_key: Path = ()
        self.elem = -1

    def note(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    def scan(self, text: str) -> dict[Path, int]:
        for lineno, raw in enumerate(text.splitlines(), 1):
            self.line(raw, lineno)
        return self.lines

    def line(self, raw: str, lineno: int) -> None:
        i = 0
        if self.in_ml is None and self.depth == 0:
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                return
            if stripped.startswith("[["):
                end = stripped.find("]]")
                key = _split_key(stripped[2:end]) if end > 0 else None
                if key:
                    base: Path = tuple(key)
                    idx = self.aot_count.get(base, 0)
                    self.aot_count[base] = idx + 1
                    self.table = (*base, idx)
                    self.note(base, lineno)
                    self.note(self.table, lineno)
                return
            if stripped.startswith("["):
                end = stripped.find("]")
                key = _split_key(stripped[1:end]) if end > 0 else None
                if key:
                    self.table = tuple(key)
                    for k in range(1, len(key) + 1):
                        self.note(tuple(key[:k]), lineno)
                return
            eq = _find_eq(raw)
            if eq < 0:
                return
            key = _split_key(raw[:eq])
            if not key:
                return
            self.value_key = (*self.table, *key)
            for k in range(1, len(key) + 1):
                self.note((*self.table, *key[:k]), lineno)
            self.elem = -1
            i = eq + 1
        self.value(raw, i, lineno)

    def value(self, raw: str, i: int, lineno: int) -> None:
        n = len(raw)
        while i < n:
            if self.in_ml is not None:
                j = raw.find(self.in_ml, i)
                if j < 0:
                    return
                i = j + 3
                self.in_ml = None
                continue
            c = raw[i]
            if c == "#":
                return
            if c in "\"'":
                if self.depth == 1:
                    self.elem += 1
                    self.note((*self.value_key, self.elem), lineno)
                if raw.startswith(c * 3, i):
                    self.in_ml = c * 3
                    i += 3
                    continue
                j = i + 1
                while j < n and raw[j] != c:
                    j += 2 if (c == '"' and raw[j] == "\\") else 1
                i = j + 1
                continue
            if c in "[{":
                if self.depth == 1 and c == "{":
                    self.elem += 1
                    self.note((*self.value_key, self.elem), lineno)
                self.depth += 1
            elif c in "]}":
                self.depth = max(0, self.depth - 1)
            elif self.depth == 1 and c not in " \t," and (i == 0 or raw[i - 1] in " \t,["):
                # a bare element (number, boolean) starts here
                self.elem += 1
                self.note((*self.value_key, self.elem), lineno)
            i += 1


def _find_eq(raw: str) -> int:
    q: str | None = None
    for i, c in enumerate(raw):
        if q:
            if c == q:
                q = None
        elif c in "\"'":
            q = c
        elif c == "=":
            return i
        elif c == "#":
            return -1
    return -1


def key_lines(text: str) -> Mapping[Path, int]:
    """Every key path the scanner could place, mapped to its first line."""
    return _Scanner().scan(text)


def locate(lines: Mapping[Path, int], path: Path) -> int | None:
    """The line of ``path``, or of its nearest enclosing key; None if nothing matches."""
    for k in range(len(path), 0, -1):
        line = lines.get(path[:k])
        if line is not None:
            return line
    return None
