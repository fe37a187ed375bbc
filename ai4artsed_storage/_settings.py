"""Settings, above all the ONE storage root, and where each value came from.

Precedence: environment (``AI4ARTSED_*``), then the TOML config file
(``/etc/ai4artsed/storage.toml``, or the file named by ``AI4ARTSED_CONFIG``), then the
defaults. The default root is platformdirs' user data path, e.g.
``~/.local/share/ai4artsed/storage``. Nothing here looks at the module's own location or
the working directory: a relative root is an error, not something to resolve.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ai4artsed_storage._errors import StorageConfigError

APP_NAME = "ai4artsed"
ENV_PREFIX = "AI4ARTSED_"
CONFIG_ENV = "AI4ARTSED_CONFIG"
DEFAULT_CONFIG_FILE = Path("/etc/ai4artsed/storage.toml")
PRODUCTION_ROOT = Path("/var/ai4artsed/storage")


def default_storage_root() -> Path:
    """platformdirs' user data path for ``ai4artsed``, with ``storage`` below it."""
    return platformdirs.user_data_path(APP_NAME) / "storage"


def config_file_path() -> Path:
    """The TOML config file in force: ``$AI4ARTSED_CONFIG`` or ``/etc/ai4artsed/storage.toml``."""
    named = os.environ.get(CONFIG_ENV)
    return Path(named) if named else DEFAULT_CONFIG_FILE


def _check_root_text(value: Path) -> Path:
    if str(value).startswith("~"):
        raise ValueError("it has an unexpanded '~'; write the absolute path")
    if not value.is_absolute():
        raise ValueError(
            "it is relative; it must be absolute, since a relative root would follow the "
            "working directory (the cause of the image 404s)"
        )
    return value


class StorageSettings(BaseSettings):
    """Every setting of the library; env ``AI4ARTSED_<NAME>`` or the TOML key ``<name>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    storage_root: Path = Field(
        default_factory=default_storage_root,
        description="Absolute folder holding json/, uploads_tmp/, ... (mirrors exports/).",
    )
    upload_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest accepted image upload."
    )
    x_accel_redirect: str | None = Field(
        default=None,
        description="Internal nginx location mapped to the root (e.g. /_storage/); when set, "
        "media routes answer with X-Accel-Redirect and nginx sends the bytes.",
    )
    comfyui_url: str = Field(
        default="http://127.0.0.1:7821", description="ComfyUI base URL for downloads."
    )
    host: str = Field(default="127.0.0.1", description="Address the reference backend binds.")
    port: int = Field(default=17801, ge=1, le=65535, description="Port of the backend.")
    threads: int = Field(default=8, ge=1, le=256, description="waitress worker threads.")
    gallery_runs: int = Field(default=24, ge=1, le=500, description="Runs on the gallery page.")

    @field_validator("storage_root")
    @classmethod
    def _root_is_absolute(cls, value: Path) -> Path:
        return _check_root_text(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _StrictTomlSource(settings_cls, config_file_path()),
        )


class _StrictTomlSource(TomlConfigSettingsSource):
    """The TOML source, but a broken or explicitly named missing file is an error, not {}."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.config_path = path
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            with Path(file_path).open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise StorageConfigError(
                f"config file is not valid TOML ({error})", source=str(file_path)
            ) from error
        except PermissionError as error:
            raise StorageConfigError("config file is unreadable", source=str(file_path)) from error

    def _read_files(self, files: Any, deep_merge: bool = False) -> dict[str, Any]:
        if not self.config_path.exists():
            if os.environ.get(CONFIG_ENV):
                raise StorageConfigError(
                    f"{CONFIG_ENV} names a config file that does not exist",
                    source=str(self.config_path),
                )
            return {}
        return self._read_file(self.config_path)


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings plus, for the storage root, a human account of where it came from."""

    settings: StorageSettings
    root_source: str

    @property
    def storage_root(self) -> Path:
        return self.settings.storage_root


def _root_origin() -> tuple[str, object]:
    env_name = f"{ENV_PREFIX}STORAGE_ROOT"
    if env_name in os.environ:
        return f"environment variable {env_name}", os.environ[env_name]
    config = config_file_path()
    if config.exists():
        source = _StrictTomlSource(StorageSettings, config)
        data = source()
        if "storage_root" in data:
            return f"config file {config}", data["storage_root"]
    return "default (platformdirs user data path)", default_storage_root()


def load_settings(**overrides: Any) -> ResolvedSettings:
    """Read the settings in precedence order and say where the root came from.

    Keyword overrides win over everything (used by tests and the CLI's ``--root``).

    :raises StorageConfigError: for a relative or ``~`` root, a broken config file or any
        other invalid value; the message names the value and its source.
    """
    if "storage_root" in overrides:
        source, raw = "explicit argument", overrides["storage_root"]
    else:
        source, raw = _root_origin()
    try:
        settings = StorageSettings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        value = raw if field == "storage_root" else first.get("input")
        where = source if field == "storage_root" else _origin_of(field)
        raise StorageConfigError(
            f"invalid {field}: {first['msg'].removeprefix('Value error, ')}",
            value=value,
            source=where,
        ) from None
    return ResolvedSettings(settings=settings, root_source=source)


def _origin_of(field: str) -> str:
    env_name = f"{ENV_PREFIX}{field.upper()}"
    if env_name in os.environ:
        return f"environment variable {env_name}"
    return f"config file {config_file_path()}"
