"""The emulator's hosted pages: sign-in, account activation, messages. Plain HTML, no script.

Why so plain: a browser test asserts on what a person sees (headings, field labels, errors), and
the field ids are those of Okta's classic sign-in widget (`okta-signin-username`, ...), so a test
written against the emulator reads like one written against Okta.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

__all__ = ["activated_page", "activation_page", "home_page", "message_page", "sign_in_page"]

_STYLE = """
body { font-family: sans-serif; background: #f4f6f8; color: #1d1d21; }
main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 6px;
       box-shadow: 0 1px 4px rgba(0,0,0,.15); }
header { color: #00297a; font-weight: bold; margin-bottom: 1rem; }
label { display: block; margin-top: 1rem; }
input[type=text], input[type=password] { width: 100%; padding: .5rem; box-sizing: border-box; }
button { margin-top: 1.5rem; width: 100%; padding: .6rem; background: #00297a; color: #fff; border: 0; }
.error { color: #b00020; margin-top: 1rem; }
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><main><header>Okta (emulator)</header>"
        f"<h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _error(text: str | None) -> str:
    return f'<p class="error" role="alert">{escape(text)}</p>' if text else ""


def sign_in_page(
    username: str, from_uri: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    body = (
        f"{_error(error)}"
        '<form method="post" action="/login/login.htm">'
        f'<input type="hidden" name="fromURI" value="{escape(from_uri)}">'
        '<label for="okta-signin-username">Username</label>'
        f'<input type="text" id="okta-signin-username" name="username" value="{escape(username)}" '
        'autocomplete="username" required>'
        '<label for="okta-signin-password">Password</label>'
        '<input type="password" id="okta-signin-password" name="password" autocomplete="current-password">'
        '<button type="submit" id="okta-signin-submit">Sign In</button></form>'
    )
    return _page("Sign In", body, status_code)


def activation_page(name: str, login: str, action: str, error: str | None = None) -> HTMLResponse:
    body = (
        f"<p>Welcome, {escape(name)}! Set a password for <strong>{escape(login)}</strong>.</p>"
        "<p>At least 8 characters, a lowercase and an uppercase letter and a number; "
        "no parts of your username.</p>"
        f"{_error(error)}"
        f'<form method="post" action="{escape(action)}">'
        '<label for="password">New password</label>'
        '<input type="password" id="password" name="password" autocomplete="new-password" required>'
        '<label for="confirm">Repeat password</label>'
        '<input type="password" id="confirm" name="confirm" autocomplete="new-password" required>'
        '<button type="submit" id="activate-submit">Create My Account</button></form>'
    )
    return _page("Activate your account", body, 400 if error else 200)


def activated_page(login: str) -> HTMLResponse:
    body = (
        f"<p>Your account <strong>{escape(login)}</strong> is active. "
        "Sign in from your application with your new password.</p>"
    )
    return _page("Your account is ready", body)


def home_page(name: str, login: str) -> HTMLResponse:
    body = (
        f"<p>Signed in to Okta as <strong>{escape(name)}</strong> ({escape(login)}).</p>"
        "<p>Your applications sign you in without asking again while this session lasts.</p>"
    )
    return _page("My Apps", body)


def message_page(title: str, text: str, status_code: int = 200) -> HTMLResponse:
    return _page(title, f"<p>{escape(text)}</p>", status_code)
