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
# Creative Commons' slogan beside a CC licence ("Some rights reserved"): it
# says a licence grants some rights, so it never reads as a reservation.
_SLOGAN = re.compile(r"some\s+rights\s+reserved", re.IGNORECASE)
_ALL_RESERVED_PHRASE = re.compile(
    r"all rights reserved|tous droits r[ée]serv[ée]s|alle rechte vorbehalten"
    r"|todos los derechos reservados",
    re.IGNORECASE,
)
_URL_IN_TEXT = re.compile(
    r"(?:https?://)?(?:www\.)?(?:creativecommons\.org|web\.resource\.org|gnu\.org)"
    r"/[^\s\"'<>()\[\]]*",
    re.IGNORECASE,
)
# Licence names as people write them: "CC0", "CC BY-NC 4.0", "Creative Commons
# Attribution-ShareAlike 4.0 International".
_CC_ZERO_NAME = re.compile(
    r"\b(?:cc|creative[\s-]+commons)[\s-]*(?:0|zero)(?!\w)", re.IGNORECASE
)
_CC_SHORT_NAME = re.compile(
    r"\bcc[\s-]+(?P<terms>by(?:[\s-]+(?:nc|sa|nd))*)(?!\w)"
    r"(?:[\s-]+v?(?P<version>\d(?:\.\d)?)(?!\w|\.\d))?",
    re.IGNORECASE,
)
_CC_LONG_NAME = re.compile(
    r"\bcreative[\s-]+commons[\s-]+(?P<terms>attribution"
    r"(?:[\s-]+(?:non[\s-]?commercial|share[\s-]?alike|no[\s-]?deriv(?:ative)?s?))*)"
    r"(?:[\s-]+licen[cs]e)?(?:[\s,-]+(?:version[\s-]+)?v?(?P<version>\d\.\d))?",
    re.IGNORECASE,
)
_TERMS = {"by": "BY", "nc": "NC", "sa": "SA", "nd": "ND"}


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


def _cc_id(terms: str, version: str | None) -> str | None:
    """SPDX id of CC terms ("by-nc-sa") and version; `LicenseRef-CC-…` without one."""
    found = {_TERMS[t] for t in re.split(r"[\s-]+", terms.lower()) if t in _TERMS}
    code = "-".join(t for t in ("BY", "NC", "ND", "SA") if t in found)
    if "ND" in found and "SA" in found:
        return None  # no such licence
    if not version:
        # The version is not said: the family is known (what the policy needs
        # to deny NC/ND), the licence text is not.
        return f"LicenseRef-CC-{code}"
    version = version if "." in version else f"{version}.0"
    return _spdx_or_none(f"CC-{code}-{version}")


def _long_terms(terms: str) -> str:
    text = re.sub(r"[\s-]+", "", terms.lower())
    out = ["by"]
    if "noncommercial" in text:
        out.append("nc")
    if "sharealike" in text:
        out.append("sa")
    if "noderiv" in text:
        out.append("nd")
    return "-".join(out)


def _licences_in_text(text: str) -> set[str]:
    """Licences a free-text statement names: URLs, CC names, reservations."""
    found = set()
    for url in _URL_IN_TEXT.findall(text):
        if spdx := _from_cc_url(url.rstrip(".,;:")):
            found.add(spdx)
    if _CC_ZERO_NAME.search(text):
        found.add("CC0-1.0")
    for match in _CC_SHORT_NAME.finditer(text):
        if spdx := _cc_id(match["terms"], match["version"]):
            found.add(spdx)
    for match in _CC_LONG_NAME.finditer(text):
        if spdx := _cc_id(_long_terms(match["terms"]), match["version"]):
            found.add(spdx)
    if _ALL_RESERVED_PHRASE.search(_SLOGAN.sub("", text)):
        found.add(ALL_RIGHTS_RESERVED)
    return found


@lru_cache(maxsize=4096)
def normalise_licence(raw: str | None) -> str:
    """SPDX id or expression for a licence URL, id or rights statement; '' if unknown.

    A statement naming several licences (a name and a URL, a licence and "all
    rights reserved") gives all of them joined with AND, so the most
    restrictive decides. A copyright notice that names no licence ("© Jane")
    is all rights reserved, unless it carries Creative Commons' slogan "Some
    rights reserved", which says a licence is given elsewhere.
    """
    if raw is None:
        return ""
    text = str(raw).strip()
    if not text:
        return ""
    if from_url := _from_cc_url(text):
        return from_url
    if _PUBLIC_DOMAIN_TEXT.match(text) or text.lower() == PUBLIC_DOMAIN.lower():
        return PUBLIC_DOMAIN
    if text.lower() == ALL_RIGHTS_RESERVED.lower():
        return ALL_RIGHTS_RESERVED
    try:
        info = _licensing().validate(text)
    except (ExpressionError, AttributeError):
        # AttributeError: license-expression 30.4 fails that way on some free text.
        info = None
    if info is not None and not (info.errors or info.invalid_symbols):
        return info.normalized_expression
    if found := _licences_in_text(text):
        return " AND ".join(sorted(found))
    if _RESERVED_TEXT.search(text) and not _SLOGAN.search(text):
        return ALL_RIGHTS_RESERVED
    return ""


def same_licence_family(unversioned: str, spdx: str) -> bool:
    """Whether `LicenseRef-CC-BY-SA` names the family of `CC-BY-SA-4.0` (and so on)."""
    if not unversioned.startswith("LicenseRef-CC-"):
        return False
    code = unversioned.removeprefix("LicenseRef-")
    return re.fullmatch(re.escape(code) + r"-\d\.\d(?:-[A-Z]{2,5})?", spdx) is not None


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
