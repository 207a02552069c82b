"""What triage says about one ticket: the `Prediction` that crosses into the web app and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Alternative:
    """A candidate category with its calibrated probability."""

    category: str
    confidence: float


@dataclass(frozen=True)
class Prediction:
    """The triage of one ticket.

    `alternatives` holds the top three categories (the chosen one first) with probabilities;
    `articles` the suggested slugs, best first, merchant articles first; `explanation` the terms
    that pushed the decision towards `category`; `model_version` the model that decided.
    """

    category: str
    confidence: float
    alternatives: tuple[Alternative, ...]
    codes: tuple[str, ...]
    articles: tuple[str, ...]
    needs_review: bool
    explanation: tuple[str, ...]
    model_version: str

    def to_dict(self) -> dict:
        """A JSON-ready dict (lists instead of tuples)."""
        out = asdict(self)
        out["alternatives"] = [asdict(a) for a in self.alternatives]
        for key in ("codes", "articles", "explanation"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Prediction:
        """Rebuild a prediction from `to_dict` output."""
        fields = dict(data)
        fields["alternatives"] = tuple(Alternative(**a) for a in fields["alternatives"])
        for key in ("codes", "articles", "explanation"):
            fields[key] = tuple(fields[key])
        return cls(**fields)
