"""SPICE netlists: :func:`from_spice` reads the DC subset; ``Circuit.to_spice`` writes it.

See ``docs/netlist.md`` for the supported cards, flattening names and what is ignored or rejected.
"""

from circuitlearn.netlist.cards import reads_as_number
from circuitlearn.netlist.reader import IGNORED_CARDS, flat_origins, from_spice

__all__ = ["IGNORED_CARDS", "flat_origins", "from_spice", "reads_as_number"]
