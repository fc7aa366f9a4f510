"""A small hostile corpus of works, built in a temporary folder by the tests."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image


def png(path: Path, size=(32, 32), seed: int = 0, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def build_corpus(root: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """Write the corpus; return {path: (decision, reason)} that curation must give.

    Reason details that depend on content (work ids) are filled in here too.
    """
    expected: dict[str, tuple[str, str]] = {}
    manifest = []

    def work(rel, licence, decision, reason, seed, **kw):
        data = png(root / rel, seed=seed, **kw)
        if licence is not None:
            manifest.append(
                {
                    "path": rel,
                    "licence": licence,
                    "creator": "A. Artist",
                    "title": rel,
                    "source_url": "https://example.org/" + rel,
                }
            )
        expected[rel] = (decision, reason)
        return data

    work(
        "ok/cc_by.png",
        "https://creativecommons.org/licenses/by/4.0/",
        "accepted",
        "ok",
        1,
    )
    work("ok/cc0.png", "CC0-1.0", "accepted", "ok", 2, mode="RGBA")
    work("ok/grey.png", "Public Domain", "accepted", "ok", 3, mode="L")
    work(
        "licence/nc.png",
        "https://creativecommons.org/licenses/by-nc/4.0/",
        "rejected",
        "licence_denied:CC-BY-NC-4.0",
        4,
    )
    work(
        "licence/reserved.png",
        "All rights reserved",
        "rejected",
        "licence_denied:LicenseRef-AllRightsReserved",
        5,
    )
    work("licence/sa.png", "CC-BY-SA-4.0", "review", "licence_review:CC-BY-SA-4.0", 6)
    work("licence/none.png", None, "review", "licence_unknown", 7)
    work("licence/gibberish.png", "ask my agent", "review", "licence_unknown", 8)
    work(
        "licence/conflict.png",
        "CC0-1.0",
        "review",
        "licence_conflict:CC-BY-NC-4.0|CC0-1.0",
        9,
    )
    manifest.append(
        {
            "path": "licence/conflict.png",
            "licence": "CC-BY-NC-4.0",
            "creator": "A. Artist",
            "title": "",
            "source_url": "",
        }
    )
    taken_down = work(
        "optout/takedown.png", "CC0-1.0", "rejected", "opt_out:takedown", 10
    )
    (root / "takedown.txt").write_text(
        "# works withdrawn by their creators\n"
        + hashlib.sha256(taken_down).hexdigest()
        + "  # request 42\n"
    )
    original = work("dup/a_original.png", "CC0-1.0", "accepted", "ok", 11)
    (root / "dup/b_copy.png").write_bytes(original)
    manifest.append(
        {
            "path": "dup/b_copy.png",
            "licence": "CC0-1.0",
            "creator": "B",
            "title": "",
            "source_url": "",
        }
    )
    work_id = hashlib.sha256(original).hexdigest()
    expected["dup/b_copy.png"] = ("rejected", f"duplicate:{work_id}")
    # A link that sorts before its target is still the duplicate.
    os.symlink("../dup/a_original.png", root / "ok/0_link_to_original.png")
    expected["ok/0_link_to_original.png"] = ("rejected", f"duplicate:{work_id}")
    png(outside / "secret.png", seed=99)
    os.symlink(outside / "secret.png", root / "escape.png")
    expected["escape.png"] = ("quarantined", "not_an_image:link_outside_raw_dir")

    truncated = png(root / "broken/truncated.png", size=(64, 64), seed=12)
    (root / "broken/truncated.png").write_bytes(truncated[: len(truncated) // 2])
    expected["broken/truncated.png"] = ("quarantined", "corrupt:truncated")
    (root / "broken/empty.png").write_bytes(b"")
    expected["broken/empty.png"] = ("quarantined", "corrupt:empty")
    (root / "notes.txt").write_text("not a picture")
    expected["notes.txt"] = ("quarantined", "not_an_image:unidentified")
    work(
        "size/huge.png",
        "CC0-1.0",
        "quarantined",
        "too_large:pixels",
        13,
        size=(200, 120),
    )
    work("size/tiny.png", "CC0-1.0", "rejected", "too_small:side", 14, size=(4, 30))
    # Sidecar metadata is not a work of its own.
    (root / "ok/cc_by.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")

    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["path", "licence", "creator", "title", "source_url"]
        )
        writer.writeheader()
        writer.writerows(manifest)
    return expected


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every entry (links not followed)."""
    state = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            stat = path.lstat()
            data = (
                os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            )
            state[str(path.relative_to(root))] = (data, stat.st_mtime_ns)
    return state
