"""The DE35 consumer types (industry codes) of `ConsumptionDE35Hour` and the load shape of each.

Codes follow the three-digit DE35 format; labels and categories are our reading of the branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

HOUSEHOLD = "household"
AGRICULTURE = "agriculture"
INDUSTRY_SHIFT = "industry_shift"
INDUSTRY_CONTINUOUS = "industry_continuous"
COMMERCE = "commerce"
PUBLIC = "public"
LIGHTING = "lighting"
OTHER = "other"

# Priority order: a handful of segments should already show every kind of load shape.
CATEGORIES: tuple[str, ...] = (
    HOUSEHOLD,
    COMMERCE,
    INDUSTRY_CONTINUOUS,
    INDUSTRY_SHIFT,
    PUBLIC,
    AGRICULTURE,
    LIGHTING,
    OTHER,
)

SYNTHETIC_CODE_START = 1000


@dataclass(frozen=True)
class ConsumerType:
    """One DE35 industry code, its Danish label and the load-shape category it follows."""

    code: int
    label: str
    category: str


CONSUMER_TYPES: tuple[ConsumerType, ...] = (
    ConsumerType(111, "Landbrug, husdyr", AGRICULTURE),
    ConsumerType(112, "Landbrug, planteavl", AGRICULTURE),
    ConsumerType(119, "Gartnerier og væksthuse", AGRICULTURE),
    ConsumerType(122, "Råstofindvinding", INDUSTRY_CONTINUOUS),
    ConsumerType(123, "Vandforsyning og rensning", INDUSTRY_CONTINUOUS),
    ConsumerType(130, "Affaldshåndtering og genbrug", OTHER),
    ConsumerType(211, "Slagterier", INDUSTRY_SHIFT),
    ConsumerType(212, "Mejerier", INDUSTRY_CONTINUOUS),
    ConsumerType(215, "Øvrig føde-, drikke- og tobaksvareindustri", INDUSTRY_SHIFT),
    ConsumerType(220, "Tekstil-, beklædnings- og læderindustri", INDUSTRY_SHIFT),
    ConsumerType(310, "Træindustri", INDUSTRY_SHIFT),
    ConsumerType(320, "Papir- og grafisk industri", INDUSTRY_CONTINUOUS),
    ConsumerType(330, "Kemisk industri", INDUSTRY_CONTINUOUS),
    ConsumerType(340, "Medicinalindustri", INDUSTRY_CONTINUOUS),
    ConsumerType(350, "Plast- og gummiindustri", INDUSTRY_SHIFT),
    ConsumerType(360, "Glas-, beton- og cementindustri", INDUSTRY_CONTINUOUS),
    ConsumerType(370, "Metalindustri", INDUSTRY_SHIFT),
    ConsumerType(381, "Maskinindustri", INDUSTRY_SHIFT),
    ConsumerType(382, "Elektronikindustri", INDUSTRY_SHIFT),
    ConsumerType(383, "Transportmiddelindustri", INDUSTRY_SHIFT),
    ConsumerType(384, "Møbel- og anden industri", INDUSTRY_SHIFT),
    ConsumerType(385, "Bygge- og anlægsvirksomhed", INDUSTRY_SHIFT),
    ConsumerType(386, "Engroshandel", COMMERCE),
    ConsumerType(387, "Detailhandel", COMMERCE),
    ConsumerType(388, "Hoteller og restauranter", OTHER),
    ConsumerType(389, "Transport og logistik", COMMERCE),
    ConsumerType(390, "Datacentre", INDUSTRY_CONTINUOUS),
    ConsumerType(410, "Information og kommunikation", COMMERCE),
    ConsumerType(420, "Finansiering og forsikring", COMMERCE),
    ConsumerType(430, "Ejendomshandel og udlejning", COMMERCE),
    ConsumerType(440, "Rådgivning og erhvervsservice", COMMERCE),
    ConsumerType(450, "Offentlig administration", PUBLIC),
    ConsumerType(460, "Undervisning", PUBLIC),
    ConsumerType(470, "Sundhed og hospitaler", PUBLIC),
    ConsumerType(480, "Kultur, fritid og foreninger", OTHER),
    ConsumerType(490, "Vejbelysning og trafiksignaler", LIGHTING),
    ConsumerType(510, "Private husholdninger", HOUSEHOLD),
    ConsumerType(520, "Fritidshuse", HOUSEHOLD),
)

_BY_CODE: dict[int, ConsumerType] = {t.code: t for t in CONSUMER_TYPES}


def _priority_order() -> tuple[ConsumerType, ...]:
    """Round-robin over categories so every prefix mixes load shapes."""
    per_category = [[t for t in CONSUMER_TYPES if t.category == c] for c in CATEGORIES]
    return tuple(t for row in zip_longest(*per_category) for t in row if t is not None)


_PRIORITY: tuple[ConsumerType, ...] = _priority_order()


def consumer_type(code: int) -> ConsumerType:
    """The consumer type behind a code: a real DE35 code, or a synthetic one from 1000 upwards."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code >= SYNTHETIC_CODE_START:
        # Synthetic segments cycle through the real ones, so the mix of shapes stays realistic.
        template = CONSUMER_TYPES[(code - SYNTHETIC_CODE_START) % len(CONSUMER_TYPES)]
        return ConsumerType(code, f"Syntetisk segment ({template.label})", template.category)
    raise ValueError(
        f"Unknown ConsumerType_DE35 code {code}: use a code from CONSUMER_TYPES "
        f"or a synthetic code >= {SYNTHETIC_CODE_START}."
    )


def category_of(code: int) -> str:
    """The load-shape category of a consumer type code."""
    return consumer_type(code).category


def consumer_type_codes(n: int) -> tuple[int, ...]:
    """The first n codes, sorted: real codes round-robin over categories, then synthetic 1000+i."""
    if n < 1:
        raise ValueError(f"n_consumer_types must be at least 1, got {n}.")
    real = sorted(t.code for t in _PRIORITY[:n])
    synthetic = range(SYNTHETIC_CODE_START, SYNTHETIC_CODE_START + max(0, n - len(CONSUMER_TYPES)))
    return (*real, *synthetic)
