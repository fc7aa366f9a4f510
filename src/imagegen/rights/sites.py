"""Site-level reservations, read from an offline snapshot of the site a work came from.

What a site says about text and data mining of its content, as recorded on
disk by whoever collected the works (nothing here touches the network):

- TDMRep (W3C TDM Reservation Protocol): the `tdm-reservation` HTTP header,
  the rules of `/.well-known/tdmrep.json`, and `<meta name="tdm-reservation">`
  in an HTML page;
- `X-Robots-Tag: noai` / `noimageai` (header) and the same words in
  `<meta name="robots">`;
- robots.txt groups that disallow an AI-training crawler the path.

Every function takes bytes already size-checked by the caller and raises
`SiteSnapshotError` (a short code, never the content) on what it cannot read.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from protego import Protego

# Opt-out signal names (`opt_out:<name>`), in the order a reason names the first.
TDMREP_HEADER = "tdmrep_header"
TDMREP_SITE = "tdmrep_site"  # /.well-known/tdmrep.json
TDMREP_HTML = "tdmrep_html"
X_ROBOTS_TAG = "x_robots_tag"
ROBOTS_META = "robots_meta"
ROBOTS_TXT = "robots_txt"
SITE_SIGNALS = (
    TDMREP_HEADER,
    TDMREP_SITE,
    TDMREP_HTML,
    X_ROBOTS_TAG,
    ROBOTS_META,
    ROBOTS_TXT,
)

# Words of X-Robots-Tag / <meta name="robots"> that reserve AI use.
NOAI_DIRECTIVES = frozenset({"noai", "noimageai"})
MAX_RULES = 10_000  # tdmrep.json rules read; a longer list is refused
MAX_HEADERS_PATHS = 100_000

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class SiteSnapshotError(ValueError):
    """A snapshot file cannot be used; `code` is the reason's detail."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def url_host(url: str) -> str | None:
    """The snapshot folder name of an http(s) URL's host; None for other URLs.

    Raises SiteSnapshotError("site_host_invalid") for an http(s) URL whose host
    is no DNS name or IPv4 address (`..`, `a/b`, an empty label): such a name
    could lead out of the snapshot folder, and names no site anyway.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        if url.strip().lower().startswith(("http:", "https:")):
            raise SiteSnapshotError("site_host_invalid") from exc
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = (parts.hostname or "").rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower() if host else ""
    except UnicodeError as exc:
        raise SiteSnapshotError("site_host_invalid") from exc
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.match(x) for x in labels):
        raise SiteSnapshotError("site_host_invalid")
    return host


def url_path(url: str) -> str:
    """Path and query of a URL as a site sees the request (`/` when empty)."""
    parts = urlsplit(url.strip())
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _text(data: bytes, code: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SiteSnapshotError(code) from exc


def _json(data: bytes, code: str):
    try:
        return json.loads(_text(data, code))
    except (ValueError, RecursionError) as exc:
        raise SiteSnapshotError(code) from exc


# --- snapshot.json --------------------------------------------------------------------


def snapshot_date(data: bytes) -> str:
    """The `retrieved` date of `snapshot.json`, as ISO 8601 UTC."""
    record = _json(data, "site_snapshot_json_malformed")
    value = record.get("retrieved") if isinstance(record, dict) else None
    if not isinstance(value, str) or len(value) > 64:
        raise SiteSnapshotError("site_snapshot_json_malformed")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SiteSnapshotError("site_snapshot_json_malformed") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def mtime_date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


# --- TDMRep ---------------------------------------------------------------------------


def _reserved(value) -> bool:
    """A `tdm-reservation` value: 1 reserves; 0 does not; anything else reserves.

    An unreadable value is read as a reservation: the site meant to say something.
    """
    text = str(value).strip()
    return text != "0"


def _location_regex(pattern: str) -> re.Pattern[str]:
    # TDMRep locations use robots.txt path patterns (`*` any run, `$` the end);
    # a dozen lines here rather than reaching into a robots parser's internals.
    end = pattern.endswith("$")
    body = re.escape(pattern[:-1] if end else pattern).replace(r"\*", ".*")
    return re.compile(body + ("$" if end else ""))


def parse_tdmrep(data: bytes) -> list[tuple[re.Pattern[str], bool]]:
    """The rules of a `tdmrep.json`: (location pattern, reserved), in file order."""
    rules = _json(data, "site_tdmrep_json_malformed")
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise SiteSnapshotError("site_tdmrep_json_malformed")
    out = []
    for rule in rules:
        if not isinstance(rule, dict):
            raise SiteSnapshotError("site_tdmrep_json_malformed")
        location = rule.get("location")
        if not isinstance(location, str) or "tdm-reservation" not in rule:
            raise SiteSnapshotError("site_tdmrep_json_malformed")
        if not location.startswith("/"):
            location = "/" + location
        out.append(
            (_location_regex(location[:2048]), _reserved(rule["tdm-reservation"]))
        )
    return out


def tdmrep_reserves(rules: list[tuple[re.Pattern[str], bool]], path: str) -> bool:
    """Whether the first rule whose location matches `path` reserves TDM rights."""
    for pattern, reserved in rules:
        if pattern.match(path):
            return reserved
    return False


# --- recorded response headers --------------------------------------------------------


def parse_headers(data: bytes) -> dict[str, dict[str, list[str]]]:
    """`headers.json`: {URL path: {header name: value or [values]}}, names lower-cased."""
    table = _json(data, "site_headers_json_malformed")
    if not isinstance(table, dict) or len(table) > MAX_HEADERS_PATHS:
        raise SiteSnapshotError("site_headers_json_malformed")
    out: dict[str, dict[str, list[str]]] = {}
    for path, headers in table.items():
        if not isinstance(headers, dict):
            raise SiteSnapshotError("site_headers_json_malformed")
        fields: dict[str, list[str]] = {}
        for name, value in headers.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, (str, int)) for v in values):
                raise SiteSnapshotError("site_headers_json_malformed")
            fields.setdefault(str(name).strip().lower(), []).extend(
                str(v) for v in values
            )
        out[path] = fields
    return out


def _noai(values: list[str]) -> bool:
    """Whether X-Robots-Tag / robots meta values hold `noai` or `noimageai`.

    A value may name a crawler first (`GPTBot: noai`); any crawler counts.
    """
    for value in values:
        for word in value.split(","):
            token = word.rsplit(":", 1)[-1].strip().lower()
            if token in NOAI_DIRECTIVES:
                return True
    return False


def header_signals(headers: dict[str, list[str]]) -> list[str]:
    """Opt-out signals in one URL's recorded response headers."""
    signals = []
    if any(_reserved(v) for v in headers.get("tdm-reservation", [])):
        signals.append(TDMREP_HEADER)
    if _noai(headers.get("x-robots-tag", [])):
        signals.append(X_ROBOTS_TAG)
    return signals


# --- HTML -----------------------------------------------------------------------------


class _MetaReader(HTMLParser):
    """Collects the content of `<meta name="tdm-reservation|robots">` tags."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        if tag != "meta":
            return
        values = {k.lower(): v or "" for k, v in attrs if k}
        name = values.get("name", "").strip().lower()
        if name in ("tdm-reservation", "robots"):
            self.meta.setdefault(name, []).append(values.get("content", ""))


def html_signals(data: bytes) -> list[str]:
    """Opt-out signals in an HTML page's meta tags (bytes decoded leniently)."""
    reader = _MetaReader()
    try:
        reader.feed(data.decode("utf-8", "replace"))
        reader.close()
    except Exception as exc:  # noqa: BLE001 - html.parser on hostile markup
        raise SiteSnapshotError("site_page_malformed") from exc
    signals = []
    if any(_reserved(v) for v in reader.meta.get("tdm-reservation", [])):
        signals.append(TDMREP_HTML)
    if _noai(reader.meta.get("robots", [])):
        signals.append(ROBOTS_META)
    return signals


# --- robots.txt -----------------------------------------------------------------------


def parse_robots(data: bytes) -> Protego:
    """A robots.txt, read as UTF-8 (bytes that are not are replaced, as RFC 9309 allows)."""
    try:
        return Protego.parse(data.decode("utf-8", "replace"))
    except Exception as exc:  # noqa: BLE001 - a parser on hostile text
        raise SiteSnapshotError("site_robots_txt_malformed") from exc


def robots_disallows(robots: Protego, url: str, crawlers: list[str]) -> list[str]:
    """The AI-training crawlers that robots.txt keeps off `url`.

    A crawler without a group of its own follows the `User-agent: *` group, as
    the crawlers themselves do, so a path closed to every robot is closed to
    them too.
    """
    return [c for c in crawlers if not robots.can_fetch(url, c)]
