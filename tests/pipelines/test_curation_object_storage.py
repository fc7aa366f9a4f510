"""Curation of works on object storage: a local S3 server (moto) started by the test."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from imagegen.datasets import RawFolder, RemoteFolder, WorksFolderDataset
from imagegen.pipelines.curation import nodes
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import build_corpus, png

POLICY_FILE = PROJECT_ROOT / "conf/base/policy.yml"
BUCKET = "studio-archive"


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's server on a free port, as s3fs's own tests run it; fake credentials."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S105 - moto accepts any
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    try:
        yield f"http://{host}:{port}"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture(scope="module")
def policy():
    base = yaml.safe_load(POLICY_FILE.read_text())["policy"]
    return {**base, "max_pixels": 100_000, "min_side": 8}


def _regular_files(root: Path) -> dict[str, bytes]:
    """Every regular file of the corpus with a UTF-8 name (what object storage holds)."""
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                continue  # a name that is not UTF-8 cannot be a key
            if any(ord(c) < 0x20 for c in rel):
                continue  # S3 takes these; moto's server answers 404
            if stat.S_ISREG(os.lstat(full).st_mode):
                files[rel] = full.read_bytes()
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, s3_endpoint):
    """The hostile corpus's regular files: in a local folder and under an S3 prefix."""
    import boto3

    base = tmp_path_factory.mktemp("corpus")
    built, outside, local = base / "built", base / "outside", base / "local"
    built.mkdir()
    outside.mkdir()
    build_corpus(built, outside)
    files = _regular_files(built)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
        s3.put_object(Bucket=BUCKET, Key=f"works/{rel}", Body=data)
    # Next to the prefix, never listed nor read.
    secret = png(base / "secret.png", seed=99)
    s3.put_object(Bucket=BUCKET, Key="works-private/secret.png", Body=secret)
    s3.put_object(Bucket=BUCKET, Key="secret.png", Body=secret)
    shutil.rmtree(built)
    return local, files, s3


def _decisions(folder, policy, params=None):
    inventory = nodes.inventory_works(
        folder, {}, policy, params or {"workers": 1, "chunk_size": 4}
    )
    return nodes.decide_works(
        inventory,
        nodes.find_duplicates(inventory, policy),
        nodes.read_manifest(folder),
        nodes.read_takedown_list(folder),
        policy,
    )


def test_s3_decisions_equal_the_local_folder_ones(corpus, policy):
    local, files, _ = corpus
    remote = WorksFolderDataset(f"s3://{BUCKET}/works").load()
    assert isinstance(remote, RemoteFolder)
    on_disk = _decisions(RawFolder(local), policy)
    on_s3 = _decisions(remote, policy)
    assert len(on_disk) > 25
    assert {"duplicate", "corrupt", "opt_out", "licence_denied"} <= set(
        on_disk["reason"].str.split(":").str[0]
    )
    # Paths relative to the prefix, every column and the row order alike.
    assert on_s3.to_csv(index=False) == on_disk.to_csv(index=False)
    assert "secret.png" not in set(on_s3["path"])


@pytest.mark.slow
def test_s3_on_a_dask_cluster_gives_the_same_decisions(corpus, policy):
    local, _, _ = corpus
    remote = RemoteFolder(f"s3://{BUCKET}/works")
    params = {"executor": "dask", "chunk_size": 5, "dask": {"workers": 2}}
    on_dask = _decisions(remote, policy, params)
    assert on_dask.to_csv(index=False) == _decisions(RawFolder(local), policy).to_csv(
        index=False
    )


def test_keys_that_could_leave_the_prefix_are_rows_never_read(
    corpus, policy, s3_endpoint
):
    _, files, s3 = corpus
    data = files["ok/cc0.png"]
    odd = {
        "works-odd/../secret.png": "../secret.png",
        "works-odd/a/./b.png": "a/./b.png",
        "works-odd/a//c.png": "a//c.png",
        "works-odd/line\u2028sep\\.png": "line\\u2028sep\\\\.png",
        "works-odd/fine.png": "fine.png",
    }
    for key in odd:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    folder = RemoteFolder(f"s3://{BUCKET}/works-odd")
    decisions = _decisions(folder, policy)
    got = dict(zip(decisions["path"], decisions["reason"], strict=True))
    assert set(got) == set(odd.values())
    for unsafe in ("../secret.png", "a/./b.png", "a//c.png"):
        assert got[unsafe] == "not_an_image:unsafe_key"
    # An odd but safe key is read: the same bytes, so a duplicate of the first kept.
    assert got["fine.png"] == "licence_unknown"
    assert got["line\\u2028sep\\\\.png"].startswith("duplicate:")


def test_a_missing_prefix_has_no_works(s3_endpoint):
    folder = RemoteFolder(f"s3://{BUCKET}/absent")
    assert not folder.exists()
    assert list(folder.iter_works()) == []


def test_file_urls_take_the_local_reader(tmp_path):
    folder = WorksFolderDataset(f"file://{tmp_path}").load()
    assert isinstance(folder, RawFolder)
    assert folder.root == tmp_path


@pytest.mark.slow
def test_kedro_curation_from_s3_writes_the_local_decisions(corpus, tmp_path):
    from tests.project import copy_project, kedro

    local, _, _ = corpus
    outputs = {}
    for name, raw_dir in (("local", str(local)), ("s3", f"s3://{BUCKET}/works")):
        project = copy_project(tmp_path / name)
        result = kedro(
            project, "run", "--pipeline", "curation", "--params", f"raw_dir={raw_dir}"
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        outputs[name] = (
            project / "data/08_reporting/curation_decisions.csv"
        ).read_bytes()
    assert outputs["s3"] == outputs["local"]


def test_preprocessing_reads_the_accepted_works_from_s3(corpus, policy):
    import numpy as np

    from imagegen.pipelines.preprocessing.nodes import build_image_set

    local, _, _ = corpus
    decisions = _decisions(RawFolder(local), policy)
    accepted = decisions[decisions["decision"] == "accepted"].reset_index(drop=True)
    assert len(accepted) >= 3
    params = {"image_size": 16, "channels": 3}
    on_disk = build_image_set(accepted, RawFolder(local), params, policy)
    on_s3 = build_image_set(
        accepted, RemoteFolder(f"s3://{BUCKET}/works"), params, policy
    )
    np.testing.assert_array_equal(on_s3["images"], on_disk["images"])
    np.testing.assert_array_equal(on_s3["pixels_sha256"], on_disk["pixels_sha256"])
