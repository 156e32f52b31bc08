"""Behavioural source (``B``): ngspice's arbitrary source with ``V=`` or ``I=`` expressions.

The expression language and the element live in :mod:`circuitlearn.circuit.behavioral`; the
vectorised evaluation with exact derivatives in :mod:`circuitlearn.circuit.behavioral_eval`.
This module registers them: card, flattening (``.param`` values and subcircuit renaming of
``v()``/``i()`` references), DC group, and the learning hooks.

Card: ``bNAME n+ n- V=EXPR`` or ``bNAME n+ n- I=EXPR`` [``tc1= tc2= temp= dtemp= m=``].

Learning rules: a B source is not reciprocal in general (∂f/∂v(c) at the source's rows has no
mirror entry), so EP needs the AEP mirror and the twin realises its transposed stamps with
controlled sources. In the twin a ``V=`` source keeps its branch as ``V=0``: its ±1 incidence is
symmetric and stays an element; only the expression's derivatives are transposed
(:meth:`BehavioralDevice.learning_entries`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from circuitlearn.circuit.behavioral import BehavioralSource, parse_b_card
from circuitlearn.circuit.behavioral_eval import BehavioralGroup, build_behavioral_group
from circuitlearn.circuit.devices.base import CardReader, Device, DeviceContext, Series
from circuitlearn.circuit.elements import Element

if TYPE_CHECKING:
    from circuitlearn.circuit.models import Model

__all__ = ["BEHAVIORAL", "BehavioralDevice"]


class BehavioralDevice(Device):
    """The behavioural source in the registry (:data:`BEHAVIORAL`)."""

    letter = "b"
    element_class = BehavioralSource
    description = "behavioural source(s)"
    reciprocal = False
    own_branch = True  # V= sources only: see has_branch
    usage: ClassVar[str] = "bNAME n+ n- V=EXPR | I=EXPR [tc1=] [tc2=] [temp=] [dtemp=] [m=]"

    def read_card(self, name: str, card: CardReader) -> Element:
        """Not used: B cards are read from their text (:meth:`read_text`)."""
        raise card.error(f"{card.who}: expected '{self.usage}'")

    def read_text(self, name: str, text: str) -> Element:
        """The element of the card ``text`` (the expression keeps its own grammar)."""
        return parse_b_card(name, text)

    def has_branch(self, element: Element) -> bool:
        """A ``V=`` source has a branch current ``i(bNAME)``; an ``I=`` source none."""
        assert isinstance(element, BehavioralSource)
        return element.quantity == "v"

    def branch_controls(self, element: Element) -> set[str]:
        """Elements whose branch currents the expression reads (``i(vname)``)."""
        assert isinstance(element, BehavioralSource)
        return element.controls()[1]

    def dc_paths(self, element: Element) -> list[tuple[str, str]]:
        """A ``V=`` source, or an ``I=`` source whose current depends on voltages, conducts."""
        assert isinstance(element, BehavioralSource)
        return [(element.pos, element.neg)] if element.conducts else []

    def flat_fields(
        self,
        element: Element,
        env: Mapping[str, float],
        node: Callable[[str], str],
        local: Callable[[str], str],
    ) -> dict[str, object]:
        """``.param`` names and ``{}`` blocks evaluated, ``v()``/``i()`` references renamed."""
        assert isinstance(element, BehavioralSource)
        return element.resolved(env, node, local)

    def has_parameters(self, element: Element) -> bool:
        """True while the expression names ``.param`` values or holds ``{}`` blocks."""
        assert isinstance(element, BehavioralSource)
        return bool(element.parameter_names())

    def compile(
        self, elements: Sequence[Element], context: DeviceContext
    ) -> tuple[BehavioralGroup, list[Series]]:
        """One group; elements sharing an expression shape are evaluated as one array block."""
        sources = [e for e in elements if isinstance(e, BehavioralSource)]
        group = build_behavioral_group(sources, context.index, context.branch, context.temperature)
        return group, []

    def learning_entries(self, group: BehavioralGroup) -> np.ndarray:
        """The Jacobian entries the learning rules mirror or transpose: the expression's
        derivatives, not the ±1 incidence of ``V=`` branches (kept as elements)."""
        return group.control_mask

    def twin_elements(
        self, element: Element, model: Model | None, jacobian: np.ndarray, tag: str
    ) -> list[Element] | None:
        """``V=``: the same branch with ``V=0`` (the expression's transposed derivatives are added
        by the caller); ``I=``: nothing but those transposed derivatives (``None``)."""
        assert isinstance(element, BehavioralSource)
        if element.quantity == "i":
            return None
        return [BehavioralSource(element.name, element.pos, element.neg, "v", "0")]


BEHAVIORAL = BehavioralDevice()
"""The registered behavioural source."""
