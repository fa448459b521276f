"""The question library: parameterised questions a data officer asks, each answered with a
number, a table and a chart, k-anonymous (see ``library`` for the registry and ``ask``)."""

from fleetpilot.analytics.whatif.questions import facilities, routes, safety, time  # noqa: F401  (registration)
from fleetpilot.analytics.whatif.questions.library import QUESTIONS, Context, Param, Question, ask

__all__ = ["QUESTIONS", "Context", "Param", "Question", "ask"]
