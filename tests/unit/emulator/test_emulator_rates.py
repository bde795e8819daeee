"""Quota specs, as written in settings and on the ``nanobanana emulate`` command line."""

from __future__ import annotations

import pytest

from nanobanana_async import cli
from nanobanana_async.emulator import EmulatorSettings, OtherClient, RateQuota
from nanobanana_async.emulator.rates import parse_quota, parse_seconds
from nanobanana_async.emulator.server import emulate_settings


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("sliding:10/60s", RateQuota("sliding", 10, 60.0)),
        ("fixed:20/60s", RateQuota("fixed", 20, 60.0)),
        ("fixed:20/60s+15s", RateQuota("fixed", 20, 60.0, phase=15.0)),
        ("bucket:20/60s,burst=5", RateQuota("bucket", 20, 60.0, burst=5)),
        ("sliding:4/5s", RateQuota("sliding", 4, 5.0)),
        ("fixed:1000/1d", RateQuota("fixed", 1000, 86_400.0)),
        ("sliding:3/250ms", RateQuota("sliding", 3, 0.25)),
        ("fixed:60/1h+30m", RateQuota("fixed", 60, 3600.0, phase=1800.0)),
        ("bucket:10/1.5m", RateQuota("bucket", 10, 90.0)),
        (" sliding:10/60s ", RateQuota("sliding", 10, 60.0)),
    ],
)
def test_good_specs(spec: str, expected: RateQuota) -> None:
    assert parse_quota(spec) == expected
    assert parse_quota(str(expected)) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "sliding",
        "sliding:10",
        "sliding:10/60",  # no unit
        "sliding:10/60x",
        "leaky:10/60s",
        "sliding:0/60s",
        "sliding:-1/60s",
        "sliding:10/0s",
        "sliding:10/60s+5s",  # a phase is for fixed windows
        "fixed:10/60s,burst=3",  # a burst is for buckets
        "bucket:10/60s,burst=0",
        "fixed:10/60s+",
        "",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match=r"expected KIND|must be|is for|is a|not a duration"):
        parse_quota(spec)


def test_labels_follow_the_window_not_its_length() -> None:
    assert RateQuota("fixed", 1, 86_400.0).per_day
    assert RateQuota("sliding", 1, 2 * 86_400.0).per_day
    assert not RateQuota("sliding", 1, 86_399.0).per_day
    assert RateQuota("bucket", 20, burst=5).capacity == 5
    assert RateQuota("bucket", 20).capacity == 20


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("500ms", 0.5), ("2h", 7200), (".5d", 43_200)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


def test_rpm_and_rpd_are_sliding_shortcuts() -> None:
    extra = RateQuota("bucket", 5, 10.0)
    settings = EmulatorSettings(rpm=10, rpd=100, quotas=(extra,))
    assert settings.rate_quotas == (
        RateQuota("sliding", 100, 86_400.0),
        RateQuota("sliding", 10, 60.0),
        extra,
    )


def test_settings_validate_their_quota_knobs() -> None:
    with pytest.raises(ValueError, match="RateQuota"):
        EmulatorSettings(quotas=("sliding:10/60s",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overload_rate"):
        EmulatorSettings(overload_rate=1.5)
    with pytest.raises(ValueError, match="overload_delay"):
        EmulatorSettings(overload_delay=(3.0, 1.0))
    assert EmulatorSettings(quotas=[RateQuota("fixed", 1)]).quotas == (RateQuota("fixed", 1),)  # type: ignore[arg-type]


def test_command_line_options() -> None:
    settings = emulate_settings([
        "--quota", "sliding:10/60s",
        "--quota", "bucket:20/60s,burst=5",
        "--other-client", "8/60s",
        "--hide-quota-value",
        "--hide-retry-info",
        "--overload-rate", "0.1",
        "--max-concurrent", "3",
    ])  # fmt: skip
    assert settings.quotas == (RateQuota("sliding", 10, 60.0), RateQuota("bucket", 20, burst=5))
    assert settings.other_client == OtherClient(8, 60.0)
    assert (settings.quota_value, settings.retry_info) == (False, False)
    assert (settings.overload_rate, settings.max_concurrent) == (0.1, 3)
    plain = emulate_settings([])
    assert (plain.quotas, plain.other_client, plain.quota_value, plain.retry_info) == (
        (),
        None,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--quota", "sliding:10"], "--quota 'sliding:10'"),
        (["--quota", "fixed:10/60s", "--quota", "bucket:1/1s,burst=0"], "--quota 'bucket:1/1s"),
        (["--other-client", "eight"], "--other-client 'eight'"),
        (["--overload-rate", "2"], "overload_rate"),
    ],
)
def test_bad_quota_options_exit_2_with_one_line(
    arguments: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["emulate", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"nanobanana emulate: error: {named}")


def test_a_bad_spec_says_how_to_write_one(capsys: pytest.CaptureFixture[str]) -> None:
    example = "e.g. sliding:10/60s, fixed:20/60s+15s, bucket:20/60s,burst=5"
    for spec in ("sliding:10/60", "window:10/60s"):
        assert cli.main(["emulate", "--quota", spec]) == 2
        assert example in capsys.readouterr().err
    assert cli.main(["emulate", "--quota", "sliding:10/60x"]) == 2
    assert "'60x' is not a duration such as 60s" in capsys.readouterr().err
