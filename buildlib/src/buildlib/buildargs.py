"""Build-argument names: one grammar for ``--build-arg``, ``build-args`` and Dockerfile
``ARG``/``ENV``, and the heuristic that tells a name that looks like a secret's.

A build argument's value is stored in the image history, an ``ENV`` value in the image
config: a secret belongs in a BuildKit secret. The heuristic matches whole words (split at
``_``, ``-``, digits and case changes: ``hfToken`` holds ``TOKEN``, ``MONKEY`` does not); a
name it takes wrongly is allowed with ``allow-build-args``. It looks at names only: it must
never be handed, or print, a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_WORDS = frozenset(
    "APIKEY CREDENTIAL CREDENTIALS KEY KEYS PASS PASSPHRASE PASSWD PASSWORD PASSWORDS "
    "PRIVATEKEY SECRET SECRETS TOKEN TOKENS".split()
)
ALLOW_KEY = "allow-build-args"
# A word: an upper-case run before a capitalised word (HF in HFToken), a capitalised or
# lower-case word, an upper-case run, or digits (apiKey_v2: api, Key, v, 2).
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def secret_word(name: str, allowed: Iterable[str] = ()) -> str | None:
    """The word (upper-cased) that makes ``name`` look like a secret's, or ``None`` (also
    when allowed)."""
    if name in set(allowed):
        return None
    return next((w.upper() for w in _WORD.findall(name) if w.upper() in SECRET_WORDS), None)


def allow_hint(name: str) -> str:
    return f'if it holds no secret, allow it: [tool.buildlib] {ALLOW_KEY} = ["{name}"]'
