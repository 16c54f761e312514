"""`DataKeyCache`: data keys already unwrapped, by their wrapped form, so opening a record again costs no
device round trip (a registration answer, a look-up and an identification each open the client's record).

Bounded (least recently used first out), in process memory only, never written anywhere; keyed by the KEK
id and the wrapped bytes, so a re-wrapped record simply misses once. A data key is no more secret here than
in the `RecordCipher` that holds it for the request; the KEK itself never leaves the token.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_ENTRIES = 8192  # ≈1.5 MB: the records a busy minute touches


class DataKeyCache:
    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries = entries
        self._keys: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()  # filled from the device thread, read from the loop's
        self.hits = self.misses = 0

    def get(self, kek_id: str, wrapped: bytes) -> bytes | None:
        with self._lock:
            found = self._keys.get((kek_id, wrapped))
            if found is None:
                self.misses += 1
                return None
            self._keys.move_to_end((kek_id, wrapped))
            self.hits += 1
            return found

    def put(self, kek_id: str, wrapped: bytes, data_key: bytes) -> None:
        with self._lock:
            self._keys[(kek_id, wrapped)] = data_key
            self._keys.move_to_end((kek_id, wrapped))
            while len(self._keys) > self._entries:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()

    def __len__(self) -> int:
        return len(self._keys)
