"""`imagegen audit image FILE`: the model version behind an image, and its nearest works."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imagegen.provenance.audit import AuditError, download_lineage, version_of_run
from imagegen.provenance.content_credentials import read_credentials
from imagegen.provenance.generation_index import GenerationIndex, find_generated
from imagegen.provenance.generation_ledger import ledger_path
from imagegen.provenance.watermark import detect_file
from imagegen.provenance.xmp import read_png_provenance


def _load_image(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    from imagegen.images import to_model_input, to_model_range

    with Image.open(path) as image:
        image.load()
        return to_model_range(to_model_input(image, size, channels))


def _local_training_images(root: Path, manifest: pd.DataFrame):
    """Training images on disk whose pixels still match the version's manifest."""
    from kedro.config import MissingConfigException

    from imagegen.framework.resolvers import catalog_filepath

    try:
        path = catalog_filepath("training_set", root)
    except (MissingConfigException, KeyError):  # no project here: nothing on disk
        return None, 0
    if not path.exists():
        return None, 0
    with np.load(path, allow_pickle=False) as archive:
        images, ids, digests = (
            archive["images"],
            archive["work_ids"],
            archive["pixels_sha256"],
        )
    expected = dict(zip(manifest["work_id"], manifest["derived_sha256"], strict=True))
    keep = np.array([expected.get(w) == d for w, d in zip(ids, digests, strict=True)])
    return (images[keep], ids[keep]), int(keep.sum())


DEFAULT_MAX_PIXELS = 89_478_485  # conf/base/policy.yml (Pillow's own limit)
DEFAULT_SVG_SIDE = 256


def _raw_training_images(
    raw_dir: str, root: Path, manifest: pd.DataFrame, params: dict[str, str]
):
    """The version's training images rebuilt from the raw works its lineage names.

    Each work is decoded as preprocessing decoded it and must give the pixels
    whose digest the manifest recorded. Returns ((images, work ids), None), or
    (None, why) naming the first work that is missing or changed.
    """
    from imagegen.datasets.raw_folder import RawFolder
    from imagegen.images import open_image, to_model_input, to_model_range

    folder = Path(raw_dir) if Path(raw_dir).is_absolute() else root / raw_dir
    size = int(params.get("preprocessing.image_size", 0) or 0)
    channels = int(params.get("preprocessing.channels", 0) or 0)
    if not raw_dir or not size or not channels:
        return None, "the version's run records no raw_dir or image size"
    if not folder.is_dir():
        return None, f"raw folder {folder} (raw_dir of the version's run) is missing"
    raw = RawFolder(str(folder))
    max_pixels = int(params.get("policy.max_pixels", DEFAULT_MAX_PIXELS))
    svg_side = int(params.get("policy.svg_render_side", DEFAULT_SVG_SIDE))
    images = np.empty((len(manifest), size, size, channels), dtype=np.uint8)
    for index, row in enumerate(manifest.itertuples(index=False)):
        path = folder / row.path
        try:
            with open_image(raw.resolve(row.path), max_pixels, svg_side) as image:
                images[index] = to_model_input(image, size, channels)
        except FileNotFoundError:
            return None, f"{path} is missing (work {row.work_id[:16]})"
        except (OSError, ValueError) as exc:
            return None, f"{path} does not decode ({type(exc).__name__})"
        if hashlib.sha256(images[index].tobytes()).hexdigest() != row.derived_sha256:
            return None, f"{path} changed since training (work {row.work_id[:16]})"
    return (to_model_range(images), manifest["work_id"].to_numpy()), None


def _by_entry_prefix(ledger: Path, prefix: str) -> dict[str, Any] | None:
    """The newest ledger entry whose id starts with the watermark's 8 hex digits."""
    index = GenerationIndex(ledger)
    try:
        index.update()
    except PermissionError:  # find_generated indexed it in a private cache
        key = hashlib.sha256(str(ledger.absolute()).encode()).hexdigest()[:16]
        index = GenerationIndex(
            ledger, Path(tempfile.gettempdir()) / f"imagegen-index-{key}"
        )
        index.update()
    return index.by_entry_prefix(prefix)


def _watermark(data: bytes) -> dict[str, Any] | None:
    try:
        found = detect_file(data)
    except (OSError, ValueError):
        return None
    if found is None:
        return None
    return {"entry_prefix": found.entry_prefix, "reliability": found.reliability}


def _trace(data: bytes, ledger: Path | None, entry_id: str | None):
    """The image's ledger entry (digest, id, watermark, fingerprint) and its mark."""
    match = find_generated(data, ledger, entry_id) if ledger is not None else None
    mark = _watermark(data)
    if mark is not None and ledger is not None and ledger.exists():
        entry = _by_entry_prefix(ledger, mark["entry_prefix"])
        mark["entry_id"] = "" if entry is None else entry.get("entry_id", "")
        if entry is not None and (match is None or match["match"] == "fingerprint"):
            # The mark names the entry; a fingerprint only resembles one.
            match = {**entry, "match": "watermark", "similarity": 1.0}
    return match, mark


def _find_version(client, provenance: dict[str, str], file: Path):
    """The registry version named in the XMP; served images name only the run."""
    name = provenance["model_name"]
    try:
        if provenance.get("model_version"):
            return client.get_model_version(name, provenance["model_version"])
        if provenance.get("run_id"):
            found = version_of_run(client, name, provenance["run_id"])
            if found is not None:
                return found
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own exception types
        raise AuditError(f"{file}: {name} is not in the registry") from exc
    raise AuditError(f"{file}: no registry version of {name} matches its provenance")


def audit_image(file: Path, root: Path, top: int = 5) -> dict[str, Any]:
    """Provenance of `file` and the training works nearest to it (pixels + SSIM)."""
    from mlflow import MlflowClient
    from skimage.metrics import structural_similarity

    try:
        provenance = read_png_provenance(file)
    except (OSError, ValueError, SyntaxError):
        provenance = {}
    data = file.read_bytes()
    credentials = read_credentials(data)
    signed = credentials.get("assertion") or {}
    if not provenance.get("model_name") and signed.get("model_name"):
        provenance = {
            **signed,
            "digital_source_type": credentials.get("digital_source_type") or "-",
        }
    ledger = ledger_path()
    ledger = ledger if ledger is None or ledger.is_absolute() else root / ledger
    entry_id = provenance.get("entry_id") or signed.get("entry_id")
    match, mark = _trace(data, ledger, entry_id)
    if not provenance.get("model_name") and match is not None:
        # Metadata stripped or re-encoded: the generation ledger still knows it.
        provenance = {
            k: str(match[k])
            for k in (
                "model_name",
                "model_version",
                "run_id",
                "seed",
                "index",
                "dataset_digest",
                "generated_at",
                "entry_id",
            )
            if match.get(k) not in (None, "")
        }
        provenance["digital_source_type"] = (
            "(not in the file; from the generation ledger)"
        )
    if not provenance.get("model_name"):
        raise AuditError(
            f"{file}: no imagegen provenance metadata (XMP or C2PA) and no match "
            "in the generation ledger"
        )
    client = MlflowClient()
    version = _find_version(client, provenance, file)
    report: dict[str, Any] = {
        "file": str(file),
        "provenance": provenance,
        "model": {
            "name": version.name,
            "version": str(version.version),
            "run_id": version.run_id,
        },
        "run_id_matches": provenance.get("run_id") == version.run_id,
        "content_credentials": credentials,
        "watermark": mark,
        "ledger_match": None
        if match is None
        else {
            "match": match["match"],
            "similarity": match["similarity"],
            "seq": match["seq"],
            "entry_id": match.get("entry_id", ""),
            "source": match.get("source", ""),
            "time": match.get("time", ""),
        },
        "nearest": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        local = download_lineage(client, version.run_id, tmp)
        manifest = pd.read_csv(
            local / "training_manifest.csv", dtype=str, keep_default_na=False
        )
        digest = json.loads((local / "dataset_digest.json").read_text())
    report["dataset_digest"] = digest["dataset_digest"]
    found, matched = _local_training_images(root, manifest)
    report["training_works"] = int(len(manifest))
    report["training_set_source"] = "training set on disk"
    if matched < len(manifest):
        # The training set on disk is another run's: rebuild this version's
        # from the raw works its lineage names.
        params = client.get_run(version.run_id).data.params
        rebuilt, why = _raw_training_images(
            params.get("raw_dir", ""), root, manifest, params
        )
        if rebuilt is not None:
            found, matched = rebuilt, len(manifest)
            report["training_set_source"] = f"raw works in {params['raw_dir']}"
        else:
            report["training_set_missing"] = (
                f"{why}; restore it from the works listed in lineage/"
                f"training_manifest.csv of run {version.run_id} (paths relative "
                "to raw_dir) to search every training work"
            )
    report["training_works_on_disk"] = matched
    if not found or matched == 0:
        return report
    images, ids = found
    query = _load_image(file, images.shape[1], images.shape[-1])
    distances = np.sqrt(((images - query) ** 2).reshape(len(images), -1).mean(axis=1))
    by_id = manifest.set_index("work_id")
    for index in np.argsort(distances)[:top]:
        work = by_id.loc[ids[index]]
        ssim = structural_similarity(
            images[index], query, channel_axis=-1, data_range=2.0
        )
        report["nearest"].append(
            {
                "work_id": str(ids[index]),
                "title": work["title"],
                "creator": work["creator"],
                "licence": work["licence"],
                "source_url": work["source_url"],
                "pixel_rmse": float(distances[index]),
                "ssim": float(ssim),
            }
        )
    return report


def _credentials_line(c: dict[str, Any]) -> str:
    """C2PA verdict in one line: present, intact, signed by a trusted chain."""
    if not c.get("present"):
        return "C2PA manifest: none"
    if c.get("hash_mismatch"):
        return (
            "C2PA manifest: present but NOT intact: the image changed after signing "
            f"(hash binding failed: {', '.join(c['failures'])})"
        )
    if not c.get("intact"):
        return f"C2PA manifest: present but invalid ({', '.join(c['failures'])})"
    trust = (
        "signed by a trusted chain"
        if c.get("trusted")
        else "signer NOT trusted (no CA in IMAGEGEN_C2PA_TRUST_ANCHORS vouches for it)"
    )
    return f"C2PA manifest: present, intact, {trust}"


def format_image_audit(report: dict[str, Any]) -> str:
    model = report["model"]
    lines = [
        f"{report['file']}: generated by {model['name']} version {model['version']} "
        f"(run {model['run_id']})",
        f"digital source type: {report['provenance'].get('digital_source_type', '-')}",
        f"seed {report['provenance'].get('seed', '-')}, index "
        f"{report['provenance'].get('index', '-')}, generated "
        f"{report['provenance'].get('generated_at', '-')}",
        f"training set: {report['training_works']} works "
        f"({report['training_works_on_disk']} on disk, from the "
        f"{report.get('training_set_source', 'training set on disk')}), "
        f"digest {report['dataset_digest']}",
    ]
    lines.append(_credentials_line(report["content_credentials"]))
    mark = report.get("watermark")
    if mark:
        lines.append(
            f"watermark: entry prefix {mark['entry_prefix']} (reliability "
            f"{mark['reliability']}), ledger entry {mark.get('entry_id') or 'not found'}"
        )
    else:
        lines.append("watermark: none found")
    if report["ledger_match"]:
        m = report["ledger_match"]
        lines.append(
            f"generation ledger: {m['match']} match (similarity {m['similarity']}), "
            f"entry {m['entry_id'] or '-'} (seq {m['seq']}), {m['source']} at {m['time']}"
        )
    else:
        lines.append("generation ledger: no entry for this image")
    if not report["run_id_matches"]:
        lines.append("warning: the run id in the image differs from the registry's")
    if report["nearest"] and report.get("training_set_missing"):
        lines.append(
            f"warning: searched only the {report['training_works_on_disk']} of "
            f"{report['training_works']} training works on disk: "
            + report["training_set_missing"]
        )
    if report["nearest"]:
        lines.append("nearest training works (pixel RMSE in [-1, 1] units, SSIM):")
        for n in report["nearest"]:
            lines.append(
                f"  {n['work_id'][:16]}  rmse {n['pixel_rmse']:.3f}  ssim {n['ssim']:.3f}  "
                f"{n['creator']} — {n['title']} ({n['licence']})"
            )
    else:
        lines.append(
            "nearest training works: none on disk: "
            + report.get("training_set_missing", "training set not found")
        )
    return "\n".join(lines)
