"""`imagegen audit verify`: what it says it checked."""

import io

from PIL import Image

from imagegen.provenance.verify import verify_lineage


def test_verify_speaks_of_entries_for_a_generation_ledger(tmp_path):
    from imagegen.cli import verify_message
    from imagegen.provenance.generation_ledger import record_images

    png = io.BytesIO()
    Image.new("L", (8, 8)).save(png, format="PNG")
    path = tmp_path / "generation.jsonl"
    record_images([png.getvalue()] * 2, [{"source": "cli"}] * 2, path)
    line = verify_message(verify_lineage(path, tmp_path))
    assert line.startswith("ok: 2 entries, head 1:")
    assert line.endswith("hash chain intact (2 generation entries)")
    assert "files" not in line
