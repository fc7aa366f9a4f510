import contextlib
import fcntl
import logging
import os
import pty
import struct
import subprocess
import sys
import termios

import pandas as pd
import pytest
import yaml

from imagegen.datasets.raw_folder import RawFolder
from imagegen.pipelines.curation import nodes
from imagegen.pipelines.curation.default_data import write_digits
from tests import media
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import ODD_NAMES, build_corpus, curate, snapshot

POLICY_FILE = PROJECT_ROOT / "conf/base/policy.yml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    root, outside = base / "raw", base / "outside"
    root.mkdir()
    outside.mkdir()
    expected = build_corpus(root, outside)
    return root, expected


@pytest.fixture(scope="module")
def policy():
    base = yaml.safe_load(POLICY_FILE.read_text())["policy"]
    return {**base, "max_pixels": 100_000, "min_side": 8}


@pytest.fixture(scope="module")
def curated(corpus, policy, tmp_path_factory):
    """Decisions and validation of one serial run over the corpus."""
    root, _ = corpus
    return _curate(root, policy, tmp_path_factory.mktemp("curated"))


def _curate(root, policy, tmp_path, workers=1):
    decisions = curate(root, policy, workers=workers, chunk_size=4)
    validation = nodes.validate_decisions(decisions, policy, str(tmp_path / "docs"))
    return decisions, validation


def test_every_file_gets_the_expected_decision_and_reason(corpus, curated):
    _, expected = corpus
    decisions, validation = curated
    got = {row.path: (row.decision, row.reason) for row in decisions.itertuples()}
    assert got == expected
    assert validation["success"]
    assert validation["data_docs"].endswith("index.html")


def test_raw_folder_is_left_untouched(corpus, policy, tmp_path):
    root, _ = corpus
    before = snapshot(root)
    _curate(root, policy, tmp_path)
    assert snapshot(root) == before


ACCEPTED = {
    "anim/loop.gif": ("CC0-1.0", "A. Artist"),
    "dup/a_original.png": ("CC0-1.0", "A. Artist"),
    "exif/gps.jpg": ("CC0-1.0", "Ada Lovelace"),
    "near/a.png": ("CC0-1.0", "A. Artist"),
    "ocal/fox.png": ("CC-PDDC", "Nicu Buculei"),
    "ok/cc0.png": ("CC0-1.0", "A. Artist"),
    "ok/cc_by.png": ("CC-BY-4.0", "A. Artist"),
    "ok/grey.png": ("LicenseRef-PublicDomain", "A. Artist"),
    "sidecar/photo.png": ("CC-BY-4.0", "Side Car"),
    "vector/drawing.svg": ("CC-PDDC", "Jane Drawer"),
    "xmp/licensed.webp": ("CC-BY-4.0", "Webp Maker"),
    "xmp/plus_allowed.png": ("CC-BY-4.0", "Ada Lovelace"),
}


def test_accepted_rows_carry_licence_and_creator(corpus, curated, policy, tmp_path):
    root, _ = corpus
    decisions, validation = curated
    accepted = nodes.select_accepted(decisions, validation)
    got = {r.path: (r.licence, r.creator) for r in accepted.itertuples()}
    assert got == ACCEPTED
    table, markdown = nodes.build_attribution(accepted)
    assert len(table) == len(ACCEPTED)
    assert "Nicu Buculei" in markdown and "CC-PDDC" in markdown


def test_every_metadata_source_is_named(corpus, curated, policy, tmp_path):
    root, _ = corpus
    decisions, _ = curated
    rows = decisions.set_index("path")
    assert rows.loc["xmp/plus_allowed.png", "licence_source"] == "xmp"
    assert rows.loc["sidecar/photo.png", "licence_source"] == "sidecar"
    assert rows.loc["ocal/fox.png", "licence_source"] == "svg_rdf"
    assert rows.loc["ocal/fox.png", "title"] == "fox"
    assert rows.loc["vector/drawing.svg", "licence"] == "CC-PDDC"
    assert rows.loc["iptc/reserved.jpg", "licence_source"] == "iptc"
    assert rows.loc["iptc/reserved.jpg", "title"] == "Bug"
    assert rows.loc["ok/cc_by.png", "licence_source"] == "manifest"
    # A conflict lists each licence's source in the order of the reason's ids.
    assert rows.loc["xmp/conflict.png", "reason"].endswith("CC-BY-NC-4.0|CC0-1.0")
    assert rows.loc["xmp/conflict.png", "licence_source"] == "xmp|manifest"
    # Unknown text is kept verbatim.
    assert rows.loc["licence/gibberish.png", "licence_raw"] == "ask my agent"
    # GPS is noted (a flag, never the position).
    assert rows["gps"].tolist().count(True) == 1
    assert rows.loc["exif/gps.jpg", "gps"]
    assert rows.loc["exif/gps.jpg", "metadata"] == "exif"
    # The opt_out column lists every signal; the reason names the first.
    assert rows.loc["xmp/both.png", "opt_out"] == "iptc_data_mining|tdm_reservation"
    assert rows.loc["optout/takedown.png", "opt_out"] == "takedown"
    assert rows.loc["c2pa/not_allowed.jpg", "opt_out"] == "c2pa_training_mining"
    assert rows.loc["privacy/astronaut.png", "faces"] >= 1
    assert (rows.drop(index="privacy/astronaut.png")["faces"] == 0).all()


def test_nothing_read_from_a_file_leaks(corpus, policy, tmp_path, caplog):
    root, _ = corpus
    outside = str(tmp_path / "outside")
    with caplog.at_level(logging.DEBUG):
        decisions, _ = _curate(root, policy, tmp_path)
    written = tmp_path / "decisions.csv"
    decisions.to_csv(written, index=False)
    accepted = decisions[decisions["decision"] == "accepted"]
    _, markdown = nodes.build_attribution(accepted)
    for text in (written.read_text(encoding="utf-8"), caplog.text, markdown):
        assert "LEAKED-ENTITY-TEXT" not in text
        assert "OUTSIDE-SECRET" not in text  # a sidecar outside raw_dir
        assert outside not in text and "secret.png" not in text  # link targets


def test_odd_file_names_get_exactly_one_row_each(corpus, curated, policy, tmp_path):
    root, _ = corpus
    decisions, _ = curated
    odd = sorted(p for p in decisions["path"] if p.startswith("odd/"))
    assert odd == sorted("odd/" + shown for shown in ODD_NAMES.values())
    folder = RawFolder(root)
    for rel in odd:
        assert "\n" not in rel
        assert folder.resolve(rel).is_file()  # the escaped path maps back
    written = tmp_path / "decisions.csv"
    decisions.to_csv(written, index=False)
    again = pd.read_csv(written, dtype=str, keep_default_na=False)
    assert again["path"].tolist() == decisions["path"].tolist()


def test_parallel_inventory_matches_the_serial_one(corpus, policy, tmp_path):
    root, _ = corpus
    serial, _ = _curate(root, policy, tmp_path)
    parallel, _ = _curate(root, policy, tmp_path, workers=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_animated_images_decode_their_first_frame_only(tmp_path, policy, monkeypatch):
    from PIL import GifImagePlugin

    frames = [media.noise(size=(40, 40), seed=i) for i in range(30)]
    frames[0].save(
        tmp_path / "anim.gif", "GIF", save_all=True, append_images=frames[1:]
    )
    seeks = []
    original = GifImagePlugin.GifImageFile.seek

    def counting_seek(self, frame):
        seeks.append(frame)
        return original(self, frame)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "seek", counting_seek)
    inventory = nodes.inventory_works(RawFolder(tmp_path), {}, policy, {"workers": 1})
    assert inventory.loc[0, "integrity"] == ""
    assert (inventory.loc[0, "width"], inventory.loc[0, "height"]) == (40, 40)
    assert all(frame == 0 for frame in seeks)


def test_a_bomb_is_judged_without_allocating_its_pixels(tmp_path):
    (tmp_path / "bomb.png").write_bytes(media.png_bomb(60_000, 60_000))
    # VmHWM: this process's peak resident memory (ru_maxrss would carry the
    # forking pytest process's peak over exec).
    script = (
        "import re, sys, yaml\n"
        "from imagegen.datasets.raw_folder import RawFolder\n"
        "from imagegen.pipelines.curation.inventory import ProbeSettings, probe_file\n"
        "from imagegen.rights.policy import load_policy\n"
        "policy = yaml.safe_load(open(sys.argv[2]))['policy']\n"
        "policy['max_pixels'] = 4_000_000_000\n"  # over Pillow's own limit too
        "settings = ProbeSettings.from_policy(load_policy(policy))\n"
        "record = probe_file(RawFolder(sys.argv[1]), 'bomb.png', settings)\n"
        "status = open('/proc/self/status').read()\n"
        "print(record.integrity, re.search(r'VmHWM:\\s+(\\d+)', status)[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(POLICY_FILE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "too_large:pixels"
    assert int(out[1]) < 512 * 1024  # KiB: 60,000^2 pixels would be 3.4 GiB


def test_default_digits_are_neither_near_duplicates_nor_faces(tmp_path, base_policy):
    """The default dataset (8x8 digits) passes the default policy whole."""
    raw = tmp_path / "digits"
    write_digits(raw)
    folder = RawFolder(raw)
    inventory = nodes.inventory_works(folder, {}, base_policy, {"workers": 1})
    duplicates = nodes.find_duplicates(inventory, base_policy)
    decisions = nodes.decide_works(
        inventory, duplicates, nodes.read_manifest(folder), [], base_policy
    )
    assert len(decisions) == 1797
    assert set(decisions["reason"]) == {"ok"}


def test_validation_stops_an_accepted_denied_licence(corpus, curated, policy, tmp_path):
    root, _ = corpus
    decisions, _ = curated
    tampered = decisions.copy()
    row = tampered["path"] == "licence/nc.png"
    tampered.loc[row, ["decision", "reason"]] = ["accepted", "ok"]
    tampered.loc[row, "licence"] = "CC-BY-NC-4.0"
    with pytest.raises(ValueError, match="failed validation"):
        nodes.validate_decisions(tampered, policy, str(tmp_path / "docs2"))


def test_validation_stops_an_accepted_opt_out(corpus, curated, policy, tmp_path):
    root, _ = corpus
    decisions, _ = curated
    tampered = decisions.copy()
    row = tampered["path"] == "optout/takedown.png"
    tampered.loc[row, ["decision", "reason"]] = ["accepted", "ok"]
    with pytest.raises(ValueError, match="opt_out"):
        nodes.validate_decisions(tampered, policy, str(tmp_path / "docs3"))


def test_validation_stops_an_accepted_face(corpus, curated, policy, tmp_path):
    decisions, _ = curated
    tampered = decisions.copy()
    row = tampered["path"] == "privacy/astronaut.png"
    tampered.loc[row, ["decision", "reason"]] = ["accepted", "ok"]
    with pytest.raises(ValueError, match="faces"):
        nodes.validate_decisions(tampered, policy, str(tmp_path / "docs4"))


def test_counts_become_metrics(corpus, curated, policy, tmp_path):
    root, expected = corpus
    decisions, _ = curated
    metrics = nodes.count_decisions(decisions)
    assert metrics["files"]["value"] == len(expected)
    assert metrics["accepted"]["value"] == len(ACCEPTED)
    assert metrics["reason.duplicate"]["value"] == 2
    assert metrics["reason.near_duplicate"]["value"] == 1
    assert metrics["reason.opt_out"]["value"] == 6


def test_default_data_is_written_once_and_never_over_user_files(tmp_path):
    target = tmp_path / "digits"
    spec = {"name": "digits", "dir": str(target)}
    assert nodes.materialise_default_data(str(target), spec)["written"] == 1797
    manifest = pd.read_csv(target / "manifest.csv")
    assert len(manifest) == 1797
    assert set(manifest["licence"]) == {"CC-BY-4.0"}
    # Second run: present, nothing written.
    assert nodes.materialise_default_data(str(target), spec)["written"] == 0
    # A user's folder with files but no manifest is left as it is.
    user = tmp_path / "mine"
    user.mkdir()
    (user / "a.png").write_bytes(b"x")
    spec_user = {"name": "digits", "dir": str(user)}
    assert nodes.materialise_default_data(str(user), spec_user)["written"] == 0
    assert sorted(p.name for p in user.iterdir()) == ["a.png"]


def test_gps_never_reaches_a_derived_file(corpus, curated, policy, tmp_path):
    from imagegen.datasets import NpzDataset
    from imagegen.pipelines.preprocessing import nodes as preprocessing

    root, _ = corpus
    decisions, validation = curated
    accepted = nodes.select_accepted(decisions, validation)
    assert "exif/gps.jpg" in set(accepted["path"])
    params = {"image_size": 16, "channels": 3, "holdout_percent": 0, "max_works": None}
    training_set = preprocessing.build_image_set(
        accepted, RawFolder(root), params, policy
    )
    target = tmp_path / "training_set.npz"
    NpzDataset(filepath=str(target), compress=False).save(training_set)
    data = target.read_bytes()
    assert b"Exif\x00\x00" not in data
    # The GPS JPEG's own bytes hold the block that the derived file lacks.
    assert b"Exif\x00\x00" in (root / "exif/gps.jpg").read_bytes()


def test_inventory_progress_shows_on_a_terminal_and_stays_out_of_logs(
    corpus, policy, capfd
):
    root, _ = corpus
    nodes.inventory_works(RawFolder(root), {}, policy, {"workers": 1})
    assert "inventory" not in capfd.readouterr().err  # not a terminal: no bar

    script = (
        "import sys, yaml; from imagegen.datasets.raw_folder import RawFolder; "
        "from imagegen.pipelines.curation import nodes; "
        "nodes.inventory_works(RawFolder(sys.argv[1]), {}, "
        "yaml.safe_load(sys.argv[2]), {'workers': 1})"
    )
    leader, follower = pty.openpty()
    # A terminal 100 columns wide (a fresh pty has 0, and tqdm fits the bar to it).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    run = subprocess.run(
        [sys.executable, "-c", script, str(root), yaml.safe_dump(policy)],
        stderr=follower,
        stdout=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(leader, 65536):
            shown += chunk
    os.close(leader)
    assert run.returncode == 0, shown.decode(errors="replace")[-2000:]
    assert b"inventory" in shown and b"files" in shown
