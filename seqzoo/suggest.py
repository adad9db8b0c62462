"""The one way seqzoo suggests a name for a mistyped one: model names, target names and command
names all go through :func:`nearest` (and :func:`did_you_mean`, its sentence). Standard library
only, so the command line can suggest before TensorFlow is imported."""

import difflib
from typing import Iterable


def nearest(name: str, known: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """At most ``n`` names of ``known`` nearest ``name``, best first, ignoring case: names equal to
    it but for case, then names it begins (``DeepSEA_Athaliana`` for ``DeepSEA_Athaliana265``),
    then difflib's close matches (similarity at least ``cutoff``)."""
    known = list(dict.fromkeys(known))
    by_lower: dict[str, list[str]] = {}
    for k in known:
        by_lower.setdefault(k.lower(), []).append(k)
    wanted = name.lower()
    found = list(by_lower.get(wanted, []))
    found += [k for k in known if k.lower().startswith(wanted) and k.lower() != wanted] if wanted else []
    for close in difflib.get_close_matches(wanted, list(by_lower), n=n + len(found), cutoff=cutoff):
        found += by_lower[close]
    return list(dict.fromkeys(found))[:n]


def did_you_mean(name: str, known: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``"; did you mean 'X'?"`` (or ``'X', 'Y' or 'Z'`` for ``n`` > 1) for :func:`nearest`'s
    names, ``""`` when none is near: to append to an error message."""
    names = [repr(k) for k in nearest(name, known, n, cutoff)]
    if not names:
        return ""
    return f"; did you mean {names[0] if len(names) == 1 else ', '.join(names[:-1]) + ' or ' + names[-1]}?"


__all__ = ["did_you_mean", "nearest"]
