"""The dashboard's server-rendered HTML: shells with no data in them (Jinja2, autoescaped)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from idsync import __version__

__all__ = ["HTML_HEADERS", "NO_STORE", "page"]

_templates = Environment(
    loader=PackageLoader("idsync.web.dashboard", "templates"), autoescape=select_autoescape(default=True)
)
# The page runs only its own script and styles and talks only to this origin (the sign-in
# through the IdP leaves by a redirect, which these rules do not restrict).
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
NO_STORE = {"Cache-Control": "no-store"}


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(version=__version__, **context)
    return HTMLResponse(html, status_code=status_code, headers=HTML_HEADERS)
