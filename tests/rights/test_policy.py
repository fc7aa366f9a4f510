import pytest

from imagegen.framework.schema import ConfigurationError
from imagegen.rights.policy import licence_verdict, load_policy


@pytest.fixture
def lists(base_policy):
    return load_policy(base_policy).licences


@pytest.mark.parametrize(
    ("licence", "decision", "reason"),
    [
        ("CC0-1.0", "accepted", "ok"),
        ("CC-PDDC", "accepted", "ok"),
        ("CC-PDM-1.0", "accepted", "ok"),
        ("CC-BY-4.0", "accepted", "ok"),
        ("CC-BY-3.0-DE", "accepted", "ok"),
        ("CC-BY-SA-4.0", "review", "licence_review:CC-BY-SA-4.0"),
        ("GPL-2.0-or-later", "review", "licence_review:GPL-2.0-or-later"),
        ("CC-BY-NC-4.0", "rejected", "licence_denied:CC-BY-NC-4.0"),
        ("CC-BY-ND-4.0", "rejected", "licence_denied:CC-BY-ND-4.0"),
        ("CC-BY-NC-SA-3.0", "rejected", "licence_denied:CC-BY-NC-SA-3.0"),
        (
            "LicenseRef-AllRightsReserved",
            "rejected",
            "licence_denied:LicenseRef-AllRightsReserved",
        ),
        ("", "review", "licence_unknown"),
        ("MIT", "review", "licence_review:MIT"),
        # OR: the licensee may pick the most permissive option.
        ("CC-BY-NC-4.0 OR CC0-1.0", "accepted", "ok"),
        # AND: every licence applies, the most restrictive decides.
        ("CC-BY-4.0 AND CC-BY-NC-4.0", "rejected", "licence_denied:CC-BY-NC-4.0"),
    ],
)
def test_licence_verdict(lists, licence, decision, reason):
    assert licence_verdict(licence, lists) == (decision, reason)


def test_bad_policy_names_the_key(base_policy):
    broken = dict(base_policy, min_side=-1)
    with pytest.raises(ConfigurationError, match=r"policy\.min_side"):
        load_policy(broken)
    with pytest.raises(ConfigurationError, match=r"policy\.colour"):
        load_policy(dict(base_policy, colour="blue"))
