"""The monitor's summary line and trend chart, from a report and a check history."""

import logging

import matplotlib.dates as mdates
import pandas as pd

from imagegen.pipelines.monitor.nodes import (
    _trend_figure,
    monitoring_summary,
    raise_on_alert,
)

REPORT = {
    "alerts": [],
    "versions": {
        "imagegen-digits-dcgan/2": {"images": 40, "kid": 0.1},
        "imagegen-forty-dcgan/1": {
            "images": 12,
            "skipped": "trained on another dataset (digest abc, on disk def)",
        },
    },
}


def test_the_log_line_names_each_skipped_version_and_why(caplog):
    caplog.set_level(logging.INFO)
    raise_on_alert(REPORT, "", {"fail_on_alert": False})
    assert caplog.messages == [
        "Monitoring: no alerts; checked 1 version(s) (imagegen-digits-dcgan/2); "
        "skipped 1: imagegen-forty-dcgan/1 (trained on another dataset "
        "(digest abc, on disk def))"
    ]


def test_alerts_are_counted():
    line = monitoring_summary({**REPORT, "alerts": ["x: quality: kid 0.9 > 0.5"]})
    assert line.startswith("1 alert(s); checked 1 version(s)")


def test_a_one_point_chart_spans_about_an_hour():
    history = pd.DataFrame(
        {
            "time": [pd.Timestamp("2026-12-03 12:00")],
            "version": ["imagegen-digits-dcgan/1"],
            "kid": [0.1],
            "fid": [2.0],
            "memorised_fraction": [0.0],
        }
    )
    figure = _trend_figure(history)
    for ax in figure.axes:
        low, high = (mdates.num2date(x) for x in ax.get_xlim())
        assert pd.Timedelta(minutes=30) <= high - low <= pd.Timedelta(hours=2)
        assert low.year == high.year == 2026


def test_a_chart_of_two_days_spans_them():
    times = pd.to_datetime(["2026-12-01 08:00", "2026-12-03 08:00"])
    history = pd.DataFrame(
        {"time": times, "version": ["v/1", "v/1"], "kid": [0.1, 0.2]}
    )
    low, high = (mdates.num2date(x) for x in _trend_figure(history).axes[0].get_xlim())
    assert pd.Timedelta(days=2) < high - low < pd.Timedelta(days=3)
