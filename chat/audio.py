"""What a recorded voice question is: its container, codec and length, read from the bytes alone.

The widget records with MediaRecorder: WebM/Opus in Chromium and Firefox's newer releases,
Ogg/Opus in older Firefox, MP4/AAC in Safari. Uploads from other clients may be WAV, MP3, FLAC
or M4A. The customer's file name and declared type are never trusted: the first bytes decide.

WAV, WebM and MP4 are read here (what MediaRecorder writes has no length in its header: a WebM's
is its last audio block's time, a fragmented MP4's the end of its last fragment); Ogg, MP3 and
FLAC through `mutagen`. Anything that
is not one of these containers with a codec the transcription endpoints take is refused with a
4xx that says what to send instead.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from core.errors import EmptyUpload, PayloadTooLarge, UnsupportedFormat, ValidationFailed

ACCEPTED = "WebM or Ogg (Opus/Vorbis), WAV (PCM), MP3, M4A/MP4 (AAC) or FLAC"
# A recording may end a little after the limit (the widget stops at the limit; encoders pad).
LENGTH_TOLERANCE_SECONDS = 1.0


@dataclass(frozen=True)
class AudioClip:
    """A checked recording, ready to send to a transcription endpoint."""

    data: bytes
    container: str  # webm | ogg | wav | mp3 | mp4 | flac
    codec: str
    seconds: float

    @property
    def extension(self) -> str:
        return {"mp4": ".m4a"}.get(self.container, "." + self.container)

    @property
    def content_type(self) -> str:
        return {"mp3": "audio/mpeg", "mp4": "audio/mp4"}.get(self.container, "audio/" + self.container)

    @property
    def filename(self) -> str:
        return "question" + self.extension


def inspect_audio(data: bytes, *, max_seconds: float, max_bytes: int) -> AudioClip:
    """The recording's container, codec and length; 4xx (empty, too large, too long, not audio, codec)."""
    if not data:
        raise EmptyUpload("The recording is empty: record your question again (hold the microphone a moment longer).")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The recording is {len(data) / 1048576:.1f} MB; the limit is "
                              f"{max_bytes / 1048576:.0f} MB. Record a shorter question.")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        clip = _wav(data)
    elif data[:4] == b"\x1a\x45\xdf\xa3":
        clip = _matroska(data)
    elif data[4:8] == b"ftyp":
        clip = _mp4(data)
    else:
        clip = _by_mutagen(data)
    if clip.seconds <= 0.05:
        raise EmptyUpload("The recording has no sound in it: record your question again.")
    if clip.seconds > max_seconds + LENGTH_TOLERANCE_SECONDS:
        raise ValidationFailed(f"The recording is {clip.seconds:.0f} seconds long; the limit is "
                               f"{max_seconds:.0f} seconds. Ask a shorter question, or type it.")
    return clip


def _not_audio() -> UnsupportedFormat:
    return UnsupportedFormat(f"This is not an audio recording Kefu can read. Send {ACCEPTED}.")


def _unsupported(container: str, codec: str) -> UnsupportedFormat:
    return UnsupportedFormat(f"The recording is {container} with the {codec} codec, which speech recognition "
                             f"does not take. Send {ACCEPTED}.")


# ---- WAV ----------------------------------------------------------------------------------------
_WAV_CODECS = {1: "pcm", 3: "float"}


def _wav(data: bytes) -> AudioClip:
    fmt: tuple[int, int, int] | None = None  # format tag, byte rate, bits
    offset, data_bytes = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk == b"fmt " and size >= 16:
            tag, _channels, _rate, byte_rate, _align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
                tag = struct.unpack_from("<H", data, body + 24)[0]
            fmt = (tag, byte_rate, bits)
        elif chunk == b"data":
            data_bytes = min(size, len(data) - body)  # streamed WAVs may announce more than they hold
            break
        offset = body + size + (size & 1)
    if fmt is None or data_bytes is None:
        raise ValidationFailed(f"The WAV file is damaged (no {'format' if fmt is None else 'sound'} section). "
                               "Record the question again.")
    tag, byte_rate, _bits = fmt
    if tag not in _WAV_CODECS:
        raise _unsupported("WAV", f"format {tag:#06x}")
    if byte_rate <= 0:
        raise ValidationFailed("The WAV file is damaged (its byte rate is 0). Record the question again.")
    return AudioClip(data, "wav", _WAV_CODECS[tag], data_bytes / byte_rate)


# ---- WebM / Matroska (EBML) -----------------------------------------------------------------------
_SEGMENT, _CLUSTER, _TRACKS, _TRACK_ENTRY, _INFO, _BLOCK_GROUP = (
    0x18538067, 0x1F43B675, 0x1654AE6B, 0xAE, 0x1549A966, 0xA0)
_EBML_HEADER = 0x1A45DFA3
_CONTAINERS = {_EBML_HEADER, _SEGMENT, _CLUSTER, _TRACKS, _TRACK_ENTRY, _INFO, _BLOCK_GROUP}
_TIMECODE_SCALE, _DURATION, _TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID = 0x2AD7B1, 0x4489, 0xD7, 0x83, 0x86
_CLUSTER_TIMECODE, _SIMPLE_BLOCK, _BLOCK, _DOC_TYPE = 0xE7, 0xA3, 0xA1, 0x4282
_AUDIO_TRACK = 2
_MATROSKA_CODECS = {"A_OPUS": "opus", "A_VORBIS": "vorbis"}
_LAST_FRAME_SECONDS = 0.02  # an Opus frame (MediaRecorder's); the block's time is when it starts


def _vint(data: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `offset`: (value, length); -1 value for 'unknown size'."""
    first = data[offset]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or offset + length > len(data):
        raise ValueError("bad variable-length integer")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[offset + 1:offset + length]:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "big") if raw else 0


def _matroska(data: bytes) -> AudioClip:
    scale, declared = 1_000_000, 0.0
    tracks: list[dict[str, object]] = []
    cluster_time, last_block = 0, -1
    audio_numbers: set[int] = set()
    doc_type = ""
    offset = 0
    try:
        while offset < len(data):
            element, id_len = _vint(data, offset, keep_marker=True)
            size, size_len = _vint(data, offset + id_len, keep_marker=False)
            body = offset + id_len + size_len
            if element in _CONTAINERS or size < 0:  # step inside (clusters a recorder streams have no size)
                if element == _TRACK_ENTRY:
                    tracks.append({})
                offset = body
                continue
            raw = data[body:body + size]
            if len(raw) < size and element not in (_SIMPLE_BLOCK, _BLOCK):
                break  # cut short: keep what was read
            if element == _DOC_TYPE:
                doc_type = raw.decode("ascii", "replace")
            elif element == _TIMECODE_SCALE:
                scale = _uint(raw) or scale
            elif element == _DURATION and size in (4, 8):
                declared = struct.unpack(">f" if size == 4 else ">d", raw)[0]
            elif tracks and element in (_TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID):
                tracks[-1][{_TRACK_NUMBER: "number", _TRACK_TYPE: "type", _CODEC_ID: "codec"}[element]] = (
                    raw.decode("ascii", "replace").rstrip("\0") if element == _CODEC_ID else _uint(raw))
            elif element == _CLUSTER_TIMECODE:
                cluster_time = _uint(raw)
            elif element in (_SIMPLE_BLOCK, _BLOCK) and len(raw) >= 4:
                if not audio_numbers:
                    audio_numbers = {int(t.get("number", 0)) for t in tracks if t.get("type") == _AUDIO_TRACK}
                track, track_len = _vint(raw, 0, keep_marker=False)
                if track in audio_numbers:
                    relative = struct.unpack_from(">h", raw, track_len)[0]
                    last_block = max(last_block, cluster_time + relative)
            offset = body + size
    except (ValueError, IndexError, struct.error):
        pass  # a damaged tail: judge by what was read before it
    container = "webm" if doc_type in ("webm", "") else "matroska"
    if not tracks:
        raise ValidationFailed("The WebM recording is damaged or cut off before its track list. Record it again.")
    audio = [t for t in tracks if t.get("type") == _AUDIO_TRACK]
    if not audio:
        raise UnsupportedFormat(f"The file has no sound track. Send {ACCEPTED}.")
    codec_id = str(audio[0].get("codec", "unknown"))
    if codec_id not in _MATROSKA_CODECS:
        raise _unsupported("WebM" if container == "webm" else "Matroska", codec_id)
    seconds = declared * scale / 1e9
    if last_block >= 0:
        seconds = max(seconds, last_block * scale / 1e9 + _LAST_FRAME_SECONDS)
    return AudioClip(data, "webm", _MATROSKA_CODECS[codec_id], seconds)


# ---- MP4 / M4A (ISO BMFF; MediaRecorder writes it fragmented: moov, then moof + mdat pairs) ---------
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf"}
_MP4_CODECS = {"mp4a": "aac", "Opus": "opus"}


def _mp4_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes between `start` and `end`: (type, body start, box end); a box cut short ends the list."""
    found, offset = [], start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1 and offset + 16 <= end:
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break
        found.append((kind, offset + header, offset + size))
        offset += size
    return found


def _mp4_walk(data: bytes, start: int, end: int, into: list[tuple[bytes, int, int, int]], depth: int = 0) -> None:
    """Every box, depth-first (type, body, end, index of the enclosing trak/traf box or -1)."""
    for kind, body, stop in _mp4_boxes(data, start, end):
        into.append((kind, body, stop, depth))
        if kind in _MP4_CONTAINERS:
            _mp4_walk(data, body, stop, into, len(into) - 1 if kind in (b"trak", b"traf") else depth)


def _mp4(data: bytes) -> AudioClip:
    boxes: list[tuple[bytes, int, int, int]] = []
    _mp4_walk(data, 0, len(data), boxes, -1)
    tracks: dict[int, dict[str, object]] = {}  # trak box index → what it says
    for kind, body, _stop, owner in boxes:
        if owner < 0 or boxes[owner][0] != b"trak":
            continue
        track = tracks.setdefault(owner, {})
        version = data[body]
        if kind == b"tkhd":
            track["id"] = struct.unpack_from(">I", data, body + (20 if version else 12))[0]
        elif kind == b"mdhd":
            if version:
                track["scale"], track["length"] = struct.unpack_from(">IQ", data, body + 20)
            else:
                track["scale"], track["length"] = struct.unpack_from(">II", data, body + 12)
        elif kind == b"hdlr":
            track["handler"] = data[body + 8:body + 12]
        elif kind == b"stsd" and body + 16 <= len(data):
            track["codec"] = data[body + 12:body + 16].decode("latin-1")
    audio = [t for t in tracks.values() if t.get("handler") == b"soun"]
    if not tracks:
        raise ValidationFailed("The MP4 recording is damaged or cut off before its track list. Record it again.")
    if not audio:
        raise UnsupportedFormat(f"The file has no sound track. Send {ACCEPTED}.")
    track = audio[0]
    codec = str(track.get("codec", "unknown"))
    if codec not in _MP4_CODECS:
        raise _unsupported("MP4", codec)
    scale = int(track.get("scale") or 0) or 1
    end_time = int(track.get("length") or 0)
    end_time = max(end_time, _fragments_end(data, boxes, int(track.get("id") or 0)))
    return AudioClip(data, "mp4", _MP4_CODECS[codec], end_time / scale)


def _fragments_end(data: bytes, boxes: list[tuple[bytes, int, int, int]], track_id: int) -> int:
    """The end of the track's last fragment, in its time scale: decode time + the samples' durations."""
    latest = 0
    fragment: dict[str, int] = {}
    for kind, body, _stop, owner in boxes:
        if kind == b"traf":
            fragment = {}
        if owner < 0 or boxes[owner][0] != b"traf":
            continue
        flags = int.from_bytes(data[body + 1:body + 4], "big")
        if kind == b"tfhd":
            fragment["track"] = struct.unpack_from(">I", data, body + 4)[0]
            at = body + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
            if flags & 0x8:
                fragment["default"] = struct.unpack_from(">I", data, at)[0]
        elif kind == b"tfdt":
            fragment["start"] = struct.unpack_from(">Q" if data[body] else ">I", data, body + 4)[0]
        elif kind == b"trun" and fragment.get("track") == track_id:
            count = struct.unpack_from(">I", data, body + 4)[0]
            at = body + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
            per_sample = 4 * bin(flags & 0xF00).count("1")
            if flags & 0x100:
                total = sum(struct.unpack_from(">I", data, at + i * per_sample)[0] for i in range(count))
            else:
                total = count * fragment.get("default", 0)
            latest = max(latest, fragment.get("start", 0) + total)
    return latest


# ---- Ogg, MP3, FLAC (mutagen; also an MP4 whose first box is not ftyp) -----------------------------
def _by_mutagen(data: bytes) -> AudioClip:
    import mutagen
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    try:
        found = mutagen.File(io.BytesIO(data))
    except Exception as exc:  # mutagen raises many kinds for damaged files
        if data[:4] == b"OggS":
            raise _unsupported("Ogg", "an unknown") from exc
        raise ValidationFailed(f"The recording is damaged and cannot be read ({type(exc).__name__}). "
                               "Record it again.") from exc
    if found is None or found.info is None:
        if data[:4] == b"OggS":
            raise _unsupported("Ogg", "an unknown")
        raise _not_audio()
    seconds = float(getattr(found.info, "length", 0.0) or 0.0)
    kinds: list[tuple[type, str, str]] = [(OggOpus, "ogg", "opus"), (OggVorbis, "ogg", "vorbis"),
                                          (OggFLAC, "ogg", "flac"), (FLAC, "flac", "flac"), (MP3, "mp3", "mp3")]
    for kind, container, codec in kinds:
        if isinstance(found, kind):
            return AudioClip(data, container, codec, seconds)
    if isinstance(found, MP4):
        codec = str(getattr(found.info, "codec", "") or "")
        if not codec.startswith("mp4a"):
            raise _unsupported("MP4", codec or "an unknown (or no audio)")
        return AudioClip(data, "mp4", codec, seconds)
    raise _unsupported(type(found).__name__, type(found.info).__name__.replace("Info", "") or "unknown")
