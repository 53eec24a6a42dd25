"""Errors of the policy engine. Messages name the file, the line and the fix; they quote
key names from the policy file (which is configuration, not chat text) but never a
message, a detected value, a token or key material."""

from __future__ import annotations


class PolicyError(Exception):
    """A policy file is unreadable, malformed or inconsistent.

    ``file`` and ``line`` (1-based) locate the problem; ``fix`` says what to do.
    """

    def __init__(self, file: str, line: int | None, problem: str, fix: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {problem}; {fix}")
        self.file = file
        self.line = line
        self.problem = problem
        self.fix = fix
