"""Evaluation nodes: quality, diversity and memorisation of generated images.

The images come from the generator, or from any folder when the run is given
`--params samples_dir=/folder` (then the generator is not loaded; see
`hooks.SamplesFolderHooks`). Every number is measured on the features of one
extractor, whose name goes into every report.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import numpy as np
import pandas as pd

from imagegen.datasets import RawFolder
from imagegen.images import open_image, to_model_input, to_model_range
from imagegen.metrics.copying import data_copying_test
from imagegen.metrics.features import train_encoder
from imagegen.metrics.gates import describe_gate, gates_passed, judge_gates
from imagegen.metrics.memorisation import audit_nearest_works

# Nodes of this pipeline that the monitor shares: they live with the metrics.
from imagegen.metrics.quality import embed_images, measure_quality  # noqa: F401
from imagegen.plots import image_grid_figure, nearest_pairs_figure
from imagegen.rights.metadata import CSP_META

logger = logging.getLogger(__name__)

# The measured numbers of evaluation_metrics.json, as the report lists them.
MEASURES = (
    "fid",
    "fid_train_vs_holdout",
    "kid",
    "kid_std",
    "kid_train_vs_holdout",
    "precision",
    "recall",
    "density",
    "coverage",
    "ct_score",
    "memorised_fraction",
    "memorised_fraction_feature",
)
# Those that also go to MLflow (prefix `evaluation.`).
MLFLOW_METRICS = (*MEASURES, "n_samples")


def train_feature_encoder(training_set: dict[str, np.ndarray], params: dict[str, Any]):
    """Train the project's own feature encoder on the training images."""
    return train_encoder(training_set["images"], params)


def sample_generator(generator, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Draw `n_samples` images from the generator with a fixed seed (classes cycled)."""
    from imagegen.models.sampling import generate_images, generator_spec, latent_noise

    latent_dim, _ = generator_spec(generator)
    noise = latent_noise(params["seed"], params["n_samples"], latent_dim)
    images = generate_images(generator, noise)
    n = len(images)
    return {
        "images": images.astype(np.float32),
        "names": np.array([f"sample_{i:05d}" for i in range(n)]),
        "source": np.array("generator"),
        "skipped": np.array([], dtype=str),
    }


def read_sample_folder(
    folder: RawFolder, image_size: int, channels: int, max_pixels: int
) -> dict[str, np.ndarray]:
    """Every decodable image of a folder, in the training images' size and range.

    Files that are not images or do not decode are listed in `skipped` with
    the reason, never fatal.
    """
    images, names, skipped = [], [], []
    for rel in folder.iter_works():
        try:
            with open_image(folder.resolve(rel), max_pixels) as image:
                images.append(to_model_input(image, image_size, channels))
            names.append(rel)
        except Exception as exc:  # one broken file must not stop the audit
            skipped.append(f"{rel}: {type(exc).__name__}: {exc}")
    for line in skipped:
        logger.warning("samples_dir: skipped %s", line)
    pixels = (
        np.stack(images) if images else np.zeros((0, image_size, image_size, channels))
    )
    return {
        "images": to_model_range(pixels.astype(np.uint8)),
        "names": np.array(names, dtype=str),
        "source": np.array(f"folder:{folder.root}"),
        "skipped": np.array(skipped, dtype=str),
    }


def collect_samples(
    generator,
    samples_folder: RawFolder,
    samples_dir: str | None,
    preprocessing: dict[str, Any],
    max_pixels: int,
    params: dict[str, Any],
) -> dict[str, np.ndarray]:
    """The images to evaluate: the folder `samples_dir` when given, else generator samples."""
    if not samples_dir:
        return sample_generator(generator, params)
    samples = read_sample_folder(
        samples_folder,
        preprocessing["image_size"],
        preprocessing["channels"],
        max_pixels,
    )
    needed = params["nearest_k"] + 1
    if len(samples["images"]) < needed:
        raise ValueError(
            f"samples_dir = {samples_dir!r}: {len(samples['images'])} readable images, "
            f"need at least {needed} (evaluation.nearest_k + 1)"
        )
    logger.info(
        "Evaluating %d images of %s (%d skipped)",
        len(samples["images"]),
        samples_folder.root,
        len(samples["skipped"]),
    )
    return samples


def measure_data_copying(
    features: dict[str, np.ndarray], params: dict[str, Any]
) -> dict[str, Any]:
    """Meehan et al.'s C_T: training works / held-back works / samples, in feature space."""
    result = data_copying_test(
        features["training"],
        features["holdout"],
        features["samples"],
        n_cells=params["ct_cells"],
        min_cell_samples=params["ct_min_cell_samples"],
        seed=params["seed"],
    )
    if result["ct_score"] is None:
        logger.warning(
            "C_T not measured: no cell holds %d held-back and %d generated samples",
            params["ct_min_cell_samples"],
            params["ct_min_cell_samples"],
        )
    else:
        logger.info(
            "C_T %.3f over %d of %d cells",
            result["ct_score"],
            result["n_cells_used"],
            result["n_cells"],
        )
    return result


def audit_memorisation(
    samples: dict[str, np.ndarray],
    features: dict[str, np.ndarray],
    training_set: dict[str, np.ndarray],
    holdout_set: dict[str, np.ndarray],
    training_manifest: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Nearest training work of every sample (pixels and features), with SSIM and credits."""
    table, summary = audit_nearest_works(
        samples["images"],
        training_set["images"],
        holdout_set["images"],
        features["samples"],
        features["training"],
        features["holdout"],
        quantile=params["memorisation_quantile"],
        space=params["memorisation_space"],
    )
    work_ids = training_set["work_ids"]
    credits = training_manifest.set_index("work_id")[
        ["creator", "licence", "title", "path"]
    ]
    table.insert(1, "sample_name", samples["names"][table["sample"]])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["work_id"] = work_ids[table["pixel_nearest"]]
    table["feature_work_id"] = work_ids[table["feature_nearest"]]
    table = table.join(credits, on="work_id")[
        [
            "rank",
            "sample",
            "sample_name",
            "memorised",
            "pixel_distance",
            "ssim",
            "work_id",
            "creator",
            "licence",
            "title",
            "path",
            "feature_distance",
            "feature_work_id",
        ]
    ]
    logger.info(
        "Memorised fraction %.3f (%s space, threshold %.4f = %.0f%% quantile of "
        "held-back works' nearest distances)",
        summary["memorised_fraction"],
        summary["space"],
        summary[f"threshold_{summary['space']}"],
        100 * summary["quantile"],
    )
    return table, summary


def summarise_evaluation(
    quality: dict[str, Any],
    copying: dict[str, Any],
    memorisation: dict[str, Any],
    samples: dict[str, np.ndarray],
    features: dict[str, np.ndarray],
    dataset_digest: dict[str, Any],
    gates: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """evaluation_metrics.json (every number, its extractor, the gates) and MLflow metrics."""
    report: dict[str, Any] = {
        **{k: v for k, v in quality.items()},
        "ct_score": copying["ct_score"],
        "memorised_fraction": memorisation["memorised_fraction"],
        "memorised_fraction_feature": memorisation["memorised_fraction_feature"],
        "extractor": str(features["extractor"]),
        "source": str(samples["source"]),
        "n_samples": len(samples["images"]),
        "n_holdout": len(features["holdout"]),
        "n_training": len(features["training"]),
        "dataset_digest": dataset_digest["dataset_digest"],
        "skipped_files": [str(s) for s in samples["skipped"]],
        "memorisation": memorisation,
        "copying": copying,
    }
    verdicts = judge_gates(report, gates)
    report["gates"] = verdicts
    report["gate_passed"] = gates_passed(verdicts)
    for gate, verdict in verdicts.items():
        log = logger.info if verdict["verdict"] in ("pass", "off") else logger.warning
        log("Gate %s", describe_gate(gate, verdict))
    metrics = {
        k: {"value": float(report[k]), "step": 0}
        for k in MLFLOW_METRICS
        if report.get(k) is not None
    }
    metrics["gate_passed"] = {"value": float(report["gate_passed"]), "step": 0}
    return report, metrics


def plot_samples(samples: dict[str, np.ndarray], params: dict[str, Any]):
    """Sample grid of the evaluated images."""
    side = int(min(params["grid_size"], np.sqrt(len(samples["images"]))))
    return image_grid_figure(samples["images"], side, title="evaluation samples")


def plot_memorisation_sheet(
    samples: dict[str, np.ndarray],
    training_set: dict[str, np.ndarray],
    memorisation_table: pd.DataFrame,
    params: dict[str, Any],
):
    """Image sheet of the closest pairs: sample | nearest training work | credits."""
    rows = memorisation_table.head(params["sheet_rows"])
    index_of = {w: i for i, w in enumerate(training_set["work_ids"])}
    pairs = [
        (
            samples["images"][row.sample],
            training_set["images"][index_of[row.work_id]],
            f"{row.sample_name}  dist {row.pixel_distance:.3f}  SSIM {row.ssim:.2f}"
            f"{'  MEMORISED' if row.memorised else ''}\n"
            f"work {row.work_id[:12]}  {row.creator}  {row.licence}",
        )
        for row in rows.itertuples()
    ]
    return nearest_pairs_figure(pairs, title="closest samples to training works")


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4g}")


def render_evaluation_report(
    report: dict[str, Any], memorisation_table: pd.DataFrame, params: dict[str, Any]
) -> str:
    """A self-contained HTML page of the numbers, gates and closest pairs."""
    metrics = pd.DataFrame(
        {"metric": MEASURES, "value": [report.get(n) for n in MEASURES]}
    )
    gates = pd.DataFrame(
        [
            {"gate": g, "metric": v["metric"], "value": v["value"], "limit": v["limit"]}
            | {"op": v["op"], "verdict": v["verdict"]}
            for g, v in report["gates"].items()
        ]
    )
    cells = pd.DataFrame(report["copying"]["cells"])
    closest = memorisation_table.head(params["sheet_rows"])
    verdict = "PASSED" if report["gate_passed"] else "FAILED"
    esc = html.escape
    return f"""<!doctype html>
<html><head><meta charset="utf-8">{CSP_META}<title>imagegen evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:small}}</style></head><body>
<h1>Evaluation: gates {verdict}</h1>
<p>Extractor: <code>{esc(report["extractor"])}</code>. Numbers from another
extractor are not comparable with these.<br>
Source: <code>{esc(report["source"])}</code>, {report["n_samples"]} images against
{report["n_holdout"]} held-back and {report["n_training"]} training works
(dataset digest <code>{esc(report["dataset_digest"][:16])}</code>).
Skipped files: {len(report["skipped_files"])}.</p>
<h2>Metrics</h2>{_html_table(metrics)}
<h2>Gates</h2>{_html_table(gates)}
<h2>Samples</h2><img src="sample_grid.png" alt="sample grid">
<h2>Memorisation</h2>
<p>Memorised: a sample whose nearest training work is at or under the
{100 * report["memorisation"]["quantile"]:.0f}% quantile of the held-back works'
own nearest distances ({esc(report["memorisation"]["space"])} space).
Full table: memorisation.csv.</p>
<img src="memorisation_sheet.png" alt="closest pairs">
{_html_table(closest)}
<h2>Data-copying test C_T, per cell</h2>{_html_table(cells)}
</body></html>
"""
