"""Site-level reservations of works with a `source_url`, from the offline snapshot
`raw_dir/_sources/sites/<host>/` (layout in docs/rights-policy.md).

Each snapshot file is read once per host, through the raw folder's own link
resolution (never outside `raw_dir`), as a regular file, at most
`policy.max_metadata_bytes` of it. A file that is too large, not a regular
file or malformed becomes a problem code for the works of that host, never
an exception: a site that says something unreadable may have reserved its
rights, so those works go to a person.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass, field
from typing import Any

from imagegen.datasets.raw_folder import (
    SOURCES_DIR,
    LinkLoop,
    PathOutsideRawDir,
    RawFolder,
    encode_rel_path,
)
from imagegen.pipelines.curation.inventory import NotRegularFile, open_regular
from imagegen.rights import sites

SITES_DIR = f"{SOURCES_DIR}/sites"
FILES = {
    "snapshot.json": "site_snapshot_json",
    "robots.txt": "site_robots_txt",
    "tdmrep.json": "site_tdmrep_json",
    "headers.json": "site_headers_json",
}


@dataclass
class SiteCheck:
    """What a site's snapshot says about one URL."""

    signals: list[str] = field(default_factory=list)
    problem: str = ""  # a `corrupt:` detail, e.g. site_tdmrep_json_malformed
    snapshot: str = ""  # "<host> <retrieved date>" when a snapshot was read


class _Missing(Exception):
    """The snapshot has no such file: nothing said."""


class SiteSnapshot:
    """One host's snapshot folder, each file read at most once."""

    def __init__(self, folder: RawFolder, host: str, limit: int, crawlers: list[str]):
        self.folder, self.host, self.limit, self.crawlers = (
            folder,
            host,
            limit,
            crawlers,
        )
        self.base = f"{SITES_DIR}/{host}"
        self._cache: dict[str, Any] = {}

    def _read(self, rel: str, code: str) -> bytes:
        """Bytes of a snapshot file; _Missing when absent, SiteSnapshotError when bad."""
        full = f"{self.base}/{rel}"
        try:
            os.lstat(self.folder.path(full))
            real = self.folder.resolve(full)
            with open_regular(real) as fh:
                data = fh.read(self.limit + 1)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _Missing from exc
        except (OSError, PathOutsideRawDir, LinkLoop, NotRegularFile) as exc:
            raise sites.SiteSnapshotError(f"{code}_unreadable") from exc
        if len(data) > self.limit:
            raise sites.SiteSnapshotError(f"{code}_too_large")
        return data

    def _parsed(self, name: str, parse):
        """A parsed snapshot file (None when absent); the error is cached too."""
        if name not in self._cache:
            try:
                self._cache[name] = parse(self._read(name, FILES[name]))
            except _Missing:
                self._cache[name] = None
            except sites.SiteSnapshotError as exc:
                self._cache[name] = exc
        value = self._cache[name]
        if isinstance(value, sites.SiteSnapshotError):
            raise value
        return value

    def exists(self) -> bool:
        try:
            real = self.folder.resolve(self.base)
            return stat.S_ISDIR(os.stat(real).st_mode)
        except (OSError, PathOutsideRawDir, LinkLoop):
            return False

    def date(self) -> str:
        when = self._parsed("snapshot.json", sites.snapshot_date)
        if when:
            return when
        mtime = os.stat(self.folder.resolve(self.base)).st_mtime
        return f"{sites.mtime_date(mtime)} (folder mtime)"

    def _page(self, path: str) -> list[str]:
        # The recorded body of an HTML page: pages/<URL path>, index.html for "/".
        clean = posixpath.normpath("/" + path.split("?", 1)[0]).lstrip("/")
        if path.split("?", 1)[0].endswith("/") or not clean:
            clean = posixpath.join(clean, "index.html")
        rel = encode_rel_path(f"pages/{clean}")
        key = f"page:{rel}"
        if key not in self._cache:
            try:
                self._cache[key] = sites.html_signals(self._read(rel, "site_page"))
            except _Missing:
                self._cache[key] = []
            except sites.SiteSnapshotError as exc:
                self._cache[key] = exc
        value = self._cache[key]
        if isinstance(value, sites.SiteSnapshotError):
            raise value
        return value

    def check(self, url: str) -> SiteCheck:
        """Opt-out signals the snapshot holds for `url`; problems never raise."""
        result = SiteCheck()
        path = sites.url_path(url)
        steps = (
            lambda: self._header_signals(path),
            lambda: self._tdmrep_signals(path),
            lambda: self._page(path),
            lambda: self._robots_signals(url),
        )
        for step in steps:
            try:
                result.signals.extend(step())
            except sites.SiteSnapshotError as exc:
                result.problem = result.problem or exc.code
        try:
            result.snapshot = f"{self.host} {self.date()}"
        except sites.SiteSnapshotError as exc:
            result.problem = result.problem or exc.code
            result.snapshot = self.host
        result.signals = sorted(set(result.signals), key=sites.SITE_SIGNALS.index)
        return result

    def _header_signals(self, path: str) -> list[str]:
        table = self._parsed("headers.json", sites.parse_headers) or {}
        headers = table.get(path, table.get(path.split("?", 1)[0], {}))
        return sites.header_signals(headers)

    def _tdmrep_signals(self, path: str) -> list[str]:
        rules = self._parsed("tdmrep.json", sites.parse_tdmrep) or []
        return [sites.TDMREP_SITE] if sites.tdmrep_reserves(rules, path) else []

    def _robots_signals(self, url: str) -> list[str]:
        robots = self._parsed("robots.txt", sites.parse_robots)
        if robots is None:
            return []
        disallowed = sites.robots_disallows(robots, url, self.crawlers)
        return [sites.ROBOTS_TXT] if disallowed else []


def check_sites(
    folder: RawFolder, urls: list[str], limit: int, crawlers: list[str]
) -> list[SiteCheck]:
    """One SiteCheck per URL ('' or not http(s): nothing said)."""
    snapshots: dict[str, SiteSnapshot] = {}
    results = []
    for url in urls:
        try:
            host = sites.url_host(url) if url else None
        except sites.SiteSnapshotError as exc:
            results.append(SiteCheck(problem=exc.code))
            continue
        if host is None:
            results.append(SiteCheck())
            continue
        if host not in snapshots:
            snapshots[host] = SiteSnapshot(folder, host, limit, crawlers)
        snapshot = snapshots[host]
        results.append(snapshot.check(url) if snapshot.exists() else SiteCheck())
    return results
