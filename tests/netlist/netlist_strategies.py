"""Hypothesis strategies for random valid circuits (every element type, models, params,
expressions, subcircuits), shared by the round-trip and ngspice tests."""

from __future__ import annotations

from hypothesis import strategies as st

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Capacitor,
    Circuit,
    CurrentSource,
    Diode,
    Expression,
    Inductor,
    Model,
    Mosfet,
    Resistor,
    Subcircuit,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.circuit.behavioral import BehavioralSource

__all__ = ["circuits"]

NODES = ("0", "a", "b", "out", "n_1", "x.y", "in+", "b$c")
DIODE_MODEL_NAMES = ("dmod", "1n4148", "2sk1234", "d_fast")
MOS_MODEL_NAMES = ("nch", "pch", "2n7000")

positive = st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def values(draw: st.DrawFn, params: tuple[str, ...], *, sign: str) -> float | Expression:
    """A number, or an expression of the parameters in scope (always positive when needed)."""
    if params and draw(st.booleans()):
        name = draw(st.sampled_from(params))
        forms = ["abs({p})+1k", "sqrt(abs({p}))+0.5", "max({p}, 1u)"]
        form = draw(st.sampled_from(forms if sign == "positive" else [*forms, "{p}*2+1", "-{p}"]))
        return Expression(form.format(p=name))
    return draw(positive if sign == "positive" else finite)


@st.composite
def models(draw: st.DrawFn) -> list[Model]:
    result = []
    for name in draw(
        st.lists(st.sampled_from(DIODE_MODEL_NAMES), min_size=1, max_size=2, unique=True)
    ):
        params = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "is": st.floats(1e-18, 1e-6),
                    "n": st.floats(0.5, 3.0),
                    "rs": st.floats(0.0, 100.0),
                    "cjo": st.floats(0, 1e-9),
                },
            )
        )
        result.append(Model(name, "d", params))
    for name in draw(
        st.lists(st.sampled_from(MOS_MODEL_NAMES), min_size=1, max_size=2, unique=True)
    ):
        params = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "vto": finite,
                    "kp": st.floats(1e-6, 1e-2),
                    "lambda": st.floats(0.0, 0.2),
                    "level": st.just(1.0),
                },
            )
        )
        result.append(Model(name, draw(st.sampled_from(["nmos", "pmos"])), params))
    return result


SPECS = ("", "pulse(0 1 1n 1n 1n 5u 10u)", "sin(0 1 1k) ac 1 0", "ac 1", "pwl(0 0 1u 1)")
"""Transient/AC specifications drawn for V and I sources."""


@st.composite
def elements(
    draw: st.DrawFn,
    *,
    nodes: tuple[str, ...],
    params: tuple[str, ...],
    diode_models: tuple[str, ...],
    mos_models: tuple[str, ...],
    subcircuits: tuple[Subcircuit, ...],
    max_size: int = 10,
) -> list:
    """Valid elements (controls, models and subcircuits referenced exist; names unique)."""
    node = st.sampled_from(nodes)
    result: list = [VoltageSource("vctl", draw(node), draw(node), draw(values(params, sign="any")))]
    kinds = ["r", "c", "l", "v", "i", "e", "g", "f", "h", "d", "m", "b"]
    kinds += ["x"] if subcircuits else []
    for index, kind in enumerate(
        draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_size))
    ):
        name = f"{kind}{index}{draw(st.sampled_from(['', '_a', 'z9', '.q']))}"
        if kind == "r":
            result.append(
                Resistor(name, draw(node), draw(node), draw(values(params, sign="positive")))
            )
        elif kind in "cl":
            cls = Capacitor if kind == "c" else Inductor
            extra = draw(st.sampled_from([{}, {"ic": 0.0}, {"m": 2.0}]))
            value = draw(values(params, sign="positive"))
            result.append(cls(name, draw(node), draw(node), value, extra))
        elif kind in "vi":
            cls = VoltageSource if kind == "v" else CurrentSource
            spec = draw(st.sampled_from(SPECS))
            result.append(cls(name, draw(node), draw(node), draw(values(params, sign="any")), spec))
        elif kind in "eg":
            cls = VCVS if kind == "e" else VCCS
            result.append(
                cls(
                    name,
                    draw(node),
                    draw(node),
                    draw(node),
                    draw(node),
                    draw(values(params, sign="any")),
                )
            )
        elif kind in "fh":
            cls = CCCS if kind == "f" else CCVS
            result.append(
                cls(name, draw(node), draw(node), "vctl", draw(values(params, sign="any")))
            )
        elif kind == "b":
            a, b = draw(node), draw(node)
            scale = draw(st.sampled_from([*params, "{2*3}", "1.5k", "-2"]))
            expression = draw(
                st.sampled_from(
                    [
                        f"{scale}*v({a})",
                        f"v({a},{b}) > 0 ? {scale} : tanh(v({b}))",
                        f"1e-12*(exp(v({a})/0.025)-1) + i(vctl)*{scale}",
                        f"pwl(v({a}), -1, 0, 1, {scale}) ** 2",
                        "temper/100",
                    ]
                )
            )
            extra = draw(st.sampled_from([{}, {"m": 2.0}, {"tc1": 0.01}]))
            quantity = draw(st.sampled_from(["v", "i"]))
            result.append(BehavioralSource(name, a, b, quantity, expression, extra))
        elif kind == "d":
            area = draw(st.one_of(st.just(1.0), values(params, sign="positive")))
            result.append(
                Diode(name, draw(node), draw(node), draw(st.sampled_from(diode_models)), area)
            )
        elif kind == "m":
            size = st.one_of(st.none(), values(params, sign="positive"))
            result.append(
                Mosfet(
                    name,
                    draw(node),
                    draw(node),
                    draw(node),
                    draw(node),
                    draw(st.sampled_from(mos_models)),
                    draw(size),
                    draw(size),
                )
            )
        else:
            sub = draw(st.sampled_from(subcircuits))
            chosen = (
                draw(st.lists(st.sampled_from(sorted(sub.params)), unique=True))
                if sub.params
                else []
            )
            instance_params = {k: draw(values(params, sign="positive")) for k in chosen}
            ports = tuple(draw(node) for _ in sub.ports)
            result.append(SubcircuitInstance(name, ports, sub.name, instance_params))
    return result


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    """Random valid circuits: every element type, models, params, expressions, subcircuits."""
    circuit = Circuit(
        draw(st.sampled_from(["random circuit", "T", "* looks like a comment", ".op"]))
    )
    top_params: list[str] = []
    for index in range(draw(st.integers(0, 3))):
        name = f"p{index}"
        value = (
            Expression(f"{top_params[-1]}*2+1")
            if top_params and draw(st.booleans())
            else draw(finite)
        )
        circuit.set_param(name, value)
        top_params.append(name)
    for model in draw(models()):
        circuit.add_model(model)
    diode_models = tuple(m.name for m in circuit.models.values() if m.kind == "d")
    mos_models = tuple(m.name for m in circuit.models.values() if m.kind != "d")
    for index in range(draw(st.integers(0, 2))):
        ports = tuple(
            draw(st.lists(st.sampled_from(["p", "q", "r.1"]), min_size=1, max_size=3, unique=True))
        )
        sub_params = {f"k{j}": draw(positive) for j in range(draw(st.integers(0, 2)))}
        body = Circuit(f"sub{index}")
        if draw(st.booleans()):
            body.set_param("loc", Expression("abs(k0)*3" if "k0" in sub_params else "2"))
        scope = (*top_params, *sub_params, *body.params)
        inner = draw(
            elements(
                nodes=(*ports, "0", "int"),
                params=scope,
                diode_models=diode_models,
                mos_models=mos_models,
                subcircuits=tuple(circuit.subcircuits.values()),
                max_size=4,
            )
        )
        body.extend(inner)
        name = draw(st.sampled_from([f"sub{index}", f"{index}k", f"{index}n4148"]))
        if name not in circuit.subcircuits:
            circuit.add_subcircuit(Subcircuit(name, ports, body, sub_params))
    circuit.extend(
        draw(
            elements(
                nodes=NODES,
                params=tuple(top_params),
                diode_models=diode_models,
                mos_models=mos_models,
                subcircuits=tuple(circuit.subcircuits.values()),
            )
        )
    )
    return circuit
