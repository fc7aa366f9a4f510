"""The schema of every parameter group, and their validation when a run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from imagegen.framework.families import (
    MODEL_NAMES,
    CGANParams,
    DCGANParams,
    VAEParams,
    WGANGPParams,
)
from imagegen.framework.schema import ConfigurationError, Strict

# --- parameters -------------------------------------------------------------------


class DefaultDataParams(Strict):
    name: str = Field(min_length=1)
    dir: str = Field(min_length=1)


class DaskParams(Strict):
    # Scheduler address (tcp://host:8786); empty: a LocalCluster inside the node.
    address: str = ""
    workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    memory_limit: str = Field(default="2GiB", min_length=1)
    retries: int = Field(default=2, ge=0)
    # Chunks submitted ahead of the results (0: four per worker thread).
    tasks_in_flight: int = Field(default=0, ge=0)


class CurationParams(Strict):
    default_data: DefaultDataParams
    data_docs_dir: str = Field(min_length=1)
    workers: int | None = Field(default=None, ge=1)
    chunk_size: int = Field(default=64, ge=1)
    executor: Literal["local", "dask"] = "local"
    dask: DaskParams = DaskParams()


class PreprocessingParams(Strict):
    image_size: int = Field(gt=0, le=1024)
    channels: Literal[1, 3]
    holdout_percent: int = Field(ge=0, lt=100)
    max_works: int | None = Field(default=None, gt=0)
    # Classes for cgan: the manifest's label column, or the top-level folder.
    class_from: Literal["manifest", "folder"] = "manifest"


class DiffAugmentParams(Strict):
    ops: list[Literal["colour", "translation", "cutout"]] = Field(min_length=1)
    translation: float = Field(default=0.125, ge=0, le=0.5)
    cutout: float = Field(default=0.5, gt=0, le=1)


class ADAParams(Strict):
    ops: list[
        Literal["xflip", "rotate90", "translation", "scale", "colour", "cutout"]
    ] = Field(min_length=1)
    translation: float = Field(default=0.125, ge=0, le=0.5)
    cutout: float = Field(default=0.5, gt=0, le=1)
    target: float = Field(default=0.6, gt=0, lt=1)
    speed_images: int = Field(default=50_000, gt=0)
    p_max: float = Field(default=0.8, gt=0, le=1)


class AugmentationParams(Strict):
    diffaugment: DiffAugmentParams
    ada: ADAParams


class TrainingParams(Strict):
    model: Literal[MODEL_NAMES]  # type: ignore[valid-type]
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    latent_dim: int = Field(gt=0)
    seed: int = Field(ge=0)
    grid_size: int = Field(gt=0, le=16)
    # One block per family; all are checked, the one named by `model` is used.
    dcgan: DCGANParams
    cgan: CGANParams
    wgan_gp: WGANGPParams
    vae: VAEParams
    jit_compile: Literal["auto", True, False]
    mixed_precision: Literal["auto", True, False]
    distribution: Literal["default", "mirrored", "multi_worker"]
    # Checked against the process's Keras backend at start (KERAS_BACKEND).
    backend: Literal["auto", "tensorflow", "jax"] = "auto"
    checkpoint_dir: str = Field(min_length=1)
    run_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    checkpoint_every_n_steps: int = Field(ge=0)
    checkpoints_to_keep: int = Field(ge=1)
    resume: bool
    collapse_threshold: float = Field(ge=0, lt=1)
    on_collapse: Literal["warn", "stop"] = "warn"
    collapse_check_every_n_steps: int = Field(default=0, ge=0)
    progress_bar: bool
    augment: Literal["none", "diffaugment", "ada"] = "none"
    augmentation: AugmentationParams | None = None
    ema_decay: float = Field(default=0.0, ge=0, lt=1)
    # Sharded training sets only: 0 = one permutation of all works per epoch
    # (read by seeking); N = shards streamed through a seeded buffer of N works.
    shuffle_buffer: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _augmentation_given(self) -> TrainingParams:
        if self.augment != "none" and self.augmentation is None:
            raise ValueError(
                f"training.augment = {self.augment} needs the training.augmentation "
                "block (diffaugment, ada)"
            )
        return self

    def augment_config(self) -> dict[str, Any]:
        """Keyword arguments of `imagegen.models.augment.Augmenter`."""
        if self.augment == "none":
            return {"mode": "none"}
        policy = getattr(self.augmentation, self.augment).model_dump()
        policy["ops_"] = policy.pop("ops")
        return {"mode": self.augment, **policy}


class EvaluationParams(Strict):
    n_samples: int = Field(gt=1)
    seed: int
    encoder_epochs: int = Field(gt=0)
    encoder_dim: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    grid_size: int = Field(gt=0, le=16)
    inception_weights: str | None = None
    nearest_k: int = Field(gt=0)
    kid_subsets: int = Field(gt=0)
    kid_subset_size: int = Field(gt=1)
    ct_cells: int = Field(gt=0)
    ct_min_cell_samples: int = Field(gt=0)
    memorisation_quantile: float = Field(gt=0, lt=1)
    memorisation_space: Literal["pixel", "feature"]
    sheet_rows: int = Field(gt=0, le=64)

    @field_validator("inception_weights")
    @classmethod
    def _weights_file_exists(cls, value: str | None) -> str | None:
        # Checked at start: the weights are never downloaded.
        if value is not None and not Path(value).is_file():
            raise ValueError("no such file (give a local InceptionV3 weights file)")
        return value


class MetricLimits(Strict):
    """Limits on evaluation metrics, judged by `metrics.gates.judge_limits`;
    null switches one off."""

    fid_max: float | None = Field(default=None, ge=0)
    kid_max: float | None = None
    memorised_fraction_max: float | None = Field(default=None, ge=0, le=1)


class GateParams(MetricLimits):
    """Limits a version must meet for the champion alias."""

    ct_min: float | None = None


Statement = Annotated[str, Field(min_length=1, max_length=2000)]


class SourceDeclaration(Strict):
    """What a person states about one kind of data source (null: not stated)."""

    used: bool | None = None
    description: Statement | None = None


class CrawlDeclaration(SourceDeclaration):
    crawlers: Statement | None = None  # crawler names, purposes, robots.txt behaviour
    period: Statement | None = None  # period of data collection


class SourceDeclarations(Strict):
    """The template's section 2 kinds of source; the pipeline cannot know these."""

    public_datasets: SourceDeclaration = SourceDeclaration()
    commercially_licensed: SourceDeclaration = SourceDeclaration()
    other_private: SourceDeclaration = SourceDeclaration()
    crawled: CrawlDeclaration = CrawlDeclaration()
    user_data: SourceDeclaration = SourceDeclaration()
    synthetic: SourceDeclaration = SourceDeclaration()
    other: SourceDeclaration = SourceDeclaration()


class PublicSummaryParams(Strict):
    """Statements a person makes for the EU AI Act Art. 53(1)(d) public summary."""

    provider: Statement | None = None
    contact: Statement | None = None
    authorised_representative: Statement | None = None
    dependencies: Statement | None = None
    placed_on_market: Statement | None = None
    content_types: list[Statement] | None = None
    data_acquired: Statement | None = None
    code_of_practice_signatory: bool | None = None
    rights_reservations: Statement | None = None
    illegal_content: Statement | None = None
    other_processing: Statement | None = None
    sources: SourceDeclarations = SourceDeclarations()


class RegistrationParams(Strict):
    model_name_prefix: str = Field(min_length=1)
    model_name: str | None = Field(default=None, pattern=r"^[^@/:]+$")
    max_n: int = Field(gt=0)
    max_images_per_request: int = Field(gt=0)
    alias: str = Field(min_length=1)
    champion_alias: str = Field(min_length=1)
    gates: GateParams
    public_summary: PublicSummaryParams = PublicSummaryParams()


class GenerateParams(Strict):
    model: str = Field(pattern=r"^[^@/]+(@[^@/]+|/\d+)$")
    n: int = Field(gt=0)
    seed: int = Field(ge=0)


class MonitorThresholds(MetricLimits):
    """Limits whose breach by freshly generated images raises a monitor alert."""

    precision_min: float | None = Field(default=None, ge=0, le=1)


class MonitorParams(Strict):
    experiment: str = Field(min_length=1)
    ledger: str = Field(min_length=1)
    min_images: int = Field(ge=2)
    max_images: int = Field(gt=0)
    fail_on_alert: bool
    thresholds: MonitorThresholds


# --- the rights policy (conf/*/policy.yml, read as `params:policy`) ----------

COLOUR_DEFAULT = 50.0


class LicenceLists(Strict):
    """SPDX id patterns (shell-style, case-sensitive); deny wins, then review."""

    allow: list[str]
    review: list[str]
    deny: list[str]


class DuplicatePolicy(Strict):
    perceptual: bool = True
    hash_size: int = Field(default=16, ge=4, le=32)
    max_distance: int = Field(default=8, ge=0)
    # Works whose smaller side is under this get no perceptual hash: a 64-bit
    # DCT hash of an 8x8 image is little more than the image itself.
    min_side: int = Field(default=32, ge=1)
    # A perceptual match counts only when the 4x4 grid colours agree too:
    # largest RGB distance of a cell (0-441); null compares grey levels only.
    max_colour_distance: float | None = Field(default=COLOUR_DEFAULT, ge=0)
    # ...or when the trimmed 32x32 drawings differ by at most this share of
    # their ink (resizes and re-encodes the pHash misses); null: pHash only.
    max_shape_difference: float | None = Field(default=0.004, ge=0, le=1)
    # ...or when both are close, though neither is close enough alone: a pHash
    # within `pair_distance` bits and drawings within `pair_shape_difference`.
    pair_distance: int | None = Field(default=12, ge=0)
    pair_shape_difference: float | None = Field(default=0.01, ge=0, le=1)


class FacePolicy(Strict):
    detect: bool = True
    decision: Literal["review", "rejected"] = "review"
    detect_size: int = Field(default=128, ge=32, le=1024)
    min_face_px: int = Field(default=24, ge=8)
    scale_factor: float = Field(default=1.25, gt=1.0, le=2.0)
    step_ratio: float = Field(default=1.5, ge=1.0, le=4.0)


AI_CRAWLERS = [
    "GPTBot",
    "Google-Extended",
    "CCBot",
    "anthropic-ai",
    "ClaudeBot",
    "Applebot-Extended",
    "Bytespider",
    "meta-externalagent",
]


class SitePolicy(Strict):
    # robots.txt user agents whose exclusion from a path reserves AI training;
    # without a group of their own they follow `User-agent: *`.
    ai_crawlers: list[str] = Field(default_factory=lambda: list(AI_CRAWLERS))


class Policy(Strict):
    licences: LicenceLists
    max_pixels: int = Field(gt=0)
    min_side: int = Field(ge=1)
    max_file_bytes: int = Field(gt=0)
    max_metadata_bytes: int = Field(default=1 << 20, ge=1024)
    # Longest side of an SVG/SVGZ work's render, px (a vector has no size of its own).
    svg_render_side: int = Field(default=256, ge=16, le=4096)
    duplicates: DuplicatePolicy = DuplicatePolicy()
    faces: FacePolicy = FacePolicy()
    sites: SitePolicy = SitePolicy()


_GROUPS: dict[str, type[BaseModel]] = {
    "monitor": MonitorParams,
    "generate": GenerateParams,
    "policy": Policy,
    "curation": CurationParams,
    "preprocessing": PreprocessingParams,
    "training": TrainingParams,
    "evaluation": EvaluationParams,
    "registration": RegistrationParams,
}


def _format_error(group: str, error: dict[str, Any]) -> str:
    key = ".".join([group, *(str(p) for p in error["loc"])])
    if error["type"] == "missing":
        return f"{key}: missing"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return f"{key} = {error.get('input')!r}: must be one of {allowed}"
    return f"{key} = {error.get('input')!r}: {error['msg']}"


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Check every parameter group this project knows; raise naming each bad key."""
    problems: list[str] = []
    validated: dict[str, BaseModel] = {}
    for group, model in _GROUPS.items():
        if group not in params:
            continue
        try:
            validated[group] = model.model_validate(params[group])
        except ValidationError as exc:
            problems.extend(_format_error(group, e) for e in exc.errors())
    if problems:
        raise ConfigurationError(
            "invalid configuration (conf/*/parameters_*.yml or --params): "
            + "; ".join(problems)
        )
    return validated
