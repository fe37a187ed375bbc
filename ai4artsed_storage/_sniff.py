"""File kinds from the first bytes, for entities saved without a declared format."""

from __future__ import annotations

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"\x1a\x45\xdf\xa3", "webm"),
    (0, b"glTF", "glb"),
    (0, b"ID3", "mp3"),
    (4, b"ftyp", "mp4"),
)

#: Enough bytes for every signature above.
SNIFF_BYTES = 16

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "gif"})
AUDIO_EXTENSIONS = frozenset({"mp3", "wav", "ogg", "flac"})
VIDEO_EXTENSIONS = frozenset({"mp4", "webm", "avi", "mov"})


def sniff_extension(head: bytes) -> str | None:
    """The extension for data starting with *head*, or None when nothing matches."""
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "webp", b"WAVE": "wav"}.get(head[8:12])
    if len(head) >= 2 and head[0] == 0xFF and head[1] in (0xFB, 0xF3, 0xF2):
        return "mp3"
    for offset, magic, extension in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return extension
    return None
