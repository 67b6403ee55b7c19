"""The one owner of how the service stores things in Redis.

``keys``: the key layout, the only code that spells a key.
"""

from .keys import Keys

__all__ = ["Keys"]
