"""The local runtime serves the built console beside /v1, like CloudFront in front of the ConsoleBucket."""

from __future__ import annotations

from pathlib import Path

from local_runtime import console


class Recorder:
    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, str], bytes]] = []

    def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.replies.append((status, headers, body))


def serve(dist: Path, path: str) -> tuple[int, dict[str, str], bytes]:
    recorder = Recorder()
    console.serve(recorder, path, dist)
    return recorder.replies[0]


def build(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>console</html>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("outside")
    return tmp_path


def test_files_of_the_build_are_served_with_their_type_and_hashed_assets_cached(tmp_path: Path) -> None:
    dist = build(tmp_path)
    status, headers, body = serve(dist, "/assets/index-abc123.js")
    assert (status, headers["Content-Type"], body) == (200, "text/javascript", b"console.log(1)")
    assert "immutable" in headers["Cache-Control"]
    status, headers, body = serve(dist, "/")
    assert (status, body, headers["Cache-Control"]) == (200, b"<html>console</html>", "no-cache")


def test_client_routes_get_the_page_but_missing_assets_and_escapes_do_not(tmp_path: Path) -> None:
    dist = build(tmp_path)
    assert serve(dist, "/activate")[2] == b"<html>console</html>"
    assert serve(dist, "/segments/seg_1")[2] == b"<html>console</html>"
    assert serve(dist, "/assets/gone-old.js")[0] == 404
    assert serve(dist, "/../secret.txt")[2] == b"<html>console</html>"


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    status, _, body = serve(tmp_path / "missing", "/")
    assert status == 503
    assert b"make console" in body


def test_only_reads_outside_v1_reach_the_console() -> None:
    assert console.is_console_path("GET", "/activate")
    assert console.is_console_path("HEAD", "/")
    assert not console.is_console_path("GET", "/v1/me")
    assert not console.is_console_path("GET", "/v1")
    assert not console.is_console_path("POST", "/activate")
