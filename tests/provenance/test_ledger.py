import json
import multiprocessing

import pytest

from imagegen.provenance.ledger import GENESIS, Ledger, LedgerError


def _ledger(tmp_path, n=3):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    for i in range(n):
        ledger.append(
            {"kind": "node", "node": f"node_{i}", "outputs": {"x": {"sha256": str(i)}}}
        )
    return ledger


def test_chain_links_every_entry(tmp_path):
    ledger = _ledger(tmp_path)
    entries = list(ledger.entries())
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0]["prev_hash"] == GENESIS
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert ledger.verify().seq == 2


def test_editing_any_byte_is_detected(tmp_path):
    ledger = _ledger(tmp_path)
    original = ledger.path.read_bytes()
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] = (tampered[position] + 1) % 256
        ledger.path.write_bytes(bytes(tampered))
        with pytest.raises(LedgerError):
            ledger.verify()
    ledger.path.write_bytes(original)
    ledger.verify()


def test_removed_reordered_and_truncated_entries_are_detected(tmp_path):
    ledger = _ledger(tmp_path, n=4)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    ledger.path.write_bytes(b"".join([lines[0], lines[2], lines[3]]))
    with pytest.raises(LedgerError, match="line 2"):
        ledger.verify()
    ledger.path.write_bytes(b"".join([lines[1], lines[0], lines[2], lines[3]]))
    with pytest.raises(LedgerError, match="line 1"):
        ledger.verify()
    ledger.path.write_bytes(b"".join(lines[:3]))
    with pytest.raises(LedgerError, match="removed from the end"):
        ledger.verify()


def test_a_consistent_rewrite_is_still_caught_by_head(tmp_path):
    ledger = _ledger(tmp_path)
    entries = list(ledger.entries())
    entries[2]["node"] = "forged"
    from imagegen.provenance.ledger import canonical_json, entry_hash

    entries[2]["hash"] = entry_hash(entries[2])
    ledger.path.write_text("".join(canonical_json(e) + "\n" for e in entries))
    with pytest.raises(LedgerError, match="HEAD"):
        ledger.verify()


def test_a_torn_last_line_is_dropped_by_the_next_append(tmp_path):
    ledger = _ledger(tmp_path)
    with open(ledger.path, "ab") as fh:
        fh.write(b'{"kind": "node", "node": "half')
    entry = ledger.append({"kind": "node", "node": "after_crash"})
    assert entry["seq"] == 3
    assert ledger.verify().seq == 3
    assert all(json.loads(line) for line in ledger.path.read_text().splitlines())


def _writer(path, worker, count):
    ledger = Ledger(path)
    for i in range(count):
        ledger.append({"kind": "node", "node": f"w{worker}-{i}", "pad": "x" * 3000})


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "ledger.jsonl"
    workers = [
        multiprocessing.get_context("fork").Process(target=_writer, args=(path, w, 40))
        for w in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    head = Ledger(path).verify()
    assert head.seq == 159
    nodes = [e["node"] for e in Ledger(path).entries()]
    assert sorted(nodes) == sorted(f"w{w}-{i}" for w in range(4) for i in range(40))


def _forge(ledger, index, **changes):
    """Rewrite entry `index` and recompute every later hash: a consistent chain."""
    from imagegen.provenance.ledger import GENESIS, canonical_json, entry_hash

    entries = list(ledger.entries())
    entries[index].update(changes)
    prev = entries[index - 1]["hash"] if index else GENESIS
    for entry in entries[index:]:
        entry["prev_hash"] = prev
        entry["hash"] = prev = entry_hash(entry)
    ledger.path.write_text("".join(canonical_json(e) + "\n" for e in entries))
    ledger.repair_head()  # the forger rewrites HEAD too


def test_a_consistent_rewrite_passes_the_chain_but_not_its_anchors(tmp_path):
    from imagegen.provenance.ledger import check_anchors

    ledger = _ledger(tmp_path, n=4)
    anchors = [(f"{e['seq']}:{e['hash']}", f"tag {e['seq']}") for e in ledger.entries()]
    check_anchors(ledger.hashes(), anchors)
    _forge(ledger, 1, outputs={"x": {"sha256": "forged"}})
    assert ledger.verify().seq == 3  # the chain alone cannot tell
    with pytest.raises(LedgerError, match="tag 1 records head 1:.*rewritten"):
        check_anchors(ledger.hashes(), anchors)


def test_a_deleted_and_restarted_ledger_is_caught_by_its_anchors(tmp_path):
    from imagegen.provenance.ledger import check_anchors

    ledger = _ledger(tmp_path, n=3)
    anchor = [(f"2:{ledger.head().hash}", "imagegen-digits-dcgan version 1")]
    ledger.path.unlink()
    ledger.head_path.unlink()
    fresh = _ledger(tmp_path, n=1)
    assert fresh.verify().seq == 0
    with pytest.raises(LedgerError, match="has 1 entries: it was cut or restarted"):
        check_anchors(fresh.hashes(), anchor)


def test_an_append_interrupted_before_head_is_repaired_not_tampering(tmp_path):
    ledger = _ledger(tmp_path, n=3)
    before = ledger.head_path.read_text()
    ledger.append({"kind": "node", "node": "killed_before_head"})
    ledger.head_path.write_text(before)  # as a kill between fsync and HEAD leaves it
    (tmp_path / "ledger.jsonl.HEAD.4242.tmp").write_text("{}")
    with pytest.raises(LedgerError, match="append was interrupted"):
        ledger.verify()
    assert ledger.verify(repair=True).seq == 3
    assert ledger.verify().seq == 3
    assert not list(tmp_path.glob("*.tmp"))


def _append_forever(path):
    ledger = Ledger(path)
    while True:
        ledger.append({"kind": "node", "node": "loop", "pad": "x" * 500})


def test_sigkill_while_appending_never_looks_like_tampering(tmp_path):
    import os
    import signal
    import time

    path = tmp_path / "ledger.jsonl"
    context = multiprocessing.get_context("fork")
    for kill in range(12):
        worker = context.Process(target=_append_forever, args=(path,))
        worker.start()
        time.sleep(0.05 + 0.013 * kill)
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
        head = Ledger(path).verify(repair=True)
        assert head is not None
        assert not list(tmp_path.glob("*.HEAD.*.tmp"))
    assert Ledger(path).verify().seq == head.seq
