"""Typed config of the data pipeline (the ``data:`` section of a config file).

Every label-mapping decision that is a judgement call (see ``data/sources.yaml`` for the reasoning) is a
switch here, so that its effect on the model can be measured by preparing two datasets.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from data.taxonomy import LABEL_NAMES, Label

#: Key of ``max_per_label`` that caps the rows with no label at all.
CLEAN = "clean"


class AbusiveOnly(StrEnum):
    """What to do with swearing that the source's annotators did not mark as hate speech.

    Applies to ibrohim2019 ``Abusive=1, HS=0``, ibrohim2018 label 2 (abusive, not offensive) and
    local_abusive_jv_su ``uk=1, hs=0``.
    """

    CLEAN = "clean"  # profanity is not bullying: keep as a negative
    DROP = "drop"  # the bucket mixes casual swearing with insults aimed at a user: leave it out
    BULLYING = "bullying"  # treat any abusive language as bullying


class SmsPromo(StrEnum):
    """What to do with sms_spam_rahmi label 2 (operator / shop promotions)."""

    CLEAN = "clean"
    DROP = "drop"
    REDIRECTION_IF_CONTACT = "redirection_if_contact"  # redirection when it pushes a link, number or chat
    REDIRECTION = "redirection"


class IbrohimPlainHs(StrEnum):
    """What to do with ibrohim2019 hate speech that carries no abusive language and no identity category.

    ``HS=1, Abusive=0`` with none of HS_Religion / HS_Race / HS_Physical / HS_Gender (only HS_Other): 1,543
    tweets, 73% of them about politics; read by eye they are mostly criticism of officials, campaign
    slogans and calls to resign ("lengserkan X", "#2019GantiPresiden"), with some name-calling
    (counts in data/DATASHEET.md).
    """

    BULLYING = "bullying"  # the source's HS label as is
    DROP = "drop"  # criticism and name-calling mixed: leave the bucket out
    CLEAN = "clean"  # hard criticism is not bullying (loses the name-calling rows as positives)


class DropOrClean(StrEnum):
    """A source bucket that is not bullying as a class but holds some insults."""

    DROP = "drop"
    CLEAN = "clean"


class PartnerRental(StrEnum):
    """riccosan_emotion_opinion "avail / hourly rent / carrd" rent-a-partner roleplay ads."""

    SOLICITATION_IF_NSFW = "solicitation_if_nsfw"  # the ads that offer nsfw / dirty talk; the rest dropped
    SOLICITATION = "solicitation"  # every such ad
    DROP = "drop"


class OpinionTopics(StrEnum):
    """Which clean rows of the emotion and sentiment sources to keep."""

    ALL = "all"
    POLITICAL = "political"  # only rows on politics and government (data/loaders.py POLITICAL)


class LabelConflict(StrEnum):
    """How to label a message that several rows (of one or several sources) hold with different labels."""

    PRIORITY = "priority"  # the highest-priority source decides (curated first, then `sources` order)
    UNION = "union"  # a label is positive if any copy has it
    DROP = "drop"  # leave the message out


class MappingConfig(BaseModel):
    """Switches for the source-label -> Tegur-label mapping decisions (reasoning in data/sources.yaml)."""

    model_config = ConfigDict(extra="forbid")

    abusive_only: AbusiveOnly = Field(
        AbusiveOnly.DROP,
        description="Swearing not marked as hate speech (ibrohim2019/2018, local_abusive_jv_su).",
    )
    sms_promo: SmsPromo = Field(
        SmsPromo.REDIRECTION_IF_CONTACT, description="sms_spam_rahmi label 2 (promotions)."
    )
    pity_bait_rule: bool = Field(
        True,
        description="sms_spam_rahmi: fraud SMS that beg for phone credit or money with a family or "
        "urgency story become pity_bait (rule in data/loaders.py); off: redirection like other fraud.",
    )
    solicitation_redirection_rule: bool = Field(
        True,
        description="prostitution_twitter_laksito: add off_platform_redirection to offers that push to "
        "WhatsApp, a phone number, DM or a link.",
    )
    ibrohim_plain_hs: IbrohimPlainHs = Field(
        IbrohimPlainHs.DROP,
        description="ibrohim2019 HS=1 with Abusive=0 and only HS_Other as category: mostly political "
        "criticism, slogans and calls to resign, some name-calling.",
    )
    emotion_anger: DropOrClean = Field(
        DropOrClean.DROP,
        description="saputri_emotion_twitter / riccosan_emotion_opinion `anger`: criticism and insults "
        "mixed.",
    )
    sentiment_negative: DropOrClean = Field(
        DropOrClean.DROP,
        description="indonlu_smsa / rayendito_vaccine_tweets / habibul08_pilpres2019_tweets negative "
        "sentiment: complaints and criticism, but also insults.",
    )
    profanity_screen: bool = Field(
        True,
        description="Emotion and sentiment sources (never annotated for abuse): drop a row that would be "
        "clean but holds a swear word or insult (rule in data/loaders.py PROFANITY).",
    )
    opinion_topics: OpinionTopics = Field(
        OpinionTopics.POLITICAL,
        description="Emotion and sentiment sources: keep only their clean rows on politics and government "
        "(the rows that counter ibrohim2019's topic skew), or all: the other ~10k add non-political clean "
        "text, which leaves political words as bullying-associated relative to the rest as before.",
    )
    opinion_promo_rule: bool = Field(
        True,
        description="riccosan_emotion_opinion: tweets that sell something and push a contact become "
        "off_platform_redirection (bank customer-service replies stay clean); off: all clean.",
    )
    partner_rental: PartnerRental = Field(
        PartnerRental.SOLICITATION_IF_NSFW,
        description="riccosan_emotion_opinion rent-a-partner ads.",
    )
    livechat_promo_relabel: bool = Field(
        True,
        description='kiipiiin_judol_livechat: the togel promos labelled 0 ("ANGKA TERBALIK DI BAYAR", '
        '"100RB GERATIS") become off_platform_redirection and the viewers\' complaints labelled 1 '
        '("blokir", "jangan") become clean.',
    )
    emoji_shortcodes: bool = Field(
        True,
        description="kiipiiin_judol_livechat: turn YouTube's `:fire:` emoji codes into the emoji (custom "
        "channel emoji such as `:hand-pink-waving:` stay as text).",
    )
    anonymised_tokens_to_placeholders: bool = Field(
        True,
        description="Rewrite the USER / URL tokens that some Twitter sets use for anonymised mentions and "
        "links into a mention and a link that the normaliser turns into its own placeholders.",
    )


class SourceOptions(BaseModel):
    """Per-source switches and caps. Caps keep a stable, hash-chosen subset (not a random sample)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Use this source.")
    max_rows: PositiveInt | None = Field(None, description="Keep at most this many rows after dedup.")
    max_per_label: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description=f"Caps per label name (or '{CLEAN}' for rows with no label), after dedup.",
    )
    max_chars: PositiveInt | None = Field(
        None, description="Truncate longer texts at a word boundary (long-form sources)."
    )

    @field_validator("max_per_label")
    @classmethod
    def _known_cap_keys(cls, value: dict[str, int]) -> dict[str, int]:
        allowed = (*LABEL_NAMES, CLEAN)
        for key in value:
            if key not in allowed:
                raise ValueError(
                    f"unknown label {key!r} in max_per_label; expected one of {', '.join(allowed)}"
                )
        return value


class AugmentConfig(BaseModel):
    """Train-only augmentation against measured shortcuts (``data/augment.py``); copies are marked."""

    model_config = ConfigDict(extra="forbid")

    topic_counterfactuals: bool = Field(
        False,
        description="Copies of clean rows naming politicians, parties, institutions or identity groups with "
        "the names swapped, until topic rows are no more often bullying than the rest.",
    )
    topic_max_rows: PositiveInt = Field(4000, description="At most this many topic counterfactuals.")
    curated_style_copies: int = Field(
        0, ge=0, le=5, description="Restyled copies (public-text punctuation and casing) per curated line."
    )


class DataConfig(BaseModel):
    """Which sources go into the dataset, how they are mapped, filtered, deduplicated and split."""

    model_config = ConfigDict(extra="forbid")

    manifest: Path | None = Field(
        None, description="The public-source manifest; null means the packaged data/sources.yaml."
    )
    raw_dir: Path = Field(
        Path("data/raw"), description="Where `tegur data fetch` put the sources (one folder per source)."
    )
    curated_dir: Path | None = Field(
        Path("data/curated"), description="Folder of curated *.jsonl files; null to use none."
    )
    output_dir: Path | None = Field(None, description="Output folder; default data/processed/<config name>.")
    sources: dict[str, SourceOptions] | None = Field(
        None,
        description="Public sources to use, in priority order (first wins a label conflict); "
        "null means every manifest source with default options.",
    )
    allow_non_commercial: bool = Field(
        False, description="Use sources whose license forbids commercial use (e.g. CC BY-NC-SA)."
    )
    allow_unlicensed: bool = Field(
        False, description="Use sources that state no license at all (not redistributable)."
    )
    verify_checksums: bool = Field(
        True, description="Check every raw file's sha256 against the manifest before reading it."
    )
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    label_conflict: LabelConflict = Field(
        LabelConflict.PRIORITY, description="Policy for duplicates that disagree on labels."
    )
    near_duplicate_threshold: float | None = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Token Jaccard similarity above which two messages are one template family "
        "(kept on one side of the split); null to group exact duplicates only.",
    )
    seed: int = Field(
        13, description="Salt of the split and cap hashes. Changing it reshuffles the test set."
    )
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of families in validation.")
    test_fraction: float = Field(0.15, gt=0.0, lt=1.0, description="Share of families in the fixed test set.")
    label_test_fraction: dict[Label, float] = Field(
        default_factory=dict,
        description="Larger test fraction for families that hold a positive of a rare label.",
    )
    min_test_positives: int = Field(
        40, ge=0, description="Fail unless the test split holds this many positives of every label."
    )

    @field_validator("label_test_fraction")
    @classmethod
    def _fraction_range(cls, value: dict[Label, float]) -> dict[Label, float]:
        for label, fraction in value.items():
            if not 0.0 < fraction < 1.0:
                raise ValueError(f"label_test_fraction[{label.value}] must be in (0, 1), got {fraction}")
        return value

    @model_validator(mode="after")
    def _fractions_leave_train(self) -> DataConfig:
        largest_test = max([self.test_fraction, *self.label_test_fraction.values()])
        if largest_test + self.validation_fraction >= 1.0:
            raise ValueError(
                f"test fraction {largest_test} + validation_fraction {self.validation_fraction} leave no "
                "training data; lower them"
            )
        return self

    def resolved_output_dir(self, config_name: str) -> Path:
        """``output_dir`` or ``data/processed/<config name>``."""
        return self.output_dir if self.output_dir is not None else Path("data/processed") / config_name
