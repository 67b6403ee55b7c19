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
#: Each byte with its high half made the version (4), and with its two high bits
#: made the variant (10), as ``bytes.translate`` tables (RFC 9562).
_VERSION = bytes(byte & 0x0F | 0x40 for byte in range(256))
_VARIANT = bytes(byte & 0x3F | 0x80 for byte in range(256))


def random_ids(count: int) -> list[str]:
    """``count`` random UUIDs (version 4), as text, from one read of the random source."""
    data = bytearray(os.urandom(UUID_BYTES * count))
    # Each id's version (its seventh byte) and variant (its ninth), set in
    # every id at once by a table rather than a byte at a time in Python.
    data[6::UUID_BYTES] = data[6::UUID_BYTES].translate(_VERSION)
    data[8::UUID_BYTES] = data[8::UUID_BYTES].translate(_VARIANT)
    digits = data.hex()
    return [
        f"{digits[at : at + 8]}-{digits[at + 8 : at + 12]}-{digits[at + 12 : at + 16]}"
        f"-{digits[at + 16 : at + 20]}-{digits[at + 20 : at + 32]}"
        for at in range(0, len(digits), 2 * UUID_BYTES)
    ]
