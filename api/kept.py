"""Answers kept by the API process, keyed by everything they are made of (decision 0029)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable


class KeptAnswers:
    """Serialised answers (bytes) per key, at most `size` of them, the least recently asked out.

    The caller reads what an answer is made of in the same request and puts all of it in the
    key (with whose answer it is), so a change is a new key: a kept answer is never stale and
    there is nothing to invalidate. Nothing here knows who may read what: the gate runs first.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, bytes] = OrderedDict()

    async def get(self, key: Hashable, make: Callable[[], Awaitable[bytes]]) -> bytes:
        """The answer kept for `key`, else `make()`'s (then kept)."""
        text = self.peek(key)
        if text is None:
            text = await make()
            self.put(key, text)
        return text

    def peek(self, key: Hashable) -> bytes | None:
        """The answer kept for `key`, if any (then the most recently asked)."""
        text = self._answers.get(key)
        if text is not None:
            self._answers.move_to_end(key)
        return text

    def put(self, key: Hashable, text: bytes) -> None:
        """Keep `text` for `key` (for a caller whose answer's key is known only once it is made)."""
        self._answers[key] = text
        self._answers.move_to_end(key)
        if len(self._answers) > self.size:
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)
