"""img2img uploads under ``<root>/uploads_tmp``: storing them and finding them again.

The frontend gets an upload's absolute path and later sends it back as ``input_image``; the
pipeline opens whatever it is given. So the way back in (:func:`resolve_upload`) accepts
only an upload id or a path of a stored upload, and nothing else on the host.
"""

from __future__ import annotations

import io
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from ai4artsed_storage._atomic import commit_temp, make_dirs, temp_file_in
from ai4artsed_storage._errors import InvalidUpload, UnsafePath
from ai4artsed_storage._ids import is_safe_id
from ai4artsed_storage._root import StorageRoot
from ai4artsed_storage._runs import is_safe_relative
from ai4artsed_storage._settings import load_settings

#: Extensions the upload route takes and ``/uploads/<id>`` looks for, as the webserver does.
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
#: Uploads are downscaled to fit this (the models' largest input), as the webserver does.
MAX_SIDE = 2048
#: Decoding more pixels than this could take gigabytes from a 10 MB file (a "PNG bomb").
MAX_PIXELS = 8192 * 8192
MASKS_FOLDER = "masks"
#: The webserver's folder names: a path ``.../exports/uploads_tmp/<name>`` from before the
#: root existed still names ``<root>/uploads_tmp/<name>``.
_EXPORTS_UPLOADS = ("exports", "uploads_tmp")
#: PIL format of the decoded content -> (stored extension, PIL save format). JPEG becomes PNG
#: (lossless from here on, as the webserver stores it).
_STORED_AS = {"PNG": ("png", "PNG"), "JPEG": ("png", "PNG"), "WEBP": ("webp", "WEBP")}


@dataclass(frozen=True)
class StoredUpload:
    """An upload written under the root; ``path`` is absolute and inside ``uploads_tmp``."""

    image_id: str
    path: Path
    original_filename: str
    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    file_size_bytes: int

    @property
    def filename(self) -> str:
        return self.path.name


def _decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in _STORED_AS:
                raise InvalidUpload(f"content is {image.format or 'unknown'}, not PNG/JPEG/WEBP")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidUpload(f"{width}x{height} pixels is too large to decode")
            image.load()
    except InvalidUpload:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning) as error:
        raise InvalidUpload(f"not a readable image ({error})") from error
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """Transparent pixels onto white, as the webserver does: the models take RGB."""
    if image.mode in ("RGB", "L"):
        return image
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _fit(image: Image.Image) -> Image.Image:
    width, height = image.size
    if width <= MAX_SIDE and height <= MAX_SIDE:
        return image
    scale = MAX_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def store_upload(
    root: StorageRoot, data: bytes, original_filename: str, *, max_bytes: int
) -> StoredUpload:
    """Check *data* is a real image of an accepted type and store it atomically.

    :raises InvalidUpload: when it is larger than *max_bytes*, its name has another
        extension, or its content does not decode as PNG, JPEG or WEBP.
    """
    if len(data) > max_bytes:
        raise InvalidUpload(f"{len(data)} bytes is over the limit of {max_bytes}")
    extension = PurePosixPath(original_filename).suffix.lstrip(".").lower()
    if extension not in UPLOAD_EXTENSIONS:
        raise InvalidUpload(f"file type {extension or 'none'!r}; allowed: png, jpg, jpeg, webp")
    image = _decode(data)
    stored_extension, save_format = _STORED_AS[str(image.format)]
    original_size = image.size
    result = _fit(_flatten(image))
    image_id = str(uuid.uuid4())
    make_dirs(root.uploads_dir)
    target = root.uploads_dir / f"{image_id}.{stored_extension}"
    with temp_file_in(root.uploads_dir, target.name) as (handle, temp):
        result.save(handle, format=save_format)
        handle.flush()
        os.fsync(handle.fileno())
        commit_temp(temp, target)
    return StoredUpload(
        image_id=image_id,
        path=target,
        original_filename=PurePosixPath(original_filename.replace("\\", "/")).name,
        original_size=original_size,
        resized_size=result.size,
        file_size_bytes=target.stat().st_size,
    )


def _existing(root: StorageRoot, candidate: Path) -> Path | None:
    try:
        real = root.contain(candidate, root.uploads_dir)
    except (UnsafePath, OSError, RuntimeError):
        return None
    return real if real.is_file() else None


def upload_file(root: StorageRoot, image_id: str) -> Path | None:
    """The stored file of upload *image_id* (any accepted extension), or None."""
    if not is_safe_id(image_id):
        return None
    for extension in UPLOAD_EXTENSIONS:
        found = _existing(root, root.uploads_dir / f"{image_id}.{extension}")
        if found is not None:
            return found
    return None


def mask_file(root: StorageRoot, image_id: str) -> Path | None:
    """The mask of upload *image_id* (``uploads_tmp/masks/<id>_mask.png``), or None."""
    if not is_safe_id(image_id):
        return None
    return _existing(root, root.uploads_dir / MASKS_FOLDER / f"{image_id}_mask.png")


def _inside_uploads(root: StorageRoot, path: Path) -> Path | None:
    """*path*'s part below an ``uploads_tmp`` folder: the root's own or an old exports/ one."""
    for base in (root.uploads_dir, root.uploads_dir.resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base)
    parts = path.parts
    for position in range(len(parts) - 2, 0, -1):
        if parts[position - 1 : position + 1] == _EXPORTS_UPLOADS:
            return Path(*parts[position + 1 :])
    return None


def resolve_upload(value: str, root: StorageRoot | None = None) -> Path:
    """The stored file an ``input_image`` value names, for the pipeline to open.

    Accepted: an upload id (``3f1c...``), an absolute path inside the root's
    ``uploads_tmp``, or a path under an old ``<checkout>/exports/uploads_tmp`` (mapped into
    the root). The answer is the real path of a regular file inside ``<root>/uploads_tmp``.

    :param root: the storage root; the configured one when None.
    :raises InvalidUpload: for anything else (other paths, ``..``, symlinks leading out, a
        missing file).
    """
    if root is None:
        resolved = load_settings()
        root = StorageRoot(resolved.storage_root, source=resolved.root_source)
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidUpload("empty or malformed reference")
    if is_safe_id(value):
        found = upload_file(root, value)
        if found is None:
            raise InvalidUpload(f"no upload with id {value!r}")
        return found
    path = Path(value)
    relative = _inside_uploads(root, path) if path.is_absolute() else None
    if relative is None or not is_safe_relative(relative.as_posix()):
        raise InvalidUpload(f"{value!r} is not an upload under {root.uploads_dir}")
    found = _existing(root, root.uploads_dir / relative)
    if found is None:
        raise InvalidUpload(f"no stored upload at {value!r}")
    return found
