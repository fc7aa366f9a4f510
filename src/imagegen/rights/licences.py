"""Licence normalisation: URLs, SPDX ids and free-text rights statements to SPDX.

SPDX ids and expressions are parsed with `license-expression` (the SPDX
licence list it ships). Creative Commons URLs and rights statements have no
parser there, so the URL grammar below maps them onto that list.
"""

from __future__ import annotations

import re
from functools import lru_cache

from license_expression import ExpressionError, get_spdx_licensing

ALL_RIGHTS_RESERVED = "LicenseRef-AllRightsReserved"
PUBLIC_DOMAIN = "LicenseRef-PublicDomain"

_CC_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?creativecommons\.org/licenses/"
    r"(?P<code>[a-z-]+)/(?P<version>\d(?:\.\d)?)(?:/(?P<port>[a-z-]{2,5}))?/?"
    r"(?:(?:deed|legalcode)(?:\.[a-z_-]+)?)?$",
    re.IGNORECASE,
)
_CC_PUBLICDOMAIN = re.compile(
    r"^(?:https?://)?(?:www\.)?creativecommons\.org/publicdomain/"
    r"(?P<kind>zero|mark)/(?P<version>\d\.\d)",
    re.IGNORECASE,
)
# Legacy public-domain dedications: Creative Commons' own and the one Open Clip
# Art Library works carry (`http://web.resource.org/cc/PublicDomain`).
_CC_PDDC_URLS = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:creativecommons\.org/licenses/publicdomain"
    r"|web\.resource\.org/cc/publicdomain)/?$",
    re.IGNORECASE,
)
# CC-GNU GPL/LGPL wrappers say "version 2 ... or (at your option) any later".
_CC_GNU_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?creativecommons\.org/licenses/(?P<family>L?GPL)/"
    r"(?P<version>\d\.\d)/?$",
    re.IGNORECASE,
)
_GNU_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?gnu\.org/licenses/(?:old-licenses/)?"
    r"(?P<family>a?l?gpl|fdl)-(?P<version>\d\.\d)",
    re.IGNORECASE,
)
_RESERVED_TEXT = re.compile(
    r"all rights reserved|tous droits r[ée]serv[ée]s|alle rechte vorbehalten"
    r"|todos los derechos reservados|^\s*(?:\(c\)|©|copyright\b)",
    re.IGNORECASE,
)
_PUBLIC_DOMAIN_TEXT = re.compile(r"^\s*public[\s_-]*domain\.?\s*$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _licensing():
    return get_spdx_licensing()


@lru_cache(maxsize=1)
def _known_ids() -> dict[str, str]:
    """Lower-cased SPDX id -> canonical SPDX id."""
    return {key.lower(): key for key in _licensing().known_symbols}


def _spdx_or_none(candidate: str) -> str | None:
    return _known_ids().get(candidate.lower())


def _from_cc_url(text: str) -> str | None:
    if match := _CC_PUBLICDOMAIN.match(text):
        return "CC0-1.0" if match["kind"].lower() == "zero" else "CC-PDM-1.0"
    if _CC_PDDC_URLS.match(text):
        return "CC-PDDC"
    if match := _CC_GNU_URL.match(text):
        return _spdx_or_none(f"{match['family']}-{match['version']}-or-later")
    if match := _CC_URL.match(text):
        code = match["code"].upper()
        version = (
            match["version"] if "." in match["version"] else f"{match['version']}.0"
        )
        base = f"CC-{code}-{version}"
        if match["port"]:
            # Jurisdiction ports that SPDX lists keep their own id; the others
            # carry the same terms as the unported licence of that version.
            ported = _spdx_or_none(f"{base}-{match['port']}")
            if ported:
                return ported
        return _spdx_or_none(base)
    if match := _GNU_URL.match(text):
        family = match["family"].upper()
        return _spdx_or_none(f"{family}-{match['version']}-only")
    return None


@lru_cache(maxsize=4096)
def normalise_licence(raw: str | None) -> str:
    """SPDX id or expression for a licence URL, id or rights statement; '' if unknown."""
    if raw is None:
        return ""
    text = str(raw).strip()
    if not text:
        return ""
    if from_url := _from_cc_url(text):
        return from_url
    if _PUBLIC_DOMAIN_TEXT.match(text):
        return PUBLIC_DOMAIN
    if text.lower() == ALL_RIGHTS_RESERVED.lower() or _RESERVED_TEXT.search(text):
        return ALL_RIGHTS_RESERVED
    if text.lower() == PUBLIC_DOMAIN.lower():
        return PUBLIC_DOMAIN
    try:
        info = _licensing().validate(text)
    except (ExpressionError, AttributeError):
        # AttributeError: license-expression 30.4 fails that way on some free text.
        return ""
    if info.errors or info.invalid_symbols:
        return ""
    return info.normalized_expression


def split_expression(expression: str) -> tuple[str, list[list[str]]]:
    """Operator and operand ids of a normalised expression.

    ("OR", [[a], [b]]) for "a OR b", ("AND", [[a, b]]) for "a AND b", ("", [[id]])
    for one id. Parenthesised expressions are read conservatively: every id in
    them must be allowed. (The ids are taken as written: parsing them again
    would map LicenseRef ids onto scancode aliases.)
    """
    text = expression.strip()
    if not text:
        return "", []
    if "(" in text or ")" in text:
        ids = [
            t for t in re.split(r"[()\s]+", text) if t and t.upper() not in _OPERATORS
        ]
        return "AND", [sorted(set(ids))]
    alternatives = re.split(r"\s+OR\s+", text, flags=re.IGNORECASE)
    groups = [
        sorted({t for t in re.split(r"\s+(?:AND|WITH)\s+", alt, flags=re.IGNORECASE)})
        for alt in alternatives
    ]
    if len(groups) > 1:
        return "OR", groups
    return ("AND" if len(groups[0]) > 1 else ""), groups


_OPERATORS = {"AND", "OR", "WITH"}
