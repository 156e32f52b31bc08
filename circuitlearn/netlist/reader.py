"""Read a SPICE netlist (the DC subset documented in ``docs/netlist.md``) into a :class:`Circuit`.

The reader is strict: a card that would change the DC answer and that circuitlearn does not model
is an error naming its line, never silently dropped. Analysis and output cards are skipped and
recorded in ``circuit.ignored_cards``. Every error is a :class:`~circuitlearn.errors.NetlistError`
carrying the file, the physical line of the card and its text.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from circuitlearn._random import check_random_state
from circuitlearn.circuit.circuit import (
    MAX_FLAT_ELEMENTS,
    NOMINAL_TEMPERATURE,
    Circuit,
    Subcircuit,
)
from circuitlearn.circuit.elements import GROUND, Element, SubcircuitInstance, normalize_node
from circuitlearn.circuit.expressions import (
    MONTE_CARLO_SEED,
    Expression,
    StringParam,
    Value,
    draw_random,
    evaluate,
    expression_names,
    param_value,
    resolve_params,
)
from circuitlearn.circuit.models import (
    CODE_MODELS,
    FLAG_PARAMS,
    MODEL_KINDS,
    MODEL_TYPES_READ,
    STRING_PARAMS,
    Model,
    ModelText,
    ModelWord,
)
from circuitlearn.circuit.topology import check_topology
from circuitlearn.circuit.units import try_parse_value
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.netlist.cards import (
    ELEMENT_PARSERS,
    CardContext,
    parse_expression,
    parse_param_value,
    parse_value,
    split_arguments,
    unsupported_letter_message,
)
from circuitlearn.netlist.functions import expand_functions
from circuitlearn.netlist.include import expand_includes
from circuitlearn.netlist.lexer import (
    Card,
    Scope,
    Token,
    decode,
    split_cards,
    subckt_scopes,
    tokenize,
    visible_in,
)

__all__ = ["IGNORED_CARDS", "MAX_SUBCKT_NESTING", "flat_origins", "from_spice"]

IGNORED_CARDS = frozenset({
    ".op", ".dc", ".tran", ".ac", ".noise", ".tf", ".sens", ".pz", ".disto", ".four", ".fourier",
    ".print", ".plot", ".save", ".probe", ".meas", ".measure", ".width", ".nodeset", ".ic",
    ".options", ".option", ".opt", ".csparam", ".sp", ".pss",
})  # fmt: skip
"""Analysis, output and option cards that do not change the DC circuit: skipped and recorded."""

_WORD_OPTIONS = frozenset({"method"})
"""ngspice ``.options`` whose value is a word (``method=gear``); every other value is a number."""

MAX_SUBCKT_NESTING = 32
"""Deepest nesting of ``.subckt`` *definitions* (one inside another) the reader accepts."""


def from_spice(
    source: str | os.PathLike[str] | bytes,
    *,
    path: str | os.PathLike[str] | None = None,
    check: bool = False,
    seed: int | None = None,
) -> Circuit:
    """Read a SPICE netlist into a :class:`~circuitlearn.circuit.Circuit`.

    Parameters
    ----------
    source : str, path-like or bytes
        A :class:`pathlib.Path` (any ``os.PathLike``) or a non-blank ``str`` *without a newline*
        is the path of a netlist file; any other ``str`` is netlist text (a netlist has at least
        a title line and a card), and ``bytes`` are a file's contents.
    path : str or path-like, optional
        File name to show in error messages when ``source`` is text.
    check : bool
        Also flatten the circuit and run :func:`~circuitlearn.circuit.check_topology`, so that
        voltage-source loops and floating nodes are reported with the line of an element involved.
    seed : int, optional
        Seed of the Monte Carlo draws (``agauss gauss aunif unif limit``): each call in the deck
        is replaced by the sample drawn, in the order of the calls, so both backends and a
        written deck see the same numbers; inside a ``.subckt``, each instance draws its own
        when flattened (:attr:`Subcircuit.draws`), as ngspice does. Default: the deck's
        ``.options seed=``, else :data:`~circuitlearn.circuit.expressions.MONTE_CARLO_SEED`.

    Returns
    -------
    Circuit
        With ``origin`` (element name → line, also on each subcircuit body), ``source_path`` and
        ``ignored_cards`` (line, card) set.

    Raises
    ------
    NetlistError
        Naming the file, the line and the offending text, for any card that cannot be read,
        any invalid element, and (with ``check=True``) topology errors.

    Examples
    --------
    >>> c = from_spice('''divider
    ... V1 in 0 DC 1
    ... R1 in out 1k
    ... R2 out 0 1k
    ... .op
    ... .end''')
    >>> [e.name for e in c], c.origin["r2"], c.ignored_cards
    (['v1', 'r1', 'r2'], 4, [(5, '.op')])
    """
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and source.strip() and "\n" not in source
    ):
        file = Path(source)
        shown = str(path) if path is not None else str(file)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise NetlistError(
                f"cannot read the netlist file: {exc.strerror or exc} (pass netlist text with at "
                "least one newline, or an existing file)",
                path=shown,
            ) from None
        text = decode(data, path=shown)
    elif isinstance(source, bytes):
        shown = str(path) if path is not None else None
        text = decode(source, path=shown)
    elif isinstance(source, str):
        shown = str(path) if path is not None else None
        text = source
    else:
        raise NetlistError(f"expected netlist text, bytes or a path; got {type(source).__name__}")
    try:
        reader = _Reader(shown, seed)
        circuit = reader.read(text)
        if check:
            _check(circuit, reader)
    except RecursionError:
        raise NetlistError(
            "the netlist is nested too deeply to read (subcircuits or expressions): flatten it",
            path=shown,
        ) from None
    return circuit


def flat_origins(circuit: Circuit) -> dict[str, int]:
    r"""Flattened element name (ngspice's ``r.x1.r1``) → line of the card that defines it.

    Lets a message about an element of ``circuit.flatten()`` point at the netlist line.

    Examples
    --------
    >>> c = from_spice("t\n.subckt s p\nr1 p 0 1k\n.ends\nv1 a 0 1\nx1 a s\n")
    >>> flat_origins(c)
    {'v1': 5, 'r.x1.r1': 3}
    """
    return {
        name: body.origin[element.name]
        for name, body, element in _flat_walk(circuit)
        if element.name in body.origin
    }


def _flat_walk(circuit: Circuit) -> list[tuple[str, Circuit, Element]]:
    """(flattened name, the body that holds it, the element) of every element, as flattened.

    Stops after :data:`MAX_FLAT_ELEMENTS` elements (``flatten()`` refuses more)."""
    walked: list[tuple[str, Circuit, Element]] = []
    visited = [0]

    def walk(body: Circuit, subcircuits: dict, path: tuple[str, ...], depth: int) -> None:
        prefix = ".".join(path)
        for element in body:
            visited[0] += 1
            if visited[0] > MAX_FLAT_ELEMENTS:
                return
            if isinstance(element, SubcircuitInstance):
                sub = subcircuits.get(element.subckt)
                if sub is not None and depth < 64:
                    scope = {**subcircuits, **sub.body.subcircuits}
                    walk(sub.body, scope, (*path, element.name), depth + 1)
                continue
            flat_name = f"{element.name[0]}.{prefix}.{element.name}" if prefix else element.name
            walked.append((flat_name, body, element))

    walk(circuit, dict(circuit.subcircuits), (), 0)
    return walked


class _Scope:
    """A circuit being filled: the top level or a ``.subckt`` body."""

    def __init__(self, circuit: Circuit, subcircuit: Subcircuit | None, card: Card | None) -> None:
        self.circuit = circuit
        self.subcircuit = subcircuit
        self.card = card
        self.param_cards: dict[str, Card] = {}


class _Reader:
    def __init__(self, path: str | None, seed: int | None = None) -> None:
        self.path = path
        self.seed = seed
        self.top_params: list[tuple[str, Value | StringParam]] = []
        """The top-level ``.param`` definitions, read ahead by :meth:`_select_branches`."""
        self.stack: list[_Scope] = []
        self.scopes: list[_Scope] = []
        self.element_cards: dict[tuple[int, str], Card] = {}
        """The card of each element, by (id of the circuit body holding it, element name)."""
        self.monte_carlo_seed = MONTE_CARLO_SEED
        """The seed of the Monte Carlo draws, chosen by :meth:`_draw_random`."""
        self.card_draws: dict[Card, dict[str, str]] = {}
        """The draws of each card inside a ``.subckt``: placeholder parameter → kind, drawn per
        instance when flattening (:attr:`Subcircuit.draws`)."""

    def read(self, text: str) -> Circuit:
        title, cards, skipped = split_cards(text, path=self.path)
        cards, included_skipped = expand_includes(cards, path=self.path)
        cards = self._select_branches(self._draw_random(expand_functions(cards, self.path)))
        self.models, card_models = self._scan_models(cards)
        self.temperature, self.temperature_card = _scan_temperature(cards, self._param_env)
        top = Circuit(title or "circuit")
        top.source_path = self.path
        top.monte_carlo_seed = self.monte_carlo_seed
        top.ignored_cards.extend((card.line, card.text) for card in skipped + included_skipped)
        self.stack = [_Scope(top, None, None)]
        self.scopes = list(self.stack)
        for card, visible in zip(cards, card_models, strict=True):
            ctx = CardContext(card, self.path, visible, temperature=self.temperature)
            tokens = tokenize(card, path=card.path or self.path)
            try:
                self._card(tokens, ctx)
            except CircuitError as exc:
                raise ctx.error(str(exc)) from None
            owner = self.stack[-1].subcircuit  # a .subckt card's draws are its own
            if card in self.card_draws and owner is not None:
                owner.draws.update(self.card_draws[card])
        if len(self.stack) > 1:
            scope = self.stack[-1]
            assert scope.subcircuit is not None and scope.card is not None
            raise CardContext(scope.card, self.path).error(
                f"unterminated .subckt {scope.subcircuit.name}: "
                f"add '.ends {scope.subcircuit.name}' after its last card"
            )
        if not len(top):
            if any(card.text == ".control" for card in skipped + included_skipped):
                raise NetlistError(
                    "the netlist has no elements outside its .control block (circuitlearn "
                    "never runs control commands, such as a 'source' that loads the circuit): "
                    "put the circuit's cards in the netlist",
                    path=self.path,
                )
            raise NetlistError(
                "the netlist has no elements (only a title, comments or dot cards); "
                "ngspice rejects an empty netlist",
                path=self.path,
            )
        top.ignored_cards.sort()
        for scope in self.scopes:
            self._order_params(scope)
        self._validate(top)
        self._resolve_top_params(self.stack[0])
        return top

    def _draw_random(self, cards: list[Card]) -> list[Card]:
        """Cards with their Monte Carlo calls replaced by drawn samples (:func:`draw_random`),
        from a generator seeded by ``seed``, else the last ``.options seed=``, else the default."""
        seed = self.seed
        if seed is None:
            seed = MONTE_CARLO_SEED
            for card in cards:
                words = card.text.replace("=", " = ").split()
                if words and words[0].lower() in {".options", ".option", ".opt"}:
                    for index, word in enumerate(words[1:-2], start=1):
                        number = try_parse_value(words[index + 2])
                        if word.lower() == "seed" and words[index + 1] == "=" and number:
                            seed = int(number)
        self.monte_carlo_seed = seed
        rng = check_random_state(seed, who="seed")
        drawn: list[Card] = []
        depth = 0  # of .subckt definitions
        texts = [card.text.lower() for card in cards]
        prefixes = (f"mc{n or ''}__" for n in itertools.count())
        # placeholder names that no card uses (a deck written by to_spice() has some)
        prefix = next(p for p in prefixes if not any(p in t for t in texts))
        numbers = itertools.count()
        for card in cards:
            head = card.text.split(None, 1)[0].lower() if card.text.strip() else ""
            depth += head == ".subckt"
            placeholders: dict[str, str] = {}

            def placeholder(kind: str, placeholders: dict[str, str] = placeholders) -> str:
                name = f"{prefix}{kind}{next(numbers)}"
                placeholders[name] = kind
                return name

            try:
                text = draw_random(card.text, rng, placeholder=placeholder if depth else None)
            except CircuitError as exc:
                raise CardContext(card, self.path).error(str(exc)) from None
            depth -= head == ".ends" and depth > 0
            card = card if text == card.text else Card(card.line, text, card.path)
            if placeholders:
                self.card_draws[card] = placeholders
            drawn.append(card)
        return drawn

    def _param_env(self) -> dict[str, float | str]:
        """Values of the top-level ``.param`` definitions that have one without ``TEMPER``,
        for cards read ahead of them (``.temp {expr}``); later definitions replace earlier."""
        params = dict(self.top_params)
        env: dict[str, float | str] = {}
        while params:  # in dependency order: a definition may use a later one
            ready = {}
            for name, value in params.items():
                try:
                    ready[name] = param_value(value, env)
                except CircuitError:
                    continue
            if not ready:
                break
            env.update(ready)
            params = {k: v for k, v in params.items() if k not in ready}
        return env

    def _select_branches(self, cards: list[Card]) -> list[Card]:
        """Cards outside ``.if``/``.elseif``/``.else``/``.endif`` blocks and in their taken
        branches. Conditions are ``.param`` expressions (a lone ``=`` compares, as ``==``) of the
        top-level ``.param`` values defined above them. As ngspice 39 does (measured), ``.param``
        and ``.subckt`` cards inside a branch are read whichever branch is taken."""
        kept: list[Card] = []
        params = self.top_params
        # per open .if: (the enclosing branch is taken, a branch was taken, this one is taken)
        stack: list[tuple[bool, bool, bool]] = []
        depth = 0  # of .subckt definitions, kept in any branch
        for card in cards:
            words = card.text.split(None, 1)
            head = re.split(r"[\s(]", card.text.lower(), maxsplit=1)[0]
            active = not stack or stack[-1][2]
            if head in {".if", ".elseif", ".else", ".endif"}:
                self._branch(head, card, stack, params)
                continue
            if head == ".subckt":
                depth += 1
            if active or depth or head == ".param":
                kept.append(card)
            if head == ".ends" and depth:
                depth -= 1
            if head == ".param" and depth == 0 and len(words) > 1:
                ctx = CardContext(card, self.path)
                # a bad .param is reported in the order of the cards, when the card is read
                with contextlib.suppress(NetlistError):
                    params += list(_param_values(tokenize(card, path=card.path)[1:], ctx))
        if stack:
            raise NetlistError(
                "unterminated .if block: add '.endif' after its last card", path=self.path
            )
        return kept

    def _branch(
        self,
        head: str,
        card: Card,
        stack: list[tuple[bool, bool, bool]],
        params: list[tuple[str, Value]],
    ) -> None:
        """Update the ``.if`` stack for one ``.if``/``.elseif``/``.else``/``.endif`` card."""
        ctx = CardContext(card, self.path)
        if head != ".if" and not stack:
            raise ctx.error(f"{head} without a matching .if")
        if head == ".endif":
            stack.pop()
            return
        if head == ".else":
            outer, taken, _ = stack.pop()
            stack.append((outer, True, outer and not taken))
            return
        condition = card.text[len(head) :].strip()
        if not condition:
            raise ctx.error(f"{head}: expected a condition, e.g. '{head} (a == 1)'")
        if head == ".if":
            outer, taken = not stack or stack[-1][2], False
        else:
            outer, taken, _ = stack.pop()
        value = False
        if outer and not taken:
            env: dict[str, float] = {}  # ngspice 39 has no TEMPER here ("undefined parameter")
            for name, param in params:
                try:
                    env[name] = param.evaluate(env) if isinstance(param, Expression) else param
                except CircuitError:
                    env.pop(name, None)  # a value ngspice reads later: unknown here
            text = re.sub(r"(?<![=!<>])=(?!=)", "==", condition)
            try:
                value = evaluate(text, env) != 0
            except CircuitError as exc:
                raise ctx.error(
                    f"{head}: cannot evaluate the condition ({exc}); conditions use the "
                    "top-level .param values defined above them"
                ) from None
        stack.append((outer, taken or value, value))

    def _scan_models(
        self, cards: list[Card]
    ) -> tuple[
        dict[str, tuple[str, dict[str, Value]]], list[dict[str, tuple[str, dict[str, Value]]]]
    ]:
        """Every ``.model`` card, read ahead: some element cards read differently with one (a
        resistor's value from its model, where a Q card's nodes end). Returns all of them by name
        and, per card, the models visible there: ngspice's scoping, where a ``.model`` inside a
        ``.subckt`` (anywhere in its body) hides one of that name outside it."""
        Models = dict[str, tuple[str, dict[str, Value]]]
        every: Models = {}
        own: dict[Scope, Models] = {}
        scopes = subckt_scopes(cards)
        for card, scope in zip(cards, scopes, strict=True):
            if card.text[:6].lower() == ".model":
                ctx = CardContext(card, self.path)
                name, kind, params = _model_card(tokenize(card, path=card.path)[1:], ctx)
                every[name.lower()] = (kind, params)
                own.setdefault(scope, {})[name.lower()] = (kind, params)
        visible = {scope: visible_in(scope, own) for scope in set(scopes)}
        return every, [visible[scope] for scope in scopes]

    # -- cards ------------------------------------------------------------------------------
    def _card(self, tokens: list[Token], ctx: CardContext) -> None:
        first = tokens[0]
        if not first.is_word:
            raise ctx.error(
                f"a card must start with an element name or a dot command; got {first.text!r}"
            )
        word = first.text.lower()
        scope = self.stack[-1]
        if word.startswith("."):
            self._dot_card(word, tokens[1:], ctx)
            return
        parser = ELEMENT_PARSERS.get(word[0])
        if parser is None:
            if word[0].isalpha():
                raise ctx.error(f"element {word}: {unsupported_letter_message(word[0])}")
            raise ctx.error(
                f"unknown card {first.text!r}: expected an element (a name starting with "
                "R, C, L, V, I, D, E, G, F, H, M or X) or a dot command such as .model"
            )
        element = parser(word, tokens[1:], ctx)
        scope.circuit.add(element)
        scope.circuit.origin[element.name] = ctx.card.line
        self.element_cards[(id(scope.circuit), element.name)] = ctx.card

    def _dot_card(self, word: str, tokens: list[Token], ctx: CardContext) -> None:
        scope = self.stack[-1]
        if word == ".model":
            self._model(tokens, ctx, scope)
        elif word == ".subckt":
            self._subckt(tokens, ctx, scope)
        elif word == ".ends":
            self._ends(tokens, ctx)
        elif word == ".param":
            self._param(tokens, ctx, scope)
        elif word == ".temp":
            self._temperature(tokens, ctx)
        elif word == ".global":
            for token in tokens:
                if not token.is_word:
                    raise ctx.error(f".global: expected node names; got {token.text!r}")
                if normalize_node(token.text, element=".global") == GROUND:
                    continue  # '.global gnd': ground is global already (ngspice accepts it)
                self.stack[0].circuit.add_global(token.text)
        elif word == ".title":
            self.stack[0].circuit.title = ctx.card.text[len(word) :].strip() or "circuit"
        elif word in IGNORED_CARDS:
            self._check_temperature(word, tokens, ctx)
            if word in {".options", ".option", ".opt"}:
                self._options(word, tokens, ctx)
            self.stack[0].circuit.ignored_cards.append((ctx.card.line, ctx.card.text))
        else:
            raise ctx.error(
                f"unsupported card {word}: circuitlearn reads .model, .subckt/.ends, .param "
                f"and .end, and skips {', '.join(sorted(IGNORED_CARDS))}"
            )

    def _model(self, tokens: list[Token], ctx: CardContext, scope: _Scope) -> None:
        name, kind, params = _model_card(tokens, ctx)
        # lenient: ngspice ignores a parameter it does not know, so an unused model with one
        # never stops a deck; the native solver refuses a model that has one if it is used
        scope.circuit.add_model(Model(name, kind, params, strict=False))

    def _subckt(self, tokens: list[Token], ctx: CardContext, scope: _Scope) -> None:
        usage = ".subckt NAME port... [params:] [name=default ...]"
        args, keywords = split_arguments(tokens, ctx, ".subckt")
        if args and args[-1].is_word and args[-1].text.lower() == "params:":
            args.pop()
        if not args:
            raise ctx.error(f".subckt: missing subcircuit name; expected '{usage}'")
        for token in args:
            if not token.is_word:
                raise ctx.error(f".subckt: expected a name; got {token.text!r}")
        name = args[0].text
        who = f"subcircuit {name.lower()}"
        params = {key: parse_param_value(token, ctx, who) for key, token in keywords.items()}
        for key in params:
            if not key.isidentifier():
                raise ctx.error(f"{who}: invalid parameter name {key!r}")
        if len(self.stack) > MAX_SUBCKT_NESTING:
            raise ctx.error(
                f"{who}: .subckt definitions nested more than {MAX_SUBCKT_NESTING} deep; define "
                "subcircuits side by side instead"
            )
        body = Circuit(name.lower())
        body.source_path = self.path
        sub = Subcircuit(name, tuple(t.text for t in args[1:]), body, params)
        scope.circuit.add_subcircuit(sub)
        self.stack.append(_Scope(body, sub, ctx.card))
        self.scopes.append(self.stack[-1])

    def _ends(self, tokens: list[Token], ctx: CardContext) -> None:
        if len(self.stack) == 1:
            raise ctx.error(".ends without a matching .subckt")
        scope = self.stack.pop()
        assert scope.subcircuit is not None
        if tokens and tokens[0].text.lower() != scope.subcircuit.name:
            raise ctx.error(
                f".ends {tokens[0].text.lower()} closes .subckt {scope.subcircuit.name} "
                f"(opened at line {scope.card.line if scope.card else '?'})"
            )
        if len(tokens) > 1:
            raise ctx.error(f".ends: unexpected {tokens[1].text!r}")

    def _param(self, tokens: list[Token], ctx: CardContext, scope: _Scope) -> None:
        if not tokens:
            raise ctx.error(
                ".param: expected name=value pairs, e.g. '.param rload=1k gain={rload*2}'"
            )
        for name, value in _param_values(tokens, ctx):
            # As in ngspice, a later definition replaces an earlier one everywhere.
            scope.circuit.params.pop(name, None)
            scope.circuit.set_param(name, value)
            scope.param_cards[name] = ctx.card

    def _options(self, word: str, tokens: list[Token], ctx: CardContext) -> None:
        """Store ``name=value`` pairs and flags in the top circuit's ``options`` (global, as in
        ngspice, wherever the card is); the solvers decide what they honour."""
        options = self.stack[0].circuit.options
        index = 0
        while index < len(tokens):
            token = tokens[index]
            name = token.text.lower()
            if not token.is_word:
                raise ctx.error(f"{word}: expected an option name; got {token.text!r}")
            if index + 1 < len(tokens) and tokens[index + 1].text == "=":
                if index + 2 >= len(tokens):
                    raise ctx.error(f"{word}: option {name}= has no value")
                text = tokens[index + 2].text
                number = try_parse_value(text)
                if number is None and name not in _WORD_OPTIONS:
                    raise ctx.error(f"{word}: option {name}={text} is not a number")
                if name == "temp" and number is not None:
                    # .options temp=T is the circuit temperature, which a .temp card overrides
                    # (ngspice 39, either order): kept as Circuit.temperature, written as .temp
                    if not self.temperature_card:
                        self.stack[0].circuit.set_temperature(number)
                    index += 3
                    continue
                options[name] = text.lower() if number is None else number
                index += 3
            else:
                options[name] = True
                index += 1

    def _temperature(self, tokens: list[Token], ctx: CardContext) -> None:
        """``.temp T``: the circuit temperature [°C] (one value; a sweep is not a DC circuit)."""
        if len(tokens) != 1:
            raise ctx.error(".temp: expected one temperature in °C, e.g. '.temp 50'")
        value = parse_value(tokens[0], ctx, ".temp")
        if isinstance(value, Expression):
            try:
                value = value.evaluate(self._param_env())
            except CircuitError as exc:
                raise ctx.error(
                    f".temp: {exc} (a .temp expression uses top-level .param values)"
                ) from None
        self.stack[0].circuit.set_temperature(value)

    def _check_temperature(self, word: str, tokens: list[Token], ctx: CardContext) -> None:
        if word in {".options", ".option", ".opt"}:
            # Options mix flags and name=value pairs in any order: look only for TNOM, the
            # temperature the model parameters were measured at (TEMP is the circuit's: solvers
            # decide whether they model it).
            for index, token in enumerate(tokens[:-2]):
                key = token.text.lower()
                if key == "tnom" and tokens[index + 1].text == "=":
                    value = tokens[index + 2].text
                    if try_parse_value(value) != NOMINAL_TEMPERATURE:
                        raise ctx.error(f"{word}: only tnom=27 is modelled; got tnom={value}")

    # -- whole-netlist checks ---------------------------------------------------------------
    def _validate(self, top: Circuit) -> None:
        """Check model, subcircuit, control-source and parameter references in every scope,
        and that no subcircuit instantiates itself."""
        all_params = {name for scope in _scopes(top) for name in _scope_param_names(scope)}
        scopes = list(_visible(top, top.models, top.subcircuits, None))
        for circuit, models, subcircuits, sub in scopes:
            view = Circuit(circuit.title)
            view.extend(circuit.elements)
            view.models.update(models)
            view.subcircuits.update(subcircuits)
            view.params.update(dict.fromkeys(all_params if sub is not None else top.params, 0.0))
            try:
                view.validate()
            except CircuitError as exc:
                where = f" (in subcircuit {sub.name})" if sub is not None else ""
                raise self._located(circuit, exc.element, f"{exc}{where}") from None
        visible = {
            id(sub.body): subcircuits for _, _, subcircuits, sub in scopes if sub is not None
        }
        for circuit, _, subcircuits, sub in scopes:
            if sub is None:
                continue
            for element in circuit.elements_of(SubcircuitInstance):
                chain = _cycle_through(sub, subcircuits[element.subckt], visible, (element.name,))
                if chain is not None:
                    raise self._located(
                        circuit,
                        element.name,
                        f"subcircuit {sub.name} instantiates itself through {' -> '.join(chain)} "
                        "(recursive subcircuits never end: remove the self-reference)",
                    )

    def _located(self, circuit: Circuit, element: str | None, message: str) -> NetlistError:
        return self.error_at(self.element_cards.get((id(circuit), element or "")), message)

    def error_at(self, card: Card | None, message: str) -> NetlistError:
        """A :class:`NetlistError` at ``card`` (in its own file), or unlocated."""
        if card is None:
            return NetlistError(message, path=self.path)
        return NetlistError(message, path=card.path or self.path, line=card.line, text=card.text)

    def card_of(self, circuit: Circuit, element: str | None) -> Card | None:
        """The card of a (local) element name: the top level first, then subcircuit bodies."""
        if not element:
            return None
        for scope in _scopes(circuit):
            body = scope if isinstance(scope, Circuit) else scope.body
            card = self.element_cards.get((id(body), element))
            if card is not None:
                return card
        return None

    def _order_params(self, scope: _Scope) -> None:
        """Order a scope's ``.param``s so that each follows those it uses (ngspice allows forward
        references); an already valid order is kept. A circular definition is an error."""
        params = scope.circuit.params
        uses = {
            name: (
                value.names()
                if isinstance(value, StringParam)
                else expression_names(value.text)
                if isinstance(value, Expression)
                else set()
            )
            & set(params)
            for name, value in params.items()
        }
        ordered: dict[str, Value] = {}
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in ordered:
                return
            if name in visiting:
                cycle = [*visiting[visiting.index(name) :], name]
                raise self.error_at(
                    scope.param_cards.get(cycle[0]),
                    f".param {cycle[0]}: circular definition {' -> '.join(cycle)}",
                )
            visiting.append(name)
            for dependency in (n for n in params if n in uses[name]):
                visit(dependency)
            visiting.pop()
            ordered[name] = params[name]

        for name in params:
            visit(name)
        params.clear()
        params.update(ordered)

    def _resolve_top_params(self, scope: _Scope) -> None:
        """Evaluate the top-level ``.param`` definitions in order, locating the first bad one."""
        env: dict[str, float] = {"temper": self.temperature}
        for name, value in scope.circuit.params.items():
            try:
                env = resolve_params({name: value}, env)
            except (ValueError, RecursionError) as exc:
                reason = exc if isinstance(exc, ValueError) else "expression too deeply nested"
                card = scope.param_cards.get(name)
                raise self.error_at(card, f".param {name}: {reason}") from None


def _model_card(tokens: list[Token], ctx: CardContext) -> tuple[str, str, dict[str, Value]]:
    """Name, type and parameters of a ``.model`` card: ``name=value`` or SPICE2 ``name value``."""
    usage = ".model NAME TYPE (param=value ...)"
    tokens = [t for t in tokens if not (t.kind == "punct" and t.text in "(),")]
    if len(tokens) < 2 or not tokens[0].is_word or not tokens[1].is_word:
        raise ctx.error(f".model: missing model name or type; expected '{usage}'")
    name, kind = tokens[0].text, tokens[1].text.lower()
    who = f"model {name.lower()}"
    if kind not in MODEL_KINDS:
        raise ctx.error(f"{who}: unknown model type {kind!r}; ngspice 39 reads {MODEL_TYPES_READ}")
    if kind in CODE_MODELS:
        return name, kind, _code_model_params(ctx.card.text, ctx, who)
    params: dict[str, Value] = {}
    rest = tokens[2:]
    index = 0
    while index < len(rest):
        key = rest[index]
        if not key.is_word:
            raise ctx.error(f"{who}: expected a parameter name; got {key.text!r}")
        index += 1
        flag = key.text.lower() in FLAG_PARAMS.get(kind, ())
        if flag and (index >= len(rest) or rest[index].text != "="):
            params[key.text.lower()] = ModelWord("")  # a bare flag: vdmos pchan
            continue
        if index < len(rest) and rest[index].kind == "punct":
            index += 1
        if index >= len(rest) or rest[index].kind == "punct":
            raise ctx.error(f"{who}: parameter {key.text.lower()} has no value")
        params.pop(key.text.lower(), None)  # given twice: the last wins, as in ngspice 39
        value = rest[index]
        if (
            key.text.lower() in STRING_PARAMS
            and value.kind == "word"
            and try_parse_value(value.text) is None
        ):
            params[key.text.lower()] = ModelWord(value.text)  # version=4.8.2, kept as written
        else:
            params[key.text.lower()] = parse_value(value, ctx, who)
        index += 1
    return name, kind, params


def _param_values(
    tokens: list[Token], ctx: CardContext
) -> Iterator[tuple[str, Value | StringParam]]:
    """``(name, value)`` of each definition of a ``.param`` card (its tokens after ``.param``)."""
    for name, value_tokens in _param_pairs(tokens, ctx):
        who = f".param {name}"
        if _is_string(value_tokens):
            text = " ".join(t.text if t.is_word else "{" + t.text + "}" for t in value_tokens)
            try:
                yield name, StringParam(text)
            except CircuitError as exc:
                raise ctx.error(f"{who}: {exc}") from None
        elif len(value_tokens) == 1 and value_tokens[0].kind == "expr":
            yield name, parse_expression(value_tokens[0].text, ctx, who)
        elif len(value_tokens) == 1 and try_parse_value(value_tokens[0].text) is not None:
            yield name, parse_value(value_tokens[0], ctx, who)
        else:
            yield name, parse_expression(" ".join(t.text for t in value_tokens), ctx, who)


def _is_string(tokens: list[Token]) -> bool:
    """Whether a ``.param`` value is a string (ngspice 39's numparam): it has a ``"quoted"``
    literal, or concatenates names and ``{name}``s (``or{and}``)."""
    if any(t.is_word and t.text.startswith('"') for t in tokens):
        return True
    return len(tokens) > 1 and all(t.kind != "punct" and t.text.isidentifier() for t in tokens)


_CODE_MODEL_PARAM = re.compile(
    r"\s*(?P<key>[A-Za-z_]\w*)\s*=\s*"
    r"(?P<value>\[[^\]]*\]|\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}|'[^']*'|\"[^\"]*\"|[^\s\[\]{}()'\"=]+)"
)


def _code_model_params(text: str, ctx: CardContext, who: str) -> dict[str, Value]:
    """The parameters of an XSPICE code model's ``.model`` card (``.model sw aswitch(cntl_on=1
    log=TRUE)``, ``x_array=[0 1 2]``): numbers and ``{expressions}`` as values, anything else
    (arrays, booleans, strings) kept verbatim for ngspice."""
    parts = text.split(None, 2)
    body = parts[2] if len(parts) > 2 else ""
    kind_end = re.match(r"[A-Za-z_]\w*", body)
    body = body[kind_end.end() :] if kind_end else body  # ".model x int(a=1)": after the type
    body = body.strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    params: dict[str, Value] = {}
    position = 0
    while body[position:].strip():
        match = _CODE_MODEL_PARAM.match(body, position)
        if match is None:
            raise ctx.error(
                f"{who}: cannot read code-model parameters at {body[position:].strip()[:30]!r}; "
                "expected name=value (a number, {expression}, [array], TRUE/FALSE or a string)"
            )
        key, value = match["key"].lower(), match["value"]
        number = try_parse_value(value)
        if number is not None:
            params[key] = number
        elif value.startswith(("{", "'")):
            params[key] = parse_expression(value[1:-1], ctx, who)
        else:
            params[key] = ModelText(value)
        position = match.end()
    return params


def _param_pairs(tokens: list[Token], ctx: CardContext) -> Iterator[tuple[str, list[Token]]]:
    """``name = value...`` groups of a ``.param`` card (a value runs up to the next ``name =``)."""
    index = 0
    while index < len(tokens):
        name = tokens[index]
        if not (name.is_word and index + 1 < len(tokens) and tokens[index + 1].text == "="):
            raise ctx.error(f".param: expected name=value; got {name.text!r}")
        key = name.text.lower()
        if not key.isidentifier():
            raise ctx.error(
                f".param: invalid parameter name {name.text!r} (use letters, digits and _)"
            )
        index += 2
        value: list[Token] = []
        while index < len(tokens) and not (
            index + 1 < len(tokens)
            and tokens[index + 1].text == "="
            and tokens[index + 1].kind == "punct"
        ):
            if tokens[index].text == "=":
                raise ctx.error(f".param {key}: unexpected '='")
            value.append(tokens[index])
            index += 1
        if not value:
            raise ctx.error(f".param {key}: missing value after '='")
        yield key, value


def _scopes(top: Circuit) -> Iterator[Circuit | Subcircuit]:
    yield top
    stack = list(top.subcircuits.values())
    while stack:
        sub = stack.pop()
        yield sub
        stack.extend(sub.body.subcircuits.values())


def _scope_param_names(scope: Circuit | Subcircuit) -> set[str]:
    if isinstance(scope, Subcircuit):
        return set(scope.params) | set(scope.body.params) | set(scope.draws)
    return set(scope.params)


def _visible(
    circuit: Circuit, models: dict, subcircuits: dict, owner: Subcircuit | None
) -> Iterator[tuple[Circuit, dict, dict, Subcircuit | None]]:
    """Each circuit body with the models and subcircuits visible from it, and its definition."""
    yield circuit, models, subcircuits, owner
    for sub in circuit.subcircuits.values():
        inner_models = {**models, **sub.body.models}
        inner_subs = {**subcircuits, **sub.body.subcircuits}
        yield from _visible(sub.body, inner_models, inner_subs, sub)


def _cycle_through(
    start: Subcircuit,
    current: Subcircuit,
    visible: dict[int, dict],
    chain: tuple[str, ...],
    seen: set[int] | None = None,
) -> tuple[str, ...] | None:
    """Instance names leading from ``start``'s body back to ``start``, if any (depth-first)."""
    if current is start:
        return chain
    seen = set() if seen is None else seen
    if id(current) in seen:
        return None
    seen.add(id(current))
    for element in current.body.elements_of(SubcircuitInstance):
        target = visible[id(current.body)].get(element.subckt)
        if target is not None:
            found = _cycle_through(start, target, visible, (*chain, element.name), seen)
            if found is not None:
                return found
    return None


def _check(circuit: Circuit, reader: _Reader) -> None:
    """Flatten and check topology, turning errors into located :class:`NetlistError`s."""
    try:
        flat = circuit.flatten()
    except CircuitError as exc:
        raise reader.error_at(reader.card_of(circuit, exc.element), str(exc)) from None
    try:
        check_topology(flat)
    except CircuitError as exc:
        element = exc.element
        if element is None and exc.node is not None:
            element = next((e.name for e in flat if exc.node in e.nodes), None)
        card = next(
            (
                reader.element_cards.get((id(body), local.name))
                for name, body, local in _flat_walk(circuit)
                if name == element
            ),
            None,
        )
        raise reader.error_at(card, str(exc)) from None


def _scan_temperature(
    cards: list[Card], env: Callable[[], Mapping[str, float]]
) -> tuple[float, bool]:
    """The deck's circuit temperature [°C], read ahead for the cards that fold it into a value
    (a resistor's tc1/tc2): the last ``.temp`` (a number, or an expression of the top-level
    ``.param`` values ``env()``), else the last ``.options temp=``, else 27 °C; and whether a
    ``.temp`` card gave it. Malformed cards are left to the reading pass."""
    temperature, from_options = None, None
    for card in cards:
        words = card.text.replace("=", " = ").split()
        head = words[0].lower() if words else ""
        if head == ".temp" and len(words) >= 2:
            value = _temperature_value(card.text[len(head) :].strip(), env)
            temperature = value if value is not None else temperature
        elif head in {".options", ".option", ".opt"}:
            for index, word in enumerate(words[1:-2], start=1):
                if word.lower() == "temp" and words[index + 1] == "=":
                    value = try_parse_value(words[index + 2])
                    from_options = value if value is not None else from_options
    if temperature is not None:
        return temperature, True
    return (NOMINAL_TEMPERATURE if from_options is None else from_options), False


def _temperature_value(text: str, env: Callable[[], Mapping[str, float]]) -> float | None:
    """A ``.temp`` card's value: a number, or ``{expr}``/``'expr'`` of ``env()`` (ngspice 39
    evaluates ``.temp {envtemp}`` with the deck's ``.param``s); None if it is neither."""
    if len(text) >= 2 and (text[0], text[-1]) in {("{", "}"), ("'", "'")}:
        try:
            return evaluate(text[1:-1], env())
        except CircuitError:
            return None
    return try_parse_value(text)
