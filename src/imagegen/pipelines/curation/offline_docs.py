"""Point Great Expectations' Data Docs at local copies of their CSS, JS and fonts.

GX 1.x writes pages that load Bootstrap, jQuery, bootstrap-table and Font Awesome
from CDNs (and its logo from S3) and offers no setting for local assets, so the
pages are rewritten after GX has written them. Offline they would otherwise
render unstyled, without the validation list.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).parent / "data_docs_assets"
VENDOR = Path("static") / "vendor"

# CDN address in GX's templates -> file under data_docs_assets/.
LOCAL_COPIES = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "bootstrap-dark/bootstrap-prefers-dark.min.css",
}
# Vega draws profiling charts, which the curation suite does not produce.
_VEGA = re.compile(
    r'<script src="https://cdn\.jsdelivr\.net/npm/vega[^"]*"></script>\s*'
)
# The SRI attributes name the CDN files; the copies are served as local files.
_SRI = re.compile(r'\s+integrity="[^"]*"\s+crossorigin="anonymous"')
# GX's logo, from S3 with the context id appended; GX copies it into static/images.
_LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
    r"([\w.-]+\.(?:png|svg))(?:\?[^\"']*)?"
)

# GX's own relative paths to its static folder, some a level short (the favicon
# of validation pages): made relative to each page again.
_STATIC = re.compile(r'((?:src|href)=")(?:\./|(?:\.\./)+)static/')


def localise_data_docs(site_dir: str | os.PathLike[str]) -> int:
    """Copy the assets into the site and rewrite its pages; return pages rewritten."""
    site = Path(site_dir)
    shutil.copytree(
        ASSETS, site / VENDOR, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md")
    )
    rewritten = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _rewrite(text, Path(os.path.relpath(site, page.parent)))
        if new != text:
            page.write_text(new, encoding="utf-8")
            rewritten += 1
    return rewritten


def _rewrite(text: str, up: Path) -> str:
    """The page with its CDN addresses replaced by paths relative to it (`up`: root)."""
    new = _VEGA.sub("", _SRI.sub("", text))
    new = _STATIC.sub(lambda m: f"{m.group(1)}{up.as_posix()}/static/", new)
    for url, local in LOCAL_COPIES.items():
        new = new.replace(url, (up / VENDOR / local).as_posix())
    return _LOGO.sub(lambda m: (up / "static/images" / m.group(1)).as_posix(), new)
