"""Property: whatever path a client sends, a canary file outside the root is never served.

The root holds symlinks leading out (a json/ folder, an upload, an entity file, a whole run
folder) and a run whose metadata names the canary; the paths are built from traversal
pieces, encodings and real names of the tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai4artsed_storage import InvalidUpload, StorageRoot, resolve_upload
from tests.web.conftest import LAYOUT_RUNS, MediaRoot

PIECES = [
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E%2e%2f",
    "..%2f",
    "%2f",
    "%5c",
    "..\\",
    "%00",
    "%252e%252e",
    "..;",
    "%c0%ae%c0%ae",
    "~",
    "json",
    "escape",
    "run_link",
    "outside_run",
    "canary.txt",
    "final",
    "uploads_tmp",
    "evil.png",
    "evil",
    "92_link.png",
    "run_hostile_meta",
    "-1",
    "0",
    "3",
    "2026-02-19",
    "5c1e0d7e_2026-02-19",
    "browser1_2026-02-19",
    "metadata.json",
    "output_image.png",
    *LAYOUT_RUNS.values(),
]
PREFIXES = [
    "/exports/json/",
    "/api/media/image/",
    "/api/media/images/",
    "/api/media/run/",
    "/api/media/music/",
    "/api/media/uploads/",
    "/api/media/masks/",
    "/api/",
    "/",
]
_SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="?#"), max_size=6
)
PIECE = st.sampled_from(PIECES) | _SAFE_TEXT
PATHS = st.builds(
    lambda lead, pieces: lead + "/".join(pieces),
    st.sampled_from(["", "/", "//"]),
    st.lists(PIECE, min_size=1, max_size=7),
)


@pytest.mark.slow
@settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(prefix=st.sampled_from(PREFIXES), path=PATHS)
def test_canary_outside_the_root_is_never_served(
    client: FlaskClient, media_root: MediaRoot, prefix: str, path: str
) -> None:
    canary = media_root.canary.read_bytes()
    # A URL starting "//" would be taken by the test client as a host name, not a path.
    url = "/" + (prefix + path).lstrip("/")

    response = client.get(url, follow_redirects=True)

    assert response.status_code < 500, (url, response.data[:200])
    assert canary not in response.data, url

    root = StorageRoot(media_root.path)
    for value in (path, str(media_root.path / "uploads_tmp" / path), f"/x/exports/{path}"):
        try:
            found = resolve_upload(value, root)
        except InvalidUpload:
            continue
        assert found.is_relative_to(root.uploads_dir.resolve()), value
        assert found.read_bytes() != canary, value


def test_the_canary_is_reachable_through_the_links(media_root: MediaRoot) -> None:
    """Guard against a vacuous property: the links in the tree do lead to the canary."""
    canary = media_root.canary.read_bytes()
    assert (media_root.json_dir / "escape" / "canary.txt").read_bytes() == canary
    assert (media_root.path / "uploads_tmp" / "evil.png").read_bytes() == canary
    assert (media_root.json_dir / "run_link" / "output_image.png").read_bytes() == canary
    assert Path(media_root.canary).is_file()
