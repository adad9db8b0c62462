"""What a model card (a model directory's ``README.md``) must say before the model is published.

A card is Markdown. :func:`card_problems` looks for the sections a person needs before using a
model, each found by the words of a heading (any level; :data:`CARD_SECTIONS`):

- what the model predicts: a paragraph between the title and the first section, or a heading
  with "predict", "overview", "about" or "use";
- the training data: a heading with "data" or "train";
- how it was evaluated, with its figures: a heading with "evaluat", "metric", "performance",
  "validation", "benchmark" or "result", whose text holds at least one number;
- its limitations: a heading with "limitation" or "caveat";
- its licence: a heading with "licence" or "license", whose text names model.yaml's
  ``info.license``.

Standard library only: ``seqzoo publish`` checks the card before TensorFlow is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CARD_SECTIONS", "card_problems"]

#: section -> the words (lower case) a heading of that section contains, one of them
CARD_SECTIONS: dict[str, tuple[str, ...]] = {
    "what the model predicts": ("predict", "overview", "about", "use"),
    "training data": ("data", "train"),
    "evaluation with figures": ("evaluat", "metric", "performance", "validation", "benchmark", "result"),
    "limitations": ("limitation", "caveat"),
    "licence": ("licence", "license"),
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBER = re.compile(r"\d")


def _sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first heading after the title, and every ``(heading, body)`` pair;
    fenced code blocks are bodies, never headings."""
    intro, sections, fenced, title_seen = [], [], False, False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match and len(match.group(1)) == 1 and not title_seen and not sections:
            title_seen = True  # the card's title: what follows it is the introduction
            continue
        if match:
            sections.append((match.group(2).lower(), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            intro.append(line)
    return "\n".join(intro).strip(), [(h, "\n".join(body)) for h, body in sections]


def card_problems(card: str | Path, license: str | None = None) -> list[str]:
    """What the model card ``card`` (a README.md path) lacks; an empty list means it has every
    section of :data:`CARD_SECTIONS`. ``license`` (model.yaml's ``info.license``), when given,
    must be named in the licence section."""
    path = Path(card)
    if not path.is_file():
        return [f"{path} is missing: write the model card (the sections: {', '.join(CARD_SECTIONS)})"]
    intro, sections = _sections(path.read_text(encoding="utf-8"))

    def found(section: str) -> list[str]:
        return [body for heading, body in sections if any(w in heading for w in CARD_SECTIONS[section])]

    missing = []
    for section in CARD_SECTIONS:
        bodies = found(section)
        if section == "what the model predicts" and intro:
            continue
        if not bodies:
            missing.append(section)
        elif section == "evaluation with figures" and not any(_NUMBER.search(b) for b in bodies):
            missing.append(f"{section} (the evaluation section gives no figure)")
        elif section == "licence" and license and not any(license.lower() in b.lower() for b in bodies):
            missing.append(f"{section} (the licence section does not name model.yaml's license {license!r})")
    if not missing:
        return []
    hint = (" (each a section whose heading says what it is, e.g. '## Training data', '## Evaluation', "
            "'## Limitations', '## Licence')") if set(missing) & set(CARD_SECTIONS) else ""
    return [f"{path} lacks what a model card needs: {'; '.join(missing)}{hint}"]
