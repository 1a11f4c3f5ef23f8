"""The strike policy file: the shipped one loads; bad ones fail at load with the key, value and fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from strikes.domain import Feature, Policy, Severity
from strikes.policy import StrikePolicy, load_strike_policy
from tegur.errors import ConfigError


@pytest.fixture(scope="module")
def shipped(repo_root: Path) -> StrikePolicy:
    return load_strike_policy(repo_root / "configs" / "strikes.yaml")


@pytest.fixture()
def raw(repo_root: Path) -> dict[str, Any]:
    with open(repo_root / "configs" / "strikes.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_shipped_policy_covers_every_policy_and_feature(shipped: StrikePolicy) -> None:
    assert shipped.name == "strikes"
    assert set(shipped.policies) == set(Policy)
    assert set(shipped.features) == set(Feature)
    assert shipped.strike_ttl_days == 90
    assert shipped.first_violation_warning


def test_shipped_policy_is_stricter_for_more_harmful_policies(shipped: StrikePolicy) -> None:
    threshold = {p: rule.threshold for p, rule in shipped.policies.items()}
    assert threshold[Policy.SEXUAL_SOLICITATION] < threshold[Policy.OFF_PLATFORM_REDIRECTION]
    assert threshold[Policy.BULLYING] < threshold[Policy.OFF_PLATFORM_REDIRECTION]
    for severe in (Policy.CHILD_SEXUAL_EXPLOITATION, Policy.VIOLENT_THREAT):
        assert shipped.policies[severe].severity is Severity.CRITICAL
        assert shipped.is_critical(severe)
    # The examples: comments restricted for 24 hours, LIVE suspended for 48, escalating.
    assert shipped.features[Feature.COMMENT].restrictions[0].duration_hours == 24
    assert shipped.features[Feature.LIVE].restrictions[0].duration_hours == 48


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    if value is _DELETE:
        del data[last]
    else:
        data[last] = value


_DELETE = object()


# (case, key path, new value, message fragments)
INVALID = [
    ("unknown top-level key", "strike_ttl", 90, ["strike_ttl: unknown key", "remove or respell"]),
    ("unknown policy key", "policies.bullying.treshold", 3, ["policies.bullying.treshold: unknown key"]),
    ("unknown policy name", "policies.spam", {"severity": "low", "threshold": 9},
     ["policies.spam", "'spam'"]),
    ("unknown severity", "policies.bullying.severity", "severe", ["policies.bullying.severity", "'severe'"]),
    ("zero threshold", "policies.bullying.threshold", 0, ["policies.bullying.threshold", "got 0"]),
    ("negative expiry", "strike_ttl_days", -1, ["strike_ttl_days", "got -1"]),
    ("threshold on a critical policy", "policies.violent_threat.threshold", 2,
     ["policies.violent_threat.threshold: 2 is set on a critical policy", "remove the threshold"]),
    ("no threshold on a non-critical policy", "policies.pity_bait.threshold", _DELETE,
     ["policies.pity_bait.threshold: missing for a low policy"]),
    ("missing policy", "policies.violent_threat", _DELETE, ["policies: missing violent_threat"]),
    ("missing feature", "features.live", _DELETE, ["features: missing live"]),
    ("more severe policy with a higher threshold", "policies.bullying.threshold", 7,
     ["policies.bullying.threshold: 7 is higher than policies.off_platform_redirection.threshold (6)",
      "lower it to at most 6"]),
    ("cumulative below a policy threshold", "cumulative_threshold", 7,
     ["cumulative_threshold: 7 is lower than policies.pity_bait.threshold (8)", "raise it to at least 8"]),
    ("cumulative below a feature threshold", "features.comment.threshold", 13,
     ["cumulative_threshold: 12 is lower than features.comment.threshold (13)"]),
    ("restriction at the ban threshold", "features.live.restrictions",
     [{"after_strikes": 8, "duration_hours": 48}],
     ["features.live.restrictions[0].after_strikes: 8 is not below features.live.threshold (8)"]),
    ("ladder out of order", "features.comment.restrictions",
     [{"after_strikes": 4, "duration_hours": 24}, {"after_strikes": 2, "duration_hours": 72}],
     ["features.comment.restrictions[1].after_strikes: 2 does not exceed the previous rung's 4"]),
    ("ladder not escalating", "features.comment.restrictions",
     [{"after_strikes": 2, "duration_hours": 72}, {"after_strikes": 4, "duration_hours": 24}],
     ["features.comment.restrictions[1].duration_hours: 24 is not longer", "restrictions must escalate"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "fragments"), [pytest.param(*row[1:], id=row[0]) for row in INVALID]
)
def test_invalid_policy_is_rejected_with_the_key_and_value(
    tmp_path: Path, raw: dict[str, Any], path: str, value: Any, fragments: list[str]
) -> None:
    data = copy.deepcopy(raw)
    _set(data, path, value)
    target = tmp_path / "bad.yaml"
    target.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_strike_policy(target)
    message = str(info.value)
    assert str(target) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param("policies: [", "not valid YAML", id="not-yaml"),
        pytest.param("- a\n- b\n", "top level must be a mapping", id="list"),
        pytest.param("", "top level must be a mapping", id="empty"),
    ],
)
def test_unreadable_policy_file(tmp_path: Path, content: str, fragment: str) -> None:
    target = tmp_path / "p.yaml"
    target.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_strike_policy(target)


def test_missing_policy_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TEGUR_POLICY_PATH"):
        load_strike_policy(tmp_path / "nope.yaml")


def test_policies_built_in_code_are_checked_too(raw: dict[str, Any]) -> None:
    raw["cumulative_threshold"] = 1
    with pytest.raises(ConfigError, match="cumulative_threshold: 1 is lower"):
        StrikePolicy.model_validate(raw)


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        pytest.param(["pity_bait", "bullying"], Policy.BULLYING, id="higher-severity"),
        pytest.param(
            ["bullying", "sexual_solicitation"],
            Policy.SEXUAL_SOLICITATION,
            id="same-severity-lower-threshold",
        ),
        pytest.param(["off_platform_redirection", "violent_threat"], Policy.VIOLENT_THREAT, id="critical"),
        pytest.param(["pity_bait"], Policy.PITY_BAIT, id="single"),
    ],
)
def test_most_severe(shipped: StrikePolicy, policies: list[str], expected: Policy) -> None:
    assert shipped.most_severe([Policy(p) for p in policies]) is expected


def test_step_for_picks_the_highest_rung_reached(shipped: StrikePolicy) -> None:
    ladder = shipped.features[Feature.COMMENT]
    assert ladder.step_for(1) is None
    assert ladder.step_for(2) == (1, ladder.restrictions[0])
    assert ladder.step_for(5) == (2, ladder.restrictions[1])
    assert ladder.step_for(9) == (3, ladder.restrictions[2])
