"""Settings precedence, the root's checks, and every error naming value and source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ai4artsed_storage import StorageConfigError, StorageRoot, load_settings
from ai4artsed_storage.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "storage.toml"
    monkeypatch.setenv("AI4ARTSED_CONFIG", str(path))
    return path


def test_default_is_platformdirs_user_data_path(tmp_path: Path) -> None:
    resolved = load_settings()
    assert resolved.storage_root == tmp_path / "xdg-data" / "ai4artsed" / "storage"
    assert resolved.root_source.startswith("default")


def test_config_file_beats_default(config: Path) -> None:
    config.write_text('storage_root = "/srv/from-file"\nport = 17899\n')
    resolved = load_settings()
    assert resolved.storage_root == Path("/srv/from-file")
    assert resolved.settings.port == 17899
    assert resolved.root_source == f"config file {config}"


def test_environment_beats_config_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text('storage_root = "/srv/from-file"\n')
    monkeypatch.setenv("AI4ARTSED_STORAGE_ROOT", "/srv/from-env")
    resolved = load_settings()
    assert resolved.storage_root == Path("/srv/from-env")
    assert resolved.root_source == "environment variable AI4ARTSED_STORAGE_ROOT"


def test_explicit_argument_beats_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI4ARTSED_STORAGE_ROOT", "/srv/from-env")
    resolved = load_settings(storage_root=Path("/srv/explicit"))
    assert (resolved.storage_root, resolved.root_source) == (
        Path("/srv/explicit"),
        "explicit argument",
    )


def test_same_root_from_any_working_directory(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text('storage_root = "/var/ai4artsed/storage"\n')
    seen = set()
    for folder in ("a", "b/c"):
        (tmp_path / folder).mkdir(parents=True)
        monkeypatch.chdir(tmp_path / folder)
        seen.add(load_settings().storage_root)
    assert seen == {Path("/var/ai4artsed/storage")}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("relative/storage", "relative"),
        ("exports", "relative"),
        ("~/storage", "unexpanded '~'"),
        ("~ai4artsed/storage", "unexpanded '~'"),
    ],
)
def test_bad_root_from_env_names_value_and_source(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("AI4ARTSED_STORAGE_ROOT", value)
    with pytest.raises(StorageConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert message in text
    assert f"value: {value}" in text
    assert "environment variable AI4ARTSED_STORAGE_ROOT" in text


def test_bad_root_from_file_names_the_file(config: Path) -> None:
    config.write_text('storage_root = "data/storage"\n')
    with pytest.raises(StorageConfigError, match=f"from: config file {config}"):
        load_settings()


def test_broken_and_missing_config_files(config: Path) -> None:
    config.write_text("storage_root = [\n")
    with pytest.raises(StorageConfigError, match="not valid TOML"):
        load_settings()
    config.unlink()
    with pytest.raises(StorageConfigError, match="does not exist"):
        load_settings()


def test_unknown_key_and_bad_type_in_config(config: Path) -> None:
    config.write_text('storage_rot = "/x"\n')
    with pytest.raises(StorageConfigError, match="storage_rot"):
        load_settings()
    config.write_text('port = "many"\n')
    with pytest.raises(StorageConfigError, match=f"invalid port.*value: many.*{config}"):
        load_settings()


def test_root_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("")
    with pytest.raises(StorageConfigError, match="is not a directory"):
        StorageRoot(target, source="test").open()


def test_unwritable_root_on_read_only_mount(tmp_path: Path) -> None:
    # Root bypasses permission bits, so the honest unwritable case is a read-only mount.
    # /proc/sys is read-only for everyone in a container and on this host.
    with pytest.raises(StorageConfigError, match=r"not writable|cannot be created") as caught:
        StorageRoot(Path("/proc/sys/ai4artsed"), source="test").open()
    assert "/proc/sys/ai4artsed" in str(caught.value)


def test_open_creates_the_exports_plan_with_modes(tmp_path: Path) -> None:
    root = StorageRoot(tmp_path / "new" / "root").open()
    for name in ("json", "uploads_tmp", "pipeline_runs", "html", "pdf", "xml", "docx"):
        assert (root.path / name).stat().st_mode & 0o777 == 0o750
    assert root.locks_dir.is_dir()


def test_where_prints_root_and_source(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text('storage_root = "/srv/ai4"\n')
    assert main(["where"]) == 0
    out = capsys.readouterr().out
    assert "/srv/ai4" in out and f"config file {config}" in out
    assert main(["where", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["storage_root"] == "/srv/ai4"
    assert report["folders"]["json"] == "/srv/ai4/json"


def test_where_with_bad_root_exits_1_with_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AI4ARTSED_STORAGE_ROOT", "rel")
    assert main(["where"]) == 1
    assert "value: rel" in capsys.readouterr().err


def test_package_never_resolves_from_file_or_cwd() -> None:
    """The bug class we remove: no path built from __file__ or the working directory."""
    package = Path(__import__("ai4artsed_storage").__path__[0])
    offenders = [
        f"{source.name}:{number}"
        for source in package.rglob("*.py")
        for number, line in enumerate(source.read_text().splitlines(), 1)
        if any(
            token in line
            for token in ("__file__", "Path.cwd", "os.getcwd", "Path('.')", 'Path(".")')
        )
    ]
    assert offenders == []
