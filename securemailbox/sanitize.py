"""The HTML allowlist for message bodies (nh3, built on html5ever: it parses like a browser
and serialises again, which is what mutation-XSS needs, portal-attacks.md H-5).

Second line of defence, not the only one: the sanitised HTML is shown in a sandboxed frame
(no scripts, no forms, an opaque origin) served with a strict Content-Security-Policy.

URLs: links keep http, https and mailto and open in a new tab with ``rel="noopener
noreferrer"``; relative URLs are dropped so nothing resolves against the pURL (H-8);
``cid:`` images become ``data:`` URIs of image parts of the same message (H-3, A-8),
re-encoded from their pixels (A-5, securemailbox/images.py);
remote images are dropped until the reader asks for them (H-6). Styles keep a list of
harmless properties, and never a ``url()``, so no CSS can fetch anything or cover the page.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import nh3

from .images import image_reencode

TAGS = (set(nh3.ALLOWED_TAGS) | {"font", "center", "tfoot"}) - {"map", "area"}
CLEAN_CONTENT_TAGS = {
    "script", "style", "title", "noscript", "template", "textarea", "xmp", "iframe",
    "noembed", "noframes", "object", "embed", "select", "option", "svg", "math",
}  # fmt: skip
COMMON_ATTRS = {"style", "dir", "lang", "title", "align", "valign", "bgcolor", "width", "height"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": COMMON_ATTRS,
    "font": {"color", "face", "size"},
    "table": {"align", "summary", "border", "cellpadding", "cellspacing"},
    "td": {"rowspan", "colspan", "headers", "align", "nowrap"},
    "th": {"rowspan", "colspan", "headers", "align", "scope", "nowrap"},
    "img": {"src", "alt", "width", "height", "align", "border"},
    "a": {"href", "hreflang", "name"},
}
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
    "text-transform", "line-height", "letter-spacing", "word-spacing", "white-space",
    "vertical-align", "direction", "display", "float", "clear", "list-style-type",
    "table-layout", "border-collapse", "border-spacing", "width", "height", "max-width",
    "min-width", "max-height", "min-height", "margin", "margin-top", "margin-right",
    "margin-bottom", "margin-left", "padding", "padding-top", "padding-right",
    "padding-bottom", "padding-left", "border", "border-top", "border-right",
    "border-bottom", "border-left", "border-color", "border-style", "border-width",
    "border-radius",
}  # fmt: skip
STYLE_VALUE_BAD = re.compile(r"url\s*\(|expression|image-set|[\\<>@]|/\*|&", re.IGNORECASE)
LINK_SCHEMES = ("http://", "https://", "mailto:")
REMOTE_SCHEMES = ("http://", "https://")
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
MAX_INLINE_IMAGE = 2 * 1024 * 1024
COLOUR_ATTRS = {"bgcolor", "color"}
COLOUR_RE = re.compile(r"^#?[0-9a-zA-Z]{1,20}\Z")


@dataclass(frozen=True)
class InlineImage:
    content_type: str
    data: bytes


def _style_clean(value: str) -> str | None:
    kept = []
    for declaration in value.split(";"):
        prop, sep, val = declaration.partition(":")
        prop = prop.strip().lower()
        if sep and prop in STYLE_PROPERTIES and not STYLE_VALUE_BAD.search(val):
            kept.append(f"{prop}:{val.strip()}")
    return ";".join(kept) or None


class _Filter:
    """nh3's attribute filter: runs after nh3's own scheme check, so it has the last word."""

    def __init__(self, images: dict[str, InlineImage], allow_remote: bool) -> None:
        self.images = {key.lower(): image for key, image in images.items()}
        self.allow_remote = allow_remote
        self.remote_blocked = 0

    def __call__(self, tag: str, attr: str, value: str) -> str | None:
        if attr == "style":
            return _style_clean(value)
        if attr in COLOUR_ATTRS:
            return value if COLOUR_RE.match(value.strip()) else None
        if tag == "a" and attr == "href":
            return value if value.strip().lower().startswith(LINK_SCHEMES) else None
        if tag == "img" and attr == "src":
            return self._image(value.strip())
        return value

    def _image(self, src: str) -> str | None:
        lowered = src.lower()
        if lowered.startswith("cid:"):
            image = self.images.get(src[4:].strip("<> ").lower())
            if (
                image
                and image.content_type in INLINE_IMAGE_TYPES
                and len(image.data) <= MAX_INLINE_IMAGE
            ):
                fresh = image_reencode(image.data)  # pixels only, never the sender's bytes
                if fresh is not None:
                    content_type, data = fresh
                    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"
            return None
        if lowered.startswith(REMOTE_SCHEMES):
            if self.allow_remote:
                return src
            self.remote_blocked += 1
        return None  # data:, javascript:, anything else: dropped


def html_sanitize(
    html: str, *, images: dict[str, InlineImage] | None = None, allow_remote: bool = False
) -> tuple[str, int]:
    """Sanitised HTML and the number of remote images held back."""
    keep = _Filter(images or {}, allow_remote)
    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT_TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "cid"},
        url_relative="deny",
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=STYLE_PROPERTIES,
        strip_comments=True,
    )
    return cleaned, keep.remote_blocked
