"""Fault isolation: whatever one entry of raw_dir is, it gets a row and stops nothing."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagegen.datasets.raw_folder import RawFolder, encode_rel_path
from imagegen.pipelines.curation import inventory as inv
from imagegen.pipelines.curation import nodes
from imagegen.pipelines.curation.supply import NothingToCurate
from imagegen.rights.policy import DECISIONS, REASON_CODES
from tests import media
from tests.conftest import PROJECT_ROOT
from tests.pipelines.corpus import curate

POLICY = yaml.safe_load((PROJECT_ROOT / "conf/base/policy.yml").read_text())["policy"]


def _png(seed: int) -> bytes:
    return media.encode(media.noise(size=(40, 40), seed=seed), "PNG")


def _curate(root: Path, docs: Path | None = None) -> pd.DataFrame:
    decisions = curate(root, POLICY, chunk_size=4)
    if docs is not None:
        assert nodes.validate_decisions(decisions, POLICY, str(docs))["success"]
    return decisions


def _decided(decisions: pd.DataFrame) -> dict[str, tuple[str, str]]:
    return {r.path: (r.decision, r.reason) for r in decisions.itertuples()}


def state(root: Path) -> dict[str, tuple]:
    """Type, size, mtime and content (link text, file digest) of every entry."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = None  # a FIFO is never opened, not even here
            found[str(path.relative_to(root))] = (
                info.st_mode,
                info.st_size if stat.S_ISREG(info.st_mode) else 0,
                info.st_mtime_ns,
                content,
            )
    return found


def listed_entries(root: Path) -> set[str]:
    """Every non-folder entry of the tree (links to folders too), as curation names them."""
    folder = RawFolder(root)
    entries = set()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        links = [d for d in dirnames if (base / d).is_symlink()]
        for name in filenames + links:
            rel = encode_rel_path((base / name).relative_to(root).as_posix())
            if folder.is_work_path(rel):
                entries.add(rel)
    return entries


@pytest.fixture
def raw(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    return root


# --- one class of hostile entry at a time, exact decisions ---------------------------


def test_link_loops_dangling_links_and_special_files(raw, tmp_path):
    (raw / "ok.png").write_bytes(_png(1))
    os.symlink("loop_b.png", raw / "loop_a.png")
    os.symlink("loop_a.png", raw / "loop_b.png")
    os.symlink("self.png", raw / "self.png")
    os.symlink("missing.png", raw / "dangling.png")
    os.symlink("ok.png/deeper", raw / "through_a_file.png")
    os.mkfifo(raw / "pipe.png")
    os.symlink("pipe.png", raw / "link_to_pipe.png")
    (raw / "d").mkdir()
    os.symlink("../d", raw / "d" / "up.png")  # a link to a folder
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(raw / "sock.png"))
        before = state(raw)
        decisions = _curate(raw, tmp_path / "docs")
    assert _decided(decisions) == {
        "d/up.png": ("quarantined", "not_an_image:link_to_non_file"),
        "dangling.png": ("quarantined", "corrupt:dangling_link"),
        "link_to_pipe.png": ("quarantined", "not_an_image:link_to_non_file"),
        "loop_a.png": ("quarantined", "corrupt:link_loop"),
        "loop_b.png": ("quarantined", "corrupt:link_loop"),
        "ok.png": ("review", "licence_unknown"),
        "pipe.png": ("quarantined", "not_an_image:fifo"),
        "self.png": ("quarantined", "corrupt:link_loop"),
        "sock.png": ("quarantined", "not_an_image:socket"),
        "through_a_file.png": ("quarantined", "corrupt:dangling_link"),
    }
    assert state(raw) == before


def test_device_node_is_never_opened(raw):
    try:
        os.mknod(raw / "null.png", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    assert _decided(_curate(raw)) == {
        "null.png": ("quarantined", "not_an_image:char_device")
    }


def test_unreadable_file_and_folder(raw, monkeypatch):
    (raw / "locked.png").write_bytes(_png(1))
    (raw / "private").mkdir()
    (raw / "private" / "inside.png").write_bytes(_png(2))
    real_open, real_scandir = os.open, os.scandir

    # Root reads through chmod 000, so the kernel's refusal is simulated.
    def refusing_open(path, *args, **kwargs):
        if str(path).endswith("locked.png"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    def refusing_scandir(path="."):
        if str(path).endswith("private"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "open", refusing_open)
    monkeypatch.setattr(os, "scandir", refusing_scandir)
    assert _decided(_curate(raw)) == {
        "locked.png": ("quarantined", "corrupt:unreadable_PermissionError"),
        "private": ("quarantined", "corrupt:unreadable_folder"),
    }


def test_a_file_that_vanishes_or_turns_into_a_folder(raw):
    for name in ("gone.png", "now_a_folder.png", "now_a_pipe.png"):
        (raw / name).write_bytes(_png(len(name)))
    folder = RawFolder(raw)
    listed = list(folder.iter_works())
    (raw / "gone.png").unlink()
    (raw / "now_a_folder.png").unlink()
    (raw / "now_a_folder.png").mkdir()
    (raw / "now_a_pipe.png").unlink()
    os.mkfifo(raw / "now_a_pipe.png")
    settings_ = inv.ProbeSettings.from_policy(nodes.load_policy(POLICY))
    got = {rel: inv.probe_file(folder, rel, settings_).integrity for rel in listed}
    assert got == {
        "gone.png": "corrupt:vanished",
        "now_a_folder.png": "not_an_image:folder",
        "now_a_pipe.png": "not_an_image:fifo",
    }


def test_a_file_swapped_for_a_fifo_after_its_check_does_not_hang(raw, monkeypatch):
    (raw / "a.png").write_bytes(_png(1))
    real_lstat = os.lstat

    def lstat_then_swap(path, *args, **kwargs):
        info = real_lstat(path, *args, **kwargs)
        if str(path).endswith("a.png") and stat.S_ISREG(info.st_mode):
            os.unlink(path)
            os.mkfifo(path)
        return info

    monkeypatch.setattr(os, "lstat", lstat_then_swap)
    settings_ = inv.ProbeSettings.from_policy(nodes.load_policy(POLICY))
    record = inv.probe_file(RawFolder(raw), "a.png", settings_)
    assert record.integrity == "not_an_image:fifo"


def test_a_file_that_changes_while_read(raw, monkeypatch):
    (raw / "growing.png").write_bytes(_png(1) * 3)
    from imagegen.datasets import raw_folder

    monkeypatch.setattr(raw_folder, "CHUNK", 64)  # the reader's chunk size
    appended, real_sha256 = [], hashlib.sha256

    class Appending:
        """sha256 stand-in that appends to the file after the first chunk."""

        def __init__(self):
            self._hash = real_sha256()

        def update(self, data):
            if not appended:
                appended.append(True)
                with open(raw / "growing.png", "ab") as fh:
                    fh.write(b"more")
            self._hash.update(data)

        def hexdigest(self):
            return self._hash.hexdigest()

    monkeypatch.setattr(raw_folder.hashlib, "sha256", Appending)
    settings_ = inv.ProbeSettings.from_policy(nodes.load_policy(POLICY))
    record = inv.probe_file(RawFolder(raw), "growing.png", settings_)
    assert record.integrity == "corrupt:changed_while_read"


def test_any_reader_exception_is_the_files_row(raw, monkeypatch):
    (raw / "a.png").write_bytes(_png(1))
    (raw / "b.png").write_bytes(_png(2))

    def failing_open(data, *args, **kwargs):
        raise ZeroDivisionError("a decoder bug")

    monkeypatch.setattr(inv.Image, "open", failing_open)
    assert _decided(_curate(raw)) == {
        "a.png": ("quarantined", "corrupt:reader_ZeroDivisionError"),
        "b.png": ("quarantined", "corrupt:reader_ZeroDivisionError"),
    }


def test_links_through_folders_stay_inside(raw, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(_png(9))
    (raw / "a").mkdir()
    (raw / "a" / "work.png").write_bytes(_png(1))
    os.symlink("a", raw / "alias")  # a folder link, then a file through it
    os.symlink("alias/work.png", raw / "via_alias.png")
    os.symlink(str(raw / "a" / "work.png"), raw / "absolute_inside.png")
    os.symlink("a/../../outside/secret.png", raw / "dotdot_out.png")
    os.symlink(str(outside), raw / "out_dir")
    os.symlink("out_dir/secret.png", raw / "through_out_dir.png")
    got = _decided(_curate(raw))
    work_id = hashlib.sha256(_png(1)).hexdigest()
    assert got == {
        "a/work.png": ("review", "licence_unknown"),
        "absolute_inside.png": ("rejected", f"duplicate:{work_id}"),
        "alias": ("quarantined", "not_an_image:link_to_non_file"),
        "dotdot_out.png": ("quarantined", "not_an_image:link_outside_raw_dir"),
        "out_dir": ("quarantined", "not_an_image:link_outside_raw_dir"),
        "through_out_dir.png": ("quarantined", "not_an_image:link_outside_raw_dir"),
        "via_alias.png": ("rejected", f"duplicate:{work_id}"),
    }


def test_sidecars_that_are_not_files_are_no_sidecars(raw):
    (raw / "a.png").write_bytes(_png(1))
    os.mkfifo(raw / "a.xmp")
    (raw / "b.png").write_bytes(_png(2))
    (raw / "b.png.xmp").mkdir()
    (raw / "c.png").write_bytes(_png(3))
    os.symlink("c.xmp", raw / "c.png.xmp")
    os.symlink("c.png.xmp", raw / "c.xmp")  # a loop of sidecars
    (raw / "_sources").mkdir()
    os.mkfifo(raw / "_sources" / "a.svg")
    got = _decided(_curate(raw))
    assert got == {
        p: ("review", "licence_unknown") for p in ("a.png", "b.png", "c.png")
    }


# --- random hostile trees -------------------------------------------------------------

NAMES = st.sampled_from(
    [
        "a.png",
        "b.jpg",
        "c.gif",
        "x.xmp",
        "a.xmp",
        "a.png.xmp",
        "manifest.csv",
        "takedown.txt",
        "caf\u00e9.png",
        "cafe\u0301.png",
        "new\nline.png",
        "-rf.png",
        "sp ace.svg",
        "_sources",
        "z",
    ]
)
FOLDERS = st.lists(st.sampled_from(["d", "e", "_sources", "deep/er"]), max_size=2)
KINDS = st.sampled_from(
    [
        "png",
        "bytes",
        "empty",
        "svg",
        "fifo",
        "socket",
        "folder",
        "link",
        "link_up",
        "link_outside",
        "link_outside_folder",
        "absolute_outside",
        "dangling",
        "self_loop",
        "unreadable",
    ]
)
ENTRIES = st.lists(
    st.tuples(FOLDERS, NAMES, KINDS, st.binary(max_size=64), st.integers(0, 99)),
    max_size=14,
)


def _build(root: Path, outside: Path, entries, sockets: list) -> None:
    for folders, name, kind, blob, seed in entries:
        parent = root.joinpath(*folders)
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            continue  # a file or link already holds that name
        path = parent / name
        if os.path.lexists(path):
            continue
        up = "../" * len(folders)
        make = {
            "png": lambda p, s=seed: p.write_bytes(_png(s)),
            "bytes": lambda p, b=blob: p.write_bytes(b),
            "empty": lambda p: p.write_bytes(b""),
            "svg": lambda p: p.write_bytes(media.svg_with_rdf(media.OCAL_PD)),
            "fifo": os.mkfifo,
            "folder": lambda p: p.mkdir(),
            "link": lambda p: os.symlink("a.png", p),
            "link_up": lambda p, up=up: os.symlink(up + "z", p),
            "link_outside": lambda p: os.symlink(outside / "bait.png", p),
            "link_outside_folder": lambda p: os.symlink(outside, p),
            "absolute_outside": lambda p: os.symlink("/" + "../" * 9 + "etc", p),
            "dangling": lambda p: os.symlink("nowhere/at/all", p),
            "self_loop": lambda p: os.symlink(p.name, p),
        }
        if kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.bind(str(path))
            except OSError:  # a path over the 108 bytes a socket name may have
                sock.close()
                continue
            sockets.append(sock)
        elif kind == "unreadable":
            path.write_bytes(_png(seed))
            path.chmod(0)
        else:
            make[kind](path)


class _ReadLog:
    """Paths opened or listed while active (Python audit events)."""

    def __init__(self):
        self.active = False
        self.paths: list[str] = []
        sys.addaudithook(self)

    def __call__(self, event, args):
        if self.active and event in ("open", "os.scandir", "os.listdir") and args:
            path = args[0]
            if isinstance(path, str | bytes | os.PathLike):
                self.paths.append(os.fsdecode(path))


_READS = _ReadLog()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=ENTRIES)
def test_any_tree_gets_one_row_per_entry_and_is_left_as_it_was(entries):
    with tempfile.TemporaryDirectory(prefix="h") as base:
        root, outside = Path(base, "raw"), Path(base, "out")
        root.mkdir()
        outside.mkdir()
        (outside / "bait.png").write_bytes(_png(0))
        sockets: list = []
        try:
            _build(root, outside, entries, sockets)
            before = state(root)
            _READS.paths.clear()
            _READS.active = True
            try:
                decisions = _curate(root)
            except NothingToCurate:  # no entry at all: stopped before any output
                decisions = pd.DataFrame(
                    columns=["path", "decision", "reason"], dtype=str
                )
            finally:
                _READS.active = False
            assert state(root) == before
        finally:
            for sock in sockets:
                sock.close()
        assert sorted(decisions["path"]) == sorted(listed_entries(root))
        assert decisions["path"].is_unique
        assert set(decisions["decision"]) <= set(DECISIONS)
        codes = set(decisions["reason"].str.split(":").str[0])
        assert codes <= {*REASON_CODES, "ok"}
        # Nothing outside raw_dir was opened or listed.
        assert not [p for p in _READS.paths if p.startswith(str(outside))]
        assert not [p for p in _READS.paths if p.startswith("/etc")]


@pytest.mark.slow
def test_kedro_curation_run_over_a_hostile_tree_ends_with_exit_0(tmp_path):
    from tests.project import copy_project, kedro

    project = copy_project(tmp_path / "project")
    raw = tmp_path / "raw"
    (raw / "d").mkdir(parents=True)
    (raw / "ok.png").write_bytes(_png(1))
    (raw / "d" / "drawing.svg").write_bytes(media.svg_with_rdf(media.OCAL_PD))
    os.symlink("loop_b.png", raw / "loop_a.png")
    os.symlink("loop_a.png", raw / "loop_b.png")
    os.symlink("missing.png", raw / "dangling.png")
    os.symlink(str(tmp_path / "project" / "pyproject.toml"), raw / "escape.png")
    os.mkfifo(raw / "d" / "pipe.png")
    (raw / "empty.png").write_bytes(b"")
    before = state(raw)
    result = kedro(
        project, "run", "--pipeline", "curation", "--params", f"raw_dir={raw}"
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    decisions = pd.read_csv(
        project / "data/08_reporting/curation_decisions.csv",
        dtype=str,
        keep_default_na=False,
    )
    assert sorted(decisions["path"]) == sorted(listed_entries(raw))
    assert _decided(decisions)["loop_a.png"] == ("quarantined", "corrupt:link_loop")
    assert _decided(decisions)["d/drawing.svg"] == ("accepted", "ok")
    assert state(raw) == before


def test_a_missing_folder_lists_no_works(tmp_path):
    # The lineage hook digests a RawFolder whose folder may not exist.
    assert list(RawFolder(tmp_path / "absent").iter_works()) == []


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("a/b c~.png", "a/b c~.png"),  # printable ASCII: as it is
        ("a\\b.png", "a\\\\b.png"),
        ("a\x7fb\x1fc\td", "a\\x7fb\\x1fc\\x09d"),
        ("caf\u00e9\u2028\x85.png", "caf\u00e9\\u2028\\u0085.png"),
        ("\udcff.png", "\\xff.png"),  # a byte that was not UTF-8
    ],
)
def test_escaped_names_with_and_without_anything_to_escape(name, escaped):
    assert encode_rel_path(name) == escaped
    assert RawFolder("/").path(escaped) == Path("/") / name
