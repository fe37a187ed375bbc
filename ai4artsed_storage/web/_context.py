"""What the blueprints share in one Flask app: the settings, the run store and the instance."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ai4artsed_storage._guard import InstanceInfo
from ai4artsed_storage._settings import StorageSettings
from ai4artsed_storage._store import RunStore

EXTENSION_KEY = "ai4artsed_storage"


@dataclass(frozen=True)
class WebState:
    settings: StorageSettings
    store: RunStore
    instance: InstanceInfo


def install(app: Flask, state: WebState) -> None:
    app.extensions[EXTENSION_KEY] = state


def web_state() -> WebState:
    """The state of the app handling the current request (set by ``init_app``)."""
    state: WebState = current_app.extensions[EXTENSION_KEY]
    return state
