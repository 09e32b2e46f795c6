"""speechbrain-tinyconf: tiny Conformer ASR through weight sharing and low-rank factors."""

from .asr import SharedTransformerASR
from .encoder import SharedConformerEncoder
from .lowrank import LowRankLinear, LowRankWeight
from .sharing import LowRankPlan, SharingPlan
from .size import SizeReport, size_report

__all__ = [
    "LowRankLinear",
    "LowRankPlan",
    "LowRankWeight",
    "SharedConformerEncoder",
    "SharedTransformerASR",
    "SharingPlan",
    "SizeReport",
    "size_report",
]
__version__ = "0.1.0"
