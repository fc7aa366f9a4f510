"""CSV files that people open in a spreadsheet: formula cells neutralised, atomic writes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import CSVDataset

from imagegen.rights.metadata import csv_restored, csv_safe


class PeopleCSVDataset(CSVDataset):
    """`pandas.CSVDataset` whose text cells starting with = + - @ tab or CR are
    written with a leading `'` (OWASP CSV injection) and read back as they were.

    A local file is written to a temporary file beside it and renamed into
    place, so a kill never leaves a torn CSV that still parses.
    """

    def save(self, data: pd.DataFrame) -> None:
        safe = csv_safe(data)
        if self._protocol not in ("file", "local"):
            super().save(safe)
            return
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))
        target.parent.mkdir(parents=True, exist_ok=True)
        for stray in target.parent.glob(f".{target.name}.*.tmp"):  # a killed save's
            stray.unlink(missing_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                safe.to_csv(path_or_buf=fh, **self._save_args)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self._invalidate_cache()

    def load(self) -> pd.DataFrame:
        return csv_restored(super().load())
