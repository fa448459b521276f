"""The question library: parameterised questions a data officer asks, each answered with a
number, a table and a chart, k-anonymous (see ``library`` for the registry and ``ask``).

Most questions are declarative specs (``catalog``, evaluated by ``spec``); the modules
``facilities``, ``routes``, ``safety`` and ``time`` hold those that need code of their own
(shrunk rankings, two-way tables, several series, per-group spreads)."""

from fleetpilot.analytics.whatif.questions import catalog, facilities, routes, safety, time  # noqa: F401  (registration)
from fleetpilot.analytics.whatif.questions.library import QUESTIONS, Context, Param, Question, ask

__all__ = ["QUESTIONS", "Context", "Param", "Question", "ask"]
