"""The web dashboard of `idsync serve`: imports and activation jobs with live progress, one
import's failures and skips (filterable, CSV), the rate budget per IdP bucket, the queue.

Server-rendered HTML shells (Jinja2) and one small script that polls JSON routes every few
seconds; no build step, no CDN (see docs/dashboard.md for why). The routes live in
`idsync.web.routes.dashboard`; this package holds what they use:

- `session`: the login cookie (signed with the API token, HttpOnly, SameSite=Strict);
- `sampler`: a background task that keeps a short history of calls per bucket and queue depth;
- `views`: the JSON the page reads;
- `failures`: filtered failure/skip pages and the CSV download.
"""

from __future__ import annotations
