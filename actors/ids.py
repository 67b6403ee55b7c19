"""Ids of jobs and of their messages: random (version 4) UUIDs as text, as dramatiq makes them.

A batch's ids come from one read of the system's random source, and their
text is made from the bytes directly: ``str(uuid.uuid4())`` reads the
source once an id (a system call) and builds a ``UUID`` object on the way,
which cost more than the text itself.
"""

from __future__ import annotations

import os

#: Bytes of one UUID.
UUID_BYTES = 16
#: The bits a version 4 UUID has set, and those its random bits may not touch:
#: the version's four and the variant's two (RFC 9562).
_VERSION_4 = (0x4 << 76) | (0b10 << 62)
_KEPT = ~((0xF << 76) | (0b11 << 62))


def random_ids(count: int) -> list[str]:
    """``count`` random UUIDs (version 4), as text, from one read of the random source."""
    data = os.urandom(UUID_BYTES * count)
    ids = []
    for start in range(0, len(data), UUID_BYTES):
        number = int.from_bytes(data[start : start + UUID_BYTES]) & _KEPT | _VERSION_4
        digits = f"{number:032x}"
        ids.append(f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}")
    return ids
