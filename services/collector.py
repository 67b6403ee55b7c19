"""How a long-lived process of the service (an API instance, a worker) collects its garbage.

A request or a job allocates many short-lived objects, next to none in
reference cycles: at Python's default threshold the collector runs every
few hundred of them, finding nothing, and now and then goes over every
object the process loaded at start, which lives as long as it does.
"""

import gc

#: Allocations between two collections of the youngest generation (Python's default: 700):
#: above what a batch of the most jobs holds at once (some 30,000 objects), several times over.
GC_THRESHOLD = 100_000


def collect_rarely() -> None:
    """Leave what the process loaded so far out of every collection, and collect rarely.

    Called once the process is loaded. Frozen, those objects are never
    looked at again; above the threshold a batch's objects are freed, when
    it is answered, before a collection would have looked at them, and the
    rarer collections still free the cycles a failing job's traceback makes.
    """
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)
