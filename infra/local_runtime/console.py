"""The built web console (``console/dist``) served at ``/`` beside the API, like CloudFront in front of S3.

Only GET and HEAD of paths outside ``/v1`` reach this module. A file of the build is served as is (hashed
assets are immutable); any other path is a client route of the single-page app and gets ``index.html``.
The console talks to ``/v1`` on the same origin, through the authorizer like any other client.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Protocol

BUCKET = "ConsoleBucket"  # its logical id in the template; the local runtime stands in for it
DIST = Path(__file__).resolve().parents[2] / "console" / "dist"
NOT_BUILT = b"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Audiens console</title></head>
<body><h1>The console is not built</h1><p>Run <code>make console</code> (or <code>make up</code>, which builds
it when stale) and reload this page. The API is served at <code>/v1</code>.</p></body></html>"""
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json"}


class Responder(Protocol):
    def respond(self, status: int, headers: dict[str, str], body: bytes) -> None: ...


def is_console_path(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and path != "/v1" and not path.startswith("/v1/")


def serve(request: Responder, path: str, dist: Path = DIST) -> None:
    root = dist.resolve()
    index = root / "index.html"
    candidate = (root / path.lstrip("/")).resolve()
    if candidate.is_relative_to(root) and candidate.is_file():
        suffix = candidate.suffix
        kind = TYPES.get(suffix) or mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        immutable = candidate.parent.name == "assets"
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        request.respond(200, {"Content-Type": kind, "Cache-Control": cache}, candidate.read_bytes())
    elif path.startswith("/assets/"):  # a build file that is not there: never answer it with the page
        request.respond(404, {"Content-Type": "text/plain"}, b"Not found")
    elif index.is_file():
        html = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"}
        request.respond(200, html, index.read_bytes())
    else:
        request.respond(503, {"Content-Type": "text/html; charset=utf-8"}, NOT_BUILT)
