"""A read-only page of the latest runs and their images, so a person can look.

Every image goes through ``/api/media/image``: if the page shows them, the route works.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, url_for

from ai4artsed_storage._runs import Run
from ai4artsed_storage._sniff import IMAGE_EXTENSIONS
from ai4artsed_storage.web._context import web_state

gallery_bp = Blueprint("gallery", __name__, template_folder="templates")


@dataclass(frozen=True)
class _Card:
    run_id: str
    layout: str
    timestamp: str
    config_name: str
    prompt: str
    image_urls: list[str]


_PROMPT_CHARS = 200


def _card(run: Run) -> _Card:
    urls = [
        url_for("media.image", run_id=run.run_id, index=position)
        for position, entity in enumerate(run.entities_of("output_image"))
        # Old runs saved audio as output_image too: no <img> for those.
        if entity.extension in IMAGE_EXTENSIONS and run.entity_path(entity) is not None
    ]
    prompt = ""
    for entity in run.entities_of("input"):
        path = run.entity_path(entity)
        if path is not None:
            with path.open(encoding="utf-8", errors="replace") as handle:
                prompt = handle.read(_PROMPT_CHARS)
            break
    return _Card(run.run_id, run.layout, run.timestamp, run.config_name, prompt, urls)


@gallery_bp.get("/")
@gallery_bp.get("/gallery")
def gallery() -> str:
    state = web_state()
    runs = state.store.latest(state.settings.gallery_runs)
    return render_template(
        "ai4artsed_storage/gallery.html",
        cards=[_card(run) for run in runs],
        root=state.store.root.path,
        instance=state.instance,
    )
