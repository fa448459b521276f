"""The question registry: parameterised questions with typed parameters and defaults.

A question is a function ``(history, params, ctx) -> Answer``; ``@question`` registers it
with its id, title template (``{param}`` placeholders), parameters and one-line method.
``ask`` validates and completes the parameters, runs the question and fills the title.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleetpilot.analytics.whatif.history import History
from fleetpilot.analytics.whatif.kpi import Factors
from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.analytics.whatif.result import Answer


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int" | "float" | "str" | "list" (of strings) | "geojson" (a Polygon geometry)
    default: object
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, value: object) -> object:
        if value is None:
            return self.default
        if self.kind == "list":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i.strip() for i in items):
                raise ValueError(f"parameter {self.name!r} must be a list of names")
            return [i.strip() for i in items]
        if self.kind == "geojson":
            if not (
                isinstance(value, dict)
                and value.get("type") == "Polygon"
                and isinstance(value.get("coordinates"), list)
            ):
                raise ValueError(f"parameter {self.name!r} must be a GeoJSON Polygon")
            if not all(
                isinstance(ring, list)
                and all(
                    isinstance(pos, list)
                    and len(pos) >= 2
                    and all(type(c) in (int, float) and math.isfinite(c) for c in pos)
                    for pos in ring
                )
                for ring in value["coordinates"]
            ):
                raise ValueError(f"parameter {self.name!r}: positions must be pairs of finite numbers")
            return value
        try:
            out = {"int": int, "float": float, "str": str}[self.kind](value)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {self.name!r} must be {self.kind}, got {value!r}") from None
        if isinstance(out, float) and not math.isfinite(out):
            raise ValueError(f"parameter {self.name!r} must be a finite number, got {value!r}")
        if self.choices and out not in self.choices:
            raise ValueError(f"parameter {self.name!r} must be one of {', '.join(map(str, self.choices))}")
        if self.minimum is not None and out < self.minimum:
            raise ValueError(f"parameter {self.name!r} must be at least {self.minimum}")
        if self.maximum is not None and out > self.maximum:
            raise ValueError(f"parameter {self.name!r} must be at most {self.maximum}")
        return out

    def describe(self) -> dict:
        return {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "help": self.help,
            "choices": list(self.choices),
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


@dataclass(frozen=True)
class Context:
    """What every question may use besides its parameters."""

    privacy: Privacy = field(default_factory=Privacy)
    factors: Factors = field(default_factory=Factors)


TOPICS = ("Time and work", "Routes", "Facilities, fuel and CO2", "Safety", "Data")
TOPIC_OF_MODULE = {"time": TOPICS[0], "routes": TOPICS[1], "facilities": TOPICS[2], "safety": TOPICS[3]}


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    params: tuple[Param, ...]
    method: str
    fn: Callable[[History, dict, Context], Answer]
    spec: Any = None  # the declarative spec (questions.spec.Spec) the question is evaluated from, if any

    @property
    def topic(self) -> str:
        """The spec's topic, or for a question written as code its module's."""
        if self.spec is not None:
            return str(self.spec.topic)
        return TOPIC_OF_MODULE.get(self.fn.__module__.rsplit(".", 1)[-1], "Other")

    def describe(self) -> dict:
        out = {
            "id": self.id,
            "title": self.title,
            "topic": self.topic,
            "method": self.method,
            "params": [p.describe() for p in self.params],
        }
        if self.spec is not None:
            out["spec"] = self.spec.describe()
        return out


QUESTIONS: dict[str, Question] = {}


def question(id: str, title: str, method: str, *params: Param):
    def register(fn: Callable[[History, dict, Context], Answer]) -> Callable:
        if id in QUESTIONS:
            raise ValueError(f"question {id!r} registered twice")
        QUESTIONS[id] = Question(id, title, tuple(params), method, fn)
        return fn

    return register


def complete_params(q: Question, given: dict | None) -> dict:
    given = dict(given or {})
    unknown = set(given) - {p.name for p in q.params}
    if unknown:
        raise ValueError(f"question {q.id!r} has no parameter(s) {', '.join(sorted(unknown))}")
    return {p.name: p.coerce(given.get(p.name)) for p in q.params}


def ask(question_id: str, history: History, params: dict | None = None, ctx: Context = Context()) -> Answer:
    """Answer a registered question (``params`` completed with defaults and checked)."""
    if question_id not in QUESTIONS:
        raise ValueError(f"unknown question {question_id!r}")
    q = QUESTIONS[question_id]
    values = complete_params(q, params)
    answer = q.fn(history, values, ctx)
    answer.question = q.id
    answer.title = q.title.format(**values)
    answer.params = values
    answer.assumptions = [q.method] + answer.assumptions + [ctx.privacy.describe()]
    return answer
