import pytest

from imagegen.rights.licences import (
    ALL_RIGHTS_RESERVED,
    PUBLIC_DOMAIN,
    normalise_licence,
    split_expression,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
        ("http://creativecommons.org/licenses/by/4.0/legalcode", "CC-BY-4.0"),
        ("https://creativecommons.org/licenses/by-sa/3.0/deed.fr", "CC-BY-SA-3.0"),
        ("http://creativecommons.org/licenses/by-nc-nd/2.0/", "CC-BY-NC-ND-2.0"),
        ("http://creativecommons.org/licenses/by-sa/2.0/uk/", "CC-BY-SA-2.0-UK"),
        ("http://creativecommons.org/licenses/by/3.0/de/", "CC-BY-3.0-DE"),
        ("http://creativecommons.org/licenses/by-sa/3.0/de/", "CC-BY-SA-3.0-DE"),
        # A port SPDX does not list keeps the unported licence of its version.
        ("http://creativecommons.org/licenses/by/3.0/es/", "CC-BY-3.0"),
        ("http://creativecommons.org/licenses/by/1/", "CC-BY-1.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
        ("https://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0"),
        ("http://web.resource.org/cc/PublicDomain", "CC-PDDC"),
        ("http://creativecommons.org/licenses/publicdomain/", "CC-PDDC"),
        ("http://creativecommons.org/licenses/GPL/2.0/", "GPL-2.0-or-later"),
        ("http://creativecommons.org/licenses/LGPL/2.1/", "LGPL-2.1-or-later"),
        ("https://www.gnu.org/licenses/gpl-3.0.html", "GPL-3.0-only"),
        ("cc-by-4.0", "CC-BY-4.0"),
        ("CC0-1.0", "CC0-1.0"),
        ("MIT OR CC-BY-4.0", "MIT OR CC-BY-4.0"),
        ("All rights reserved", ALL_RIGHTS_RESERVED),
        ("© 2024 Some Studio", ALL_RIGHTS_RESERVED),
        ("Copyright Jane Doe", ALL_RIGHTS_RESERVED),
        ("Public Domain", PUBLIC_DOMAIN),
        # Names as people write them, and URLs inside sentences.
        ("CC0", "CC0-1.0"),
        ("CC0 1.0 Universal", "CC0-1.0"),
        ("CC BY 4.0", "CC-BY-4.0"),
        ("cc-by-nc-sa 3.0", "CC-BY-NC-SA-3.0"),
        ("Attribution 4.0 International (CC BY 4.0)", "CC-BY-4.0"),
        (
            "This work is licensed under a Creative Commons Attribution 4.0 "
            "International License.",
            "CC-BY-4.0",
        ),
        (
            "Creative Commons Attribution-NoDerivatives 4.0 International",
            "CC-BY-ND-4.0",
        ),
        ("See https://creativecommons.org/licenses/by-nc/4.0/.", "CC-BY-NC-4.0"),
        ("CC BY-NC", "LicenseRef-CC-BY-NC"),  # no version: the family only
        # Creative Commons' slogan is not a reservation, even after a notice.
        ("Some rights reserved", ""),
        ("\u00a9 2024 Jane Doe. Some rights reserved.", ""),
        ("Copyright 2024 Jane Doe. Licensed CC BY 4.0", "CC-BY-4.0"),
        ("CC BY 4.0. All rights reserved", "CC-BY-4.0 AND " + ALL_RIGHTS_RESERVED),
        ("", ""),
        (None, ""),
        ("my own licence, ask me", ""),
        ("https://example.com/licence", ""),
    ],
)
def test_normalise_licence(raw, expected):
    assert normalise_licence(raw) == expected


def test_split_expression():
    assert split_expression("MIT OR CC-BY-4.0") == ("OR", [["MIT"], ["CC-BY-4.0"]])
    assert split_expression("CC-BY-4.0") == ("", [["CC-BY-4.0"]])
    operator, groups = split_expression("CC-BY-4.0 AND CC-BY-NC-4.0")
    assert operator == "AND"
    assert groups == [["CC-BY-4.0", "CC-BY-NC-4.0"]]
