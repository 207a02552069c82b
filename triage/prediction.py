"""What triage says about one ticket: the `Prediction` that crosses into the web app and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The outcome for text that is not about a merchant's POS acquiring at all: no cause category applies.
OUT_OF_SCOPE = "out-of-scope"


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
    `in_scope` is False for text that is not about POS acquiring: then `category` is
    `OUT_OF_SCOPE`, `confidence` is how sure the model is of that, no articles are suggested and
    the ticket needs review (`alternatives` still lists the likeliest causes for the agent).
    """

    category: str
    confidence: float
    alternatives: tuple[Alternative, ...]
    codes: tuple[str, ...]
    articles: tuple[str, ...]
    needs_review: bool
    explanation: tuple[str, ...]
    model_version: str
    in_scope: bool = True

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
