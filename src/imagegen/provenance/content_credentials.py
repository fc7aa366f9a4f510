"""Signed C2PA manifests (content credentials) on generated images, and reading them back.

Each image handed out gets a `c2pa.actions` assertion (`c2pa.created`,
digitalSourceType trainedAlgorithmicMedia) and our `dev.imagegen.generation`
assertion (model name, version, run id, dataset digest, seed, index and the
generation-ledger entry id), signed with c2pa-python.

The signer comes from the environment, never from the repository:
`IMAGEGEN_C2PA_SIGN_KEY` (PEM private key file), `IMAGEGEN_C2PA_SIGN_CERTS`
(PEM chain file: signing certificate first), `IMAGEGEN_C2PA_SIGN_ALG`
(default es256) and optional `IMAGEGEN_C2PA_TSA_URL`. Without them images
keep their XMP label and the log says once that they are unsigned. Readers
trust the CA bundle in `IMAGEGEN_C2PA_TRUST_ANCHORS`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from imagegen.provenance.xmp import TRAINED_ALGORITHMIC_MEDIA

logger = logging.getLogger(__name__)

KEY_ENV = "IMAGEGEN_C2PA_SIGN_KEY"
CERTS_ENV = "IMAGEGEN_C2PA_SIGN_CERTS"
ALG_ENV = "IMAGEGEN_C2PA_SIGN_ALG"
TSA_ENV = "IMAGEGEN_C2PA_TSA_URL"
TRUST_ENV = "IMAGEGEN_C2PA_TRUST_ANCHORS"
ASSERTION = "dev.imagegen.generation"
ASSERTION_KEYS = (
    "model_name",
    "model_version",
    "run_id",
    "dataset_digest",
    "seed",
    "index",
    "entry_id",
)
# Validation codes that mean the image's bytes no longer match the manifest.
_BINDING_FAILURES = ("assertion.dataHash.mismatch", "assertion.boxesHash.mismatch")
_UNTRUSTED = "signingCredential.untrusted"

_NO_THUMBNAIL = {"builder": {"thumbnail": {"enabled": False}}}

_warned = threading.Event()
_cache: dict[tuple[str, ...], tuple[bytes, bytes]] = {}


class SigningError(RuntimeError):
    """The configured signer cannot be used (one line names the variable)."""


def _signer_files() -> tuple[str, str, str, str | None] | None:
    key, certs = os.environ.get(KEY_ENV, ""), os.environ.get(CERTS_ENV, "")
    if not key or not certs:
        return None
    return key, certs, os.environ.get(ALG_ENV, "es256"), os.environ.get(TSA_ENV)


def signing_configured() -> bool:
    return _signer_files() is not None


def _pems(key_path: str, certs_path: str) -> tuple[bytes, bytes]:
    cached = _cache.get((key_path, certs_path))
    if cached is None:
        try:
            cached = (Path(certs_path).read_bytes(), Path(key_path).read_bytes())
        except OSError as exc:
            raise SigningError(
                f"{KEY_ENV}/{CERTS_ENV}: cannot read {exc.filename}"
            ) from exc
        _cache[(key_path, certs_path)] = cached
    return cached


def manifest_definition(provenance: dict[str, Any], mime: str) -> dict[str, Any]:
    """The manifest we sign: created by a trained model, plus our generation assertion."""
    import imagegen

    ours = {
        k: str(provenance[k])
        for k in ASSERTION_KEYS
        if provenance.get(k) not in (None, "")
    }
    return {
        "claim_generator_info": [
            {"name": "imagegen", "version": str(imagegen.__version__)}
        ],
        "format": mime,
        "title": f"{ours.get('model_name', 'imagegen')} image",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {
                                "name": "imagegen",
                                "version": str(imagegen.__version__),
                            },
                        }
                    ]
                },
            },
            {"label": ASSERTION, "data": ours},
        ],
    }


def sign_image(
    data: bytes, provenance: dict[str, Any], mime: str = "image/png"
) -> bytes:
    """`data` with a signed manifest embedded; unchanged (logged once) without a signer."""
    files = _signer_files()
    if files is None:
        if not _warned.is_set():
            _warned.set()
            logger.warning(
                "generated images are not C2PA-signed: set %s and %s "
                "(docs/provenance.md); they still carry XMP provenance",
                KEY_ENV,
                CERTS_ENV,
            )
        return data
    import c2pa

    key_path, certs_path, alg, tsa = files
    chain, private = _pems(key_path, certs_path)
    info = c2pa.C2paSignerInfo(
        alg=alg.encode(),
        sign_cert=chain,
        private_key=private,
        ta_url=tsa.encode() if tsa else None,
    )
    out = io.BytesIO()
    try:
        with (
            # No thumbnail: it grew a 28x28 PNG from 1 KB to 70 KB.
            c2pa.Context.from_dict(_NO_THUMBNAIL) as context,
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(
                manifest_definition(provenance, mime), context=context
            ) as builder,
        ):
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise SigningError(
            f"{KEY_ENV}/{CERTS_ENV}: C2PA signing failed: {exc}"
        ) from exc
    return out.getvalue()


def _mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _bounded(data: Any) -> dict[str, str]:
    """Our assertion's known keys only, as short printable text (a file is hostile)."""
    if not isinstance(data, dict):
        return {}
    return {
        k: "".join(c for c in str(data[k]) if c.isprintable())[:200]
        for k in ASSERTION_KEYS
        if k in data
    }


def read_credentials(data: bytes, trust_anchors: str | None = None) -> dict[str, Any]:
    """Whether `data` carries a manifest, whether it is intact and signed by a trusted chain.

    Returns `present`, `intact` (signature and hash binding valid), `trusted`
    (the chain ends at a CA in `trust_anchors`, default IMAGEGEN_C2PA_TRUST_ANCHORS),
    `state` (c2pa's validation state), `failures` (codes), `digital_source_type`
    and `assertion` (ours, when there).
    """
    import c2pa

    report: dict[str, Any] = {
        "present": False,
        "intact": False,
        "trusted": False,
        "state": None,
        "failures": [],
        "digital_source_type": None,
        "assertion": None,
    }
    mime = _mime(data)
    if mime is None:
        return report
    anchors = trust_anchors or os.environ.get(TRUST_ENV) or None
    settings: dict[str, Any] = {"verify": {"verify_trust": bool(anchors)}}
    if anchors:
        settings["trust"] = {"trust_anchors": Path(anchors).read_text()}
    try:
        with (
            c2pa.Context.from_dict(settings) as context,
            c2pa.Reader(mime, io.BytesIO(data), context=context) as reader,
        ):
            store = json.loads(reader.json())
    except c2pa.C2paError:  # no manifest (or none we can parse)
        return report
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    report["present"] = bool(active)
    report["state"] = store.get("validation_state")
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = [f.get("code", "") for f in results.get("failure", [])]
    failures += [f.get("code", "") for f in store.get("validation_status", []) or []]
    report["failures"] = sorted(set(failures))
    report["intact"] = report["present"] and not [
        f for f in report["failures"] if f != _UNTRUSTED
    ]
    report["trusted"] = (
        report["intact"] and bool(anchors) and _UNTRUSTED not in report["failures"]
    )
    report["hash_mismatch"] = any(
        f.startswith(_BINDING_FAILURES) for f in report["failures"]
    )
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if action.get("action") == "c2pa.created":
                    report["digital_source_type"] = action.get("digitalSourceType")
        elif assertion.get("label") == ASSERTION:
            report["assertion"] = _bounded(assertion.get("data"))
    return report
