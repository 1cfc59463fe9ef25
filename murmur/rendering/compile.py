"""Once per campaign: MJML → responsive HTML, CSS inlined; the Jinja tags survive for later."""

from __future__ import annotations

import re
from dataclasses import dataclass

import css_inline
import mjml

from murmur.domain.rendering import RenderError, check_syntax

_MJML = re.compile(r"^\s*(<\?xml[^>]*>\s*)?<mjml[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class CompiledTemplate:
    """The campaign's sources after compilation, still holding their Jinja tags."""

    subject: str
    html: str
    text: str | None
    has_unsubscribe: bool  # the template places `{{ unsubscribe_url }}` itself
    has_postal_address: bool  # the template shows `{{ postal_address }}` or the address


def is_mjml(source: str) -> bool:
    return bool(_MJML.match(source))


def compile_template(
    subject: str, body_html: str, body_text: str | None, postal_address: str
) -> CompiledTemplate:
    """Compile and inline once; RenderError names what does not compile."""
    for name, source in (("subject", subject), ("body_html", body_html), ("body_text", body_text)):
        if source:
            try:
                check_syntax(source)
            except RenderError as exc:
                raise RenderError(f"template {name}: {exc}") from None
    html = body_html
    if is_mjml(body_html):
        try:
            html = mjml.mjml2html(body_html)
        except Exception as exc:  # mrml raises its own error types
            raise RenderError(f"template body_html: MJML does not compile: {exc}") from None
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True)
    try:
        html = inliner.inline(html)
    except Exception as exc:  # css_inline.InlineError and parser errors
        raise RenderError(f"template body_html: CSS cannot be inlined: {exc}") from None
    return CompiledTemplate(
        subject=subject,
        html=html,
        text=body_text or None,
        has_unsubscribe="unsubscribe_url" in body_html,
        has_postal_address="postal_address" in body_html
        or bool(postal_address and postal_address in body_html),
    )
