"""docs/extending.md runs: a scheme, a family defined outside the package, a field and a preset
are each one registration call, picked up by odeint, blocks and networks. Registries are
cleaned up in ``finally``."""

from __future__ import annotations

from pathlib import Path

import odenets as on
from odenets.networks.fields import unregister_field
from odenets.networks.presets import unregister_model
from odenets.numerics.families import unregister_family
from odenets.numerics.schemes import unregister_scheme

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]


def test_extending_page_runs_and_registers_everything_it_says():
    before = (on.list_schemes(), on.list_families(), on.list_fields(), on.list_models())
    namespace: dict = {}
    try:
        for i, code in enumerate(_blocks()):
            exec(compile(code, f"docs/extending.md block {i + 1}", "exec"), namespace)
        assert {"kutta3", "theta_heun"} <= set(on.list_schemes())
        assert "theta_predictor" in on.list_families()
        assert "wide_mlp" in on.list_fields()
        assert "wide_mlp_rk4_net" in on.list_models()
        # the external family's capabilities are what callers see
        family = on.get_scheme("theta_heun").capabilities
        assert family.slot_count(on.get_scheme("theta_heun"), {}) == 2 and not family.invertible
    finally:
        for name in ("kutta3", "theta_heun"):
            if name in on.list_schemes():
                unregister_scheme(name)
        if "theta_predictor" in on.list_families():
            unregister_family("theta_predictor")
        if "wide_mlp" in on.list_fields():
            unregister_field("wide_mlp")
        if "wide_mlp_rk4_net" in on.list_models():
            unregister_model("wide_mlp_rk4_net")
    assert (on.list_schemes(), on.list_families(), on.list_fields(), on.list_models()) == before
