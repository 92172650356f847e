"""Password policy after NIST SP 800-63B section 5.1.1.2 (memorized secret verifiers):

- at least ``MIN_LENGTH`` characters (NIST: at least 8; raad asks 12), at most ``MAX_LENGTH``
  (NIST: permit at least 64), every Unicode character allowed, counted per code point, never
  truncated; normalised with NFKC before hashing so the same password typed on another keyboard
  matches;
- compared against "values known to be commonly-used, expected, or compromised": passwords from
  breach corpuses, dictionary words, repetitive or sequential characters ('aaaaaa',
  '1234abcd') and context-specific words (the service's name, the username) - through zxcvbn,
  whose matchers hold exactly those lists and patterns, refusing what it estimates guessable in
  fewer than 10^8 tries (its score below 3); a password holding the username is refused
  outright;
- no composition rules (no "one digit, one symbol"), no periodic change.

The refusal says why, in zxcvbn's words, and never repeats the password.
"""

from __future__ import annotations

import unicodedata

from zxcvbn import zxcvbn

from .errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn: "safely unguessable: moderate protection from offline slow-hash scenario"
CONTEXT = ("raad", "rapid", "antidepressant", "ketamine", "esketamine", "nitrous", "naltrexone")


def normalise(password: str) -> str:
    """The form that is hashed and verified (NFKC, as 800-63B recommends)."""
    return unicodedata.normalize("NFKC", password)


def check(password: str, username: str = "") -> str:
    """``password`` normalised, or InvalidInput naming why it is refused (field "password")."""
    if not isinstance(password, str):
        raise InvalidInput("password", "(hidden)", "text")
    pw = normalise(password)
    if len(pw) < MIN_LENGTH:
        raise InvalidInput("password", "(hidden)", f"at least {MIN_LENGTH} characters")
    if len(pw) > MAX_LENGTH:
        raise InvalidInput("password", "(hidden)", f"at most {MAX_LENGTH} characters")
    if username and username.lower() in pw.lower():
        raise InvalidInput("password", "(hidden)", "a password that does not contain the username")
    words = [*CONTEXT, *(p for p in username.replace("-", ".").replace("_", ".").split(".") if p)]
    if username:
        words.append(username)
    result = zxcvbn(pw[:100], user_inputs=words)  # zxcvbn's cost grows with length; 100 is plenty
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        why = feedback.get("warning") or "too easy to guess"
        hints = " ".join(feedback.get("suggestions") or [])
        raise InvalidInput(
            "password",
            "(hidden)",
            f"a password that is hard to guess: {why.rstrip('.')}."
            + (f" {hints}" if hints else "")
            + " A few unrelated words make a good one.",
        )
    return pw
