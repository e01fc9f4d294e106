"""Template filters for the portal."""

from __future__ import annotations

from django import template

from sessioncloud.lib import casing
from sessioncloud.providers.validators import COLOR_RE

register = template.Library()
FALLBACK_COLOR = "#0A7CFF"


@register.filter
def css_color(value: object) -> str:
    """A colour for a style attribute: only #RRGGBB gets through, anything else is the default."""
    text = str(value or "")
    return text if COLOR_RE.match(text) else FALLBACK_COLOR


@register.filter(is_safe=True)
def sentence_case(value: object) -> str:
    """Headings, buttons and titles of allauth's templates in the portal's case style (trimmed)."""
    return casing.sentence_case(str(value).strip())


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int) -> str:
    """This page's address with its filters kept and another page number."""
    query = context["request"].GET.copy()
    query["page"] = str(number)
    return "?" + query.urlencode()
