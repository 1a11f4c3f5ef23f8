"""The strike policy: thresholds, severities, restriction ladders and expiry, loaded from YAML.

``configs/strikes.yaml`` looks like::

    strike_ttl_days: 90            # a strike stops counting this many days after the violation
    first_violation_warning: true  # an account's first violation is a warning that does not count
    near_ban_notice: 1             # notify the account when this many strikes separate it from a ban
    cumulative_threshold: 12       # active strikes across all policies and features that ban
    policies:
      sexual_solicitation: {severity: high, threshold: 3}
      violent_threat: {severity: critical}          # critical: the first violation bans
    features:
      comment:
        threshold: 10
        restrictions:                                # escalating, before the ban
          - {after_strikes: 2, duration_hours: 24}

Every policy and feature must be configured. Consistency is checked at load: more severe policies
may not have higher thresholds than less severe ones, the cumulative threshold is at least every
other threshold, and each ladder escalates (more strikes, longer restrictions, below the feature's
ban threshold).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, ValidationError, model_validator

from strikes.domain import AutomatedBans, Feature, Policy, Severity
from tegur.errors import ConfigError
from tegur.yaml_config import format_validation_error, read_yaml_mapping


class PolicyRule(BaseModel):
    """Enforcement for one policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity = Field(description="low, medium, high or critical. Critical policies ban at once.")
    threshold: PositiveInt | None = Field(
        default=None,
        description="Active strikes in this policy that ban the account. Omit for critical policies.",
    )
    description: str = Field(default="", description="What the policy covers, for moderators.")


class RestrictionStep(BaseModel):
    """One rung of a feature's restriction ladder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_strikes: PositiveInt = Field(description="Active strikes on the feature that trigger this rung.")
    duration_hours: PositiveInt = Field(description="How long the feature is restricted.")

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=self.duration_hours)


class FeatureRule(BaseModel):
    """Enforcement for one feature (comments, LIVE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: PositiveInt = Field(description="Active strikes on this feature that ban the account.")
    restrictions: tuple[RestrictionStep, ...] = Field(
        default=(), description="Escalating restrictions of the feature before the ban, in order."
    )

    def step_for(self, active_strikes: int) -> tuple[int, RestrictionStep] | None:
        """The highest rung (1-based index, step) reached by ``active_strikes``, or None."""
        reached = [
            (i, s) for i, s in enumerate(self.restrictions, start=1) if s.after_strikes <= active_strikes
        ]
        return reached[-1] if reached else None


class StrikePolicy(BaseModel):
    """The whole strike policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="strikes", description="Policy name; defaults to the file stem.")
    strike_ttl_days: PositiveInt = Field(default=90, description="Days after the violation a strike expires.")
    first_violation_warning: bool = Field(
        default=True, description="Make an account's first violation a warning that does not count."
    )
    near_ban_notice: PositiveInt = Field(
        default=1, description="Notify the account when this many strikes (or fewer) separate it from a ban."
    )
    cumulative_threshold: PositiveInt = Field(
        description="Active strikes across every policy and feature that ban the account."
    )
    automated_bans: AutomatedBans = Field(
        default=AutomatedBans.HOLD_FOR_REVIEW,
        description="A ban that only classifier strikes triggered: hold_for_review (restrict the account "
        "until a moderator confirms or rejects the ban) or enforce (ban at once).",
    )
    appeal_window_days: PositiveInt = Field(
        default=180,
        description="Days after a strike is recorded that the account may appeal it (the EU DSA asks "
        "for at least six months).",
    )
    max_event_age_days: PositiveInt = Field(
        default=365, description="Oldest occurred_at accepted, in days before now; older is refused."
    )
    policies: dict[Policy, PolicyRule] = Field(description="One entry per policy.")
    features: dict[Feature, FeatureRule] = Field(description="One entry per feature.")
    _version: str = PrivateAttr(default="")

    def model_post_init(self, _context: object) -> None:
        # The content, not the name: renaming a file does not make a new policy.
        body = self.model_dump_json(exclude={"name"}).encode()
        self._version = hashlib.sha256(body).hexdigest()[:12]

    @property
    def version(self) -> str:
        """A digest of the rules: every decision records the version that made it."""
        return self._version

    @property
    def strike_ttl(self) -> timedelta:
        return timedelta(days=self.strike_ttl_days)

    @property
    def appeal_window(self) -> timedelta:
        return timedelta(days=self.appeal_window_days)

    @property
    def max_event_age(self) -> timedelta:
        return timedelta(days=self.max_event_age_days)

    def is_critical(self, policy: Policy) -> bool:
        return self.policies[policy].severity is Severity.CRITICAL

    def most_severe(self, policies: list[Policy] | tuple[Policy, ...]) -> Policy:
        """The most severe of ``policies`` (ties: the lower threshold, then the first given).

        Use it when one message breaks several policies: a content id strikes once, so record the
        violation under the policy that matters most.
        """
        if not policies:
            raise ValueError("most_severe needs at least one policy")

        def key(item: tuple[int, Policy]) -> tuple[int, int, int]:
            index, policy = item
            rule = self.policies[policy]
            return (-rule.severity.rank, rule.threshold or 0, index)

        return min(enumerate(policies), key=key)[1]

    @model_validator(mode="after")
    def _check_consistency(self) -> StrikePolicy:
        # ConfigError is not a ValueError, so pydantic lets it through unchanged: these messages
        # already quote the key path, the value and the fix, which pydantic's wrapping would lose.
        problems = _consistency_problems(self)
        if problems:
            raise ConfigError("\n".join(["invalid strike policy", *(f"  {p}" for p in problems)]))
        return self


def _consistency_problems(policy: StrikePolicy) -> list[str]:
    problems: list[str] = []
    missing = [p.value for p in Policy if p not in policy.policies]
    if missing:
        problems.append(
            f"policies: missing {', '.join(missing)}; every policy needs an entry with a severity "
            "(and a threshold unless critical)"
        )
    missing = [f.value for f in Feature if f not in policy.features]
    if missing:
        problems.append(f"features: missing {', '.join(missing)}; every feature needs a threshold")

    for name, rule in policy.policies.items():
        if rule.severity is Severity.CRITICAL and rule.threshold is not None:
            problems.append(
                f"policies.{name}.threshold: {rule.threshold} is set on a critical policy, which bans on "
                "the first violation; remove the threshold or lower the severity"
            )
        if rule.severity is not Severity.CRITICAL and rule.threshold is None:
            problems.append(
                f"policies.{name}.threshold: missing for a {rule.severity} policy; set the number of "
                "active strikes that bans, or make the policy critical"
            )

    counted = {p: (r.severity, r.threshold) for p, r in policy.policies.items() if r.threshold is not None}
    for stricter, (s_severity, s_threshold) in counted.items():
        for laxer, (l_severity, l_threshold) in counted.items():
            if s_severity.rank > l_severity.rank and s_threshold > l_threshold:
                problems.append(
                    f"policies.{stricter}.threshold: {s_threshold} is higher than "
                    f"policies.{laxer}.threshold ({l_threshold}), yet {stricter} ({s_severity}) "
                    f"is more severe than {laxer} ({l_severity}); lower it to at most {l_threshold}"
                )

    others = [(f"policies.{p}.threshold", threshold) for p, (_, threshold) in counted.items()]
    others += [(f"features.{f}.threshold", r.threshold) for f, r in policy.features.items()]
    for where, threshold in others:
        if threshold is not None and policy.cumulative_threshold < threshold:
            problems.append(
                f"cumulative_threshold: {policy.cumulative_threshold} is lower than {where} ({threshold}), "
                f"which could then never be reached; raise it to at least {threshold}"
            )

    for feature, rule in policy.features.items():
        steps = rule.restrictions
        for i, step in enumerate(steps):
            where = f"features.{feature}.restrictions[{i}]"
            if step.after_strikes >= rule.threshold:
                problems.append(
                    f"{where}.after_strikes: {step.after_strikes} is not below features.{feature}.threshold "
                    f"({rule.threshold}): the account is banned by then; lower it"
                )
            if i and step.after_strikes <= steps[i - 1].after_strikes:
                problems.append(
                    f"{where}.after_strikes: {step.after_strikes} does not exceed the previous rung's "
                    f"{steps[i - 1].after_strikes}; list rungs in increasing order of strikes"
                )
            if i and step.duration_hours <= steps[i - 1].duration_hours:
                problems.append(
                    f"{where}.duration_hours: {step.duration_hours} is not longer than the previous "
                    f"rung's {steps[i - 1].duration_hours}; restrictions must escalate"
                )
    return problems


def load_strike_policy(path: str | Path) -> StrikePolicy:
    """Load and validate a strike policy file.

    Args:
        path: A YAML file such as ``configs/strikes.yaml``.

    Returns:
        The validated policy, named after the file stem unless the file sets ``name``.

    Raises:
        ConfigError: The file is missing, not YAML, has unknown keys or bad values, or is
            inconsistent; the message names every problem with its key path and value.
    """
    path = Path(path)
    raw = read_yaml_mapping(path, what="strike policy file", hint="pass --policy or set TEGUR_POLICY_PATH")
    raw.setdefault("name", path.stem)
    try:
        return StrikePolicy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
