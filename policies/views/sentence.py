"""A policy as the vendor's sentence, with its keywords highlighted for the list and editor."""

from __future__ import annotations

import re
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from policies.engine import PolicySpec, describe_policy

TARGET_PREFIX = "TARGET message "
# Keywords outside quoted values ('...' in the sentence are values: never highlighted).
_QUOTED = re.compile(r"('[^']*')")
_KEYWORDS = re.compile(r"\b(EXCEPT IF|IF|THEN)\b")


def policy_sentence(spec: PolicySpec) -> str:
    """The sentence without its "TARGET message" opening (shown on its own)."""
    return describe_policy(spec).removeprefix(TARGET_PREFIX)


def highlight(sentence: str) -> SafeString:
    parts: list[str] = []
    for index, chunk in enumerate(_QUOTED.split(sentence)):
        if index % 2:  # a quoted value
            parts.append(escape(chunk))
        else:
            parts.append(_KEYWORDS.sub(r'<span class="kw">\1</span>', escape(chunk)))
    return mark_safe("".join(parts))  # noqa: S308 - every piece is escaped above


def sentence_html(spec: PolicySpec) -> SafeString:
    return format_html(
        '<span class="policy-target"><span class="kw">TARGET</span> message</span> '
        '<span class="policy-sentence">{}</span>',
        highlight(policy_sentence(spec)),
    )


def sentences(specs: list[Any]) -> list[SafeString]:
    return [sentence_html(s) for s in specs]
