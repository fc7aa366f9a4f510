"""`imagegen` command line: thin wrappers over the package's audit and generation functions.

Every command exits 0 on success and 1 with a one-line `error: ...` on failure.
"""

from __future__ import annotations

import json
import os
import sys
from functools import wraps
from pathlib import Path

import click

from imagegen.framework.resolvers import project_root, tracking_uri


def _tracking_uri(option: str | None) -> str:
    return option or tracking_uri()


def _one_line_errors(func):
    """Known failures end the command with one line on stderr and exit code 1."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        from imagegen.provenance.audit import AuditError
        from imagegen.provenance.ledger import LedgerError

        try:
            return func(*args, **kwargs)
        except (AuditError, LedgerError, FileNotFoundError, ValueError, OSError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.group()
@click.version_option(package_name="imagegen")
def main() -> None:
    """imagegen: audits of models and images, and labelled generation."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@main.group()
def audit() -> None:
    """Trace models and images back to the works that made them."""


@audit.command("verify")
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Ledger file (default: data/09_lineage/ledger.jsonl of the project).",
)
@click.option(
    "--expect",
    multiple=True,
    metavar="SEQ:HASH",
    help="A head kept offline (from an earlier `--anchor`); repeatable.",
)
@click.option(
    "--anchor",
    "print_anchor",
    is_flag=True,
    help="Print the verified heads to keep offline (SEQ:HASH per ledger).",
)
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def audit_verify(
    ledger_path: Path | None,
    expect: tuple[str, ...],
    print_anchor: bool,
    tracking_uri: str | None,
) -> None:
    """Check the lineage ledger against its anchors, and the files its entries name.

    Anchors (lineage ledger): every `lineage_head` tag of a registry version,
    every `lineage.ledger_head` tag of an MLflow run; and each `--expect`.
    """
    from imagegen.provenance.ledger import Ledger, LedgerError, lineage_ledger_path
    from imagegen.provenance.verify import verify_lineage

    root = Path(project_root())
    path = ledger_path or lineage_ledger_path(root)
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {path}")
    anchors = [(e, "--expect") for e in expect]
    incomplete: list[str] = []
    uri = _tracking_uri(tracking_uri)
    # MLflow records heads of the lineage ledger only (not the generation ledger).
    lineage = path.resolve() == lineage_ledger_path(root).resolve()
    if lineage and (
        tracking_uri
        or not uri.startswith("sqlite:///")
        or Path(uri.removeprefix("sqlite:///")).exists()
    ):
        from mlflow import MlflowClient

        from imagegen.provenance.verify import mlflow_anchors
        from imagegen.registry import incomplete_versions

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        anchors += mlflow_anchors(client)
        incomplete = [
            f"{n} version {v} lacks {', '.join(m)}"
            for n, v, m in incomplete_versions(client)
        ]
    report = verify_lineage(path, root, anchors)
    if incomplete:
        raise LedgerError(
            f"incomplete registration(s): {'; '.join(incomplete)} (delete them, or "
            "register again)"
        )
    click.echo(verify_message(report))
    if print_anchor:
        from imagegen.provenance.generation_ledger import ledger_path as gen_path

        generation = gen_path()
        if generation is not None and not generation.is_absolute():
            generation = root / generation
        for ledger in (path, generation):
            if ledger is not None and ledger.exists():
                head = Ledger(ledger).verify(repair=True)
                if head is not None:
                    click.echo(f"anchor {ledger}: {head.seq}:{head.hash}")


def verify_message(report: dict) -> str:
    """What `audit verify` checked: files for the lineage ledger, entries for the
    generation ledger (its entries name images, not files)."""
    line = f"ok: {report['entries']} entries, head {report['head']}, hash chain intact"
    if report["generation_entries"]:
        return line + f" ({report['generation_entries']} generation entries)"
    return line + (
        f", {report['anchors_checked']} anchors match, "
        f"{report['files_checked']} files match their last recorded digest"
    )


@audit.command("model")
@click.argument("ref")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown"
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write audit.json and audit.md into this folder.",
)
@click.option(
    "--works",
    is_flag=True,
    help="List every work (with the public summary) instead of the summary.",
)
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def audit_model_command(
    ref: str, fmt: str, out: Path | None, works: bool, tracking_uri: str | None
) -> None:
    """Works, creators, licences and opt-outs behind REF (NAME@ALIAS or NAME/VERSION)."""
    from mlflow import MlflowClient

    from imagegen.provenance.audit import (
        audit_markdown,
        audit_model,
        audit_summary_markdown,
        write_audit,
    )

    uri = _tracking_uri(tracking_uri)
    report = audit_model(MlflowClient(tracking_uri=uri, registry_uri=uri), ref)
    if out is not None:
        write_audit(report, out)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif works:
        click.echo(audit_markdown(report))
    else:
        click.echo(audit_summary_markdown(report, ref))


@audit.command("image")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--top", default=5, show_default=True, help="Nearest training works to list."
)
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def audit_image_command(file: Path, top: int, tracking_uri: str | None) -> None:
    """The model version that generated FILE and the training works nearest to it."""
    import mlflow

    from imagegen.provenance.image_audit import audit_image, format_image_audit

    uri = _tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    report = audit_image(file, Path(project_root()), top=top)
    click.echo(format_image_audit(report))


@main.command("generate")
@click.option("--model", "model_ref", required=True, help="NAME@ALIAS or NAME/VERSION.")
@click.option("--n", default=16, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, None))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def generate_command(
    model_ref: str, n: int, seed: int, out: Path, tracking_uri: str | None
) -> None:
    """Write N images from a registered model, each with XMP provenance."""
    import mlflow

    from imagegen.pipelines.generate.registered import images_from_registry

    uri = _tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    images = images_from_registry(model_ref, n, seed)
    out.mkdir(parents=True, exist_ok=True)
    for image in images:
        (out / image["filename"]).write_bytes(image["png"])
    first = images[0]
    click.echo(
        f"wrote {len(images)} images to {out} from {first['model_name']} "
        f"version {first['model_version']}"
    )


@main.group()
def registry() -> None:
    """Human decisions on model aliases (recorded as version tags)."""


@registry.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True)
@click.option("--reason", required=True, help="Why: recorded on the version.")
@click.option("--by", default=None, help="Who decides (default: $USER).")
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def registry_promote(
    name: str,
    version: str,
    alias: str,
    reason: str,
    by: str | None,
    tracking_uri: str | None,
) -> None:
    """Point ALIAS (default champion) at NAME VERSION."""
    from mlflow import MlflowClient

    from imagegen.registry import promote

    uri = _tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    click.echo(promote(client, name, version, alias, reason, by))


@registry.command("demote")
@click.argument("name")
@click.option("--alias", default="champion", show_default=True)
@click.option("--reason", required=True, help="Why: recorded on the version.")
@click.option("--by", default=None, help="Who decides (default: $USER).")
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def registry_demote(
    name: str, alias: str, reason: str, by: str | None, tracking_uri: str | None
) -> None:
    """Remove ALIAS (default champion) from whichever version of NAME holds it."""
    from mlflow import MlflowClient

    from imagegen.registry import demote

    uri = _tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    click.echo(demote(client, name, alias, reason, by))


@main.group()
def takedown() -> None:
    """Withdraw works after training (a creator's request)."""


@takedown.command("add")
@click.argument("work_id", metavar="SHA256|WORK_ID")
@click.option("--reason", required=True, help="Why: recorded on every version.")
@click.option(
    "--raw-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Raw folder whose takedown.txt curation reads (default: raw_dir of conf/).",
)
@click.option("--env", default=None, help="Kedro environment for the default raw_dir.")
@click.option("--by", default=None, help="Who decides (default: $USER).")
@click.option("--tracking-uri", default=None, help="MLflow tracking/registry URI.")
@_one_line_errors
def takedown_add(
    work_id: str,
    reason: str,
    raw_dir: Path | None,
    env: str | None,
    by: str | None,
    tracking_uri: str | None,
) -> None:
    """List WORK_ID for removal and withdraw every version that trained on it."""
    from mlflow import MlflowClient

    from imagegen.framework.resolvers import configured_raw_dir
    from imagegen.provenance.ledger import lineage_ledger_path
    from imagegen.provenance.takedown import one_line_reason, parse_work_id
    from imagegen.registry import take_down

    work_id, reason = parse_work_id(work_id), one_line_reason(reason)
    root = Path(project_root())
    uri = _tracking_uri(tracking_uri)
    result = take_down(
        MlflowClient(tracking_uri=uri, registry_uri=uri),
        work_id,
        reason,
        raw_dir=raw_dir or configured_raw_dir(root, env),
        ledger_path=lineage_ledger_path(root),
        root=root,
        by=by,
    )
    click.echo(
        f"takedown of {result['work_id']} recorded in {result['takedown_list']} and "
        f"ledger entry {result['ledger_seq']}"
    )
    for version, aliases in result["versions"].items():
        removed = ", ".join(f"@{a}" for a in aliases) or "no alias held"
        click.echo(f"trained on it: {version} (tagged; removed {removed})")
    if not result["versions"]:
        click.echo("no registered version trained on it")
    click.echo("the next `kedro run --pipelines train` leaves it out")


@main.group()
def tracking() -> None:
    """MLflow records kept locally while the tracking server was unreachable."""


@tracking.command("replay")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI.")
@_one_line_errors
def tracking_replay(tracking_uri: str | None) -> None:
    """Send the kept metrics and artifacts to the tracking server."""
    from mlflow import MlflowClient

    from imagegen.framework.backlog import BACKLOG, Backlog

    backlog = Backlog(Path(project_root()) / BACKLOG)
    sent, left = backlog.replay(MlflowClient(tracking_uri=_tracking_uri(tracking_uri)))
    click.echo(f"sent {sent} records, {left} still kept in {BACKLOG}")
    if left:
        sys.exit(1)


# Kedro loads a `cli` group from the project's cli.py: the same commands then
# also work as `kedro audit …` and `kedro generate …`.
cli = click.Group(
    "imagegen",
    commands={
        "audit": audit,
        "generate": generate_command,
        "registry": registry,
        "takedown": takedown,
        "tracking": tracking,
    },
)


if __name__ == "__main__":
    main()
