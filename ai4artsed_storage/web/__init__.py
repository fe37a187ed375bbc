"""Flask side of the library: blueprints, ``init_app`` for the webserver, ``create_app``.

The webserver keeps its own app and calls ``init_app(app)``; the reference backend
(``ai4artsed-storage serve``) and the tests use ``create_app()``, which adds the gallery.
"""

from __future__ import annotations

from flask import Flask

from ai4artsed_storage._guard import InstanceInfo
from ai4artsed_storage._settings import StorageSettings, load_settings
from ai4artsed_storage._store import open_store
from ai4artsed_storage._waitress import create_waitress_server
from ai4artsed_storage.web._context import WebState, install, web_state
from ai4artsed_storage.web._immutable import ImmutableAnswers
from ai4artsed_storage.web.errors import json_routing_errors
from ai4artsed_storage.web.exports import exports_bp
from ai4artsed_storage.web.gallery import gallery_bp
from ai4artsed_storage.web.health import health_bp
from ai4artsed_storage.web.media import media_bp

__all__ = [
    "ImmutableAnswers",
    "create_app",
    "create_waitress_server",
    "exports_bp",
    "gallery_bp",
    "health_bp",
    "init_app",
    "media_bp",
    "web_state",
]


def init_app(
    app: Flask, settings: StorageSettings | None = None, *, instance: InstanceInfo | None = None
) -> None:
    """Serve media, raw exports and health from the one storage root in *app*.

    :param settings: the library's settings; read from env/config file when None.
    :param instance: who this process is (the reference backend passes the one its instance
        lock names); a fresh one otherwise, its port taken from each request.
    :raises StorageConfigError: when the root is unusable, naming it and its source.
    """
    source = "settings given to init_app"
    if settings is None:
        resolved = load_settings()
        settings, source = resolved.settings, resolved.root_source
    store = open_store(settings.storage_root, source=source)
    install(app, WebState(settings, store, instance or InstanceInfo.create()))
    for blueprint in (media_bp, exports_bp, health_bp):
        app.register_blueprint(blueprint)
    json_routing_errors(app)


def create_app(
    settings: StorageSettings | None = None, *, instance: InstanceInfo | None = None
) -> Flask:
    """A Flask app with every route of the library and the gallery at ``/``, answers
    declared immutable given again without running it (:class:`ImmutableAnswers`)."""
    app = Flask(__name__)
    init_app(app, settings, instance=instance)
    app.register_blueprint(gallery_bp)
    app.wsgi_app = ImmutableAnswers(app.wsgi_app)  # type: ignore[method-assign]
    return app
