import math

from imagegen.metrics.gates import describe_gate, gates_passed, judge_gates

GATES = {"fid_max": 20.0, "kid_max": 1.0, "ct_min": -3.0, "memorised_fraction_max": 0.1}
GOOD = {"fid": 5.0, "kid": 0.2, "ct_score": -0.5, "memorised_fraction": 0.04}


def test_all_pass():
    verdicts = judge_gates(GOOD, GATES)
    assert {v["verdict"] for v in verdicts.values()} == {"pass"}
    assert gates_passed(verdicts)


def test_limits_are_inclusive_and_each_gate_fails_on_its_own():
    assert gates_passed(judge_gates({**GOOD, "fid": 20.0, "ct_score": -3.0}, GATES))
    for metric, bad in [
        ("fid", 20.5),
        ("kid", 1.5),
        ("ct_score", -3.1),
        ("memorised_fraction", 0.5),
    ]:
        verdicts = judge_gates({**GOOD, metric: bad}, GATES)
        failed = [g for g, v in verdicts.items() if v["verdict"] == "fail"]
        assert [verdicts[g]["metric"] for g in failed] == [metric]
        assert not gates_passed(verdicts)


def test_unmeasured_fails_and_null_limit_switches_a_gate_off():
    verdicts = judge_gates({**GOOD, "ct_score": None, "kid": math.nan}, GATES)
    assert verdicts["ct_min"]["verdict"] == "not_measured"
    assert verdicts["kid_max"]["verdict"] == "not_measured"
    assert not gates_passed(verdicts)
    verdicts = judge_gates({**GOOD, "fid": 999.0}, {**GATES, "fid_max": None})
    assert verdicts["fid_max"]["verdict"] == "off"
    assert gates_passed(verdicts)


def test_description_is_one_readable_line():
    verdict = judge_gates({**GOOD, "fid": 31.25}, GATES)["fid_max"]
    assert describe_gate("fid_max", verdict) == "fid_max: fid 31.25 <= 20.0: fail"
