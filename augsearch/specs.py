"""Compact policy specs, timm's config strings and the bundled policies, behind ``load_policy``.

* a file: ``policy.yaml``, ``policy.json``, or a path with a separator (``./mine``, ``runs/x/policy``);
* a bundled policy: ``autoaugment/cifar10``, ``fast-aa/reduced-cifar10``, ... (``augsearch policies``);
* a spec: ``KIND[:key=value,...]``, e.g. ``randaugment:n=2,m=9``, ``trivial``, ``augmix:severity=3``,
  ``cutout:size=16``, ``mixup:alpha=0.2,num_classes=10``; values are YAML scalars or ``[a, b]`` lists;
* timm's strings with timm's meaning: ``rand-m9-n2-mstd0.5``, ``augmix-m5-w4-d2``, ``original``.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from augsearch.errors import PolicyError, shown
from augsearch.files import from_config, read_policy_file
from augsearch.formats import FORMAT_VERSION, YAML_SUFFIXES, parse_text
from augsearch.policy import KINDS, PolicyData

ALIASES = {"trivial": "trivialaugment", "trivialaugment-wide": "trivialaugment", "rand": "randaugment",
           "aa": "policy"}
POLICY_SUFFIXES = (*YAML_SUFFIXES, ".json")

# timm's op lists and defaults (timm.data.auto_augment), as facts
TIMM_RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
                 "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
                 "TranslateYRel")
TIMM_RAND_INCREASING_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing",
                            "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing",
                            "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
                            "TranslateXRel", "TranslateYRel")
TIMM_AUGMIX_OPS = ("AutoContrast", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                   "SharpnessIncreasing", "Equalize", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                   "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
TIMM_STYLE = {"convention": "timm", "fill": [128, 128, 128], "interpolation": "bilinear"}


def bundled_root() -> Path:
    return Path(str(resources.files("augsearch") / "policies"))


def bundled_policies() -> dict[str, Path]:
    """Bundled policy names (``family/name``) and their files."""
    root = bundled_root()
    return {str(p.relative_to(root).with_suffix("")): p
            for p in sorted(root.rglob("*")) if p.suffix in POLICY_SUFFIXES}


def load_policy(source: Any):
    """A policy from a file path, a bundled name, a compact spec or a timm string."""
    if isinstance(source, PolicyData):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and Path(source).suffix.lower() in POLICY_SUFFIXES):
        return read_policy_file(source)
    if not isinstance(source, str) or not source.strip():
        raise PolicyError("expected a policy file, a bundled name or a spec", value=source)
    spec = source.strip()
    bundled = bundled_policies()
    if spec in bundled:
        return read_policy_file(bundled[spec])
    if _is_file(spec):
        return read_policy_file(spec)
    timm = _timm_config(spec)
    return from_config(timm if timm is not None else parse_spec(spec), file=_label(spec))


def _is_file(spec: str) -> bool:
    """Whether ``spec`` names a file without a policy suffix. Only what looks like a path (it has a
    separator) is looked up, and a name the system refuses (too long, say) is no file."""
    if "/" not in spec and os.sep not in spec:
        return False
    try:
        return Path(spec).is_file()
    except OSError:
        return False


def _label(spec: str) -> str:
    """How errors name a spec: a spec can be any string, so it is shown bounded."""
    return f"spec {shown(spec)}"


def parse_spec(spec: str) -> dict[str, Any]:
    """``KIND[:key=value,...]`` as a config mapping."""
    kind, _, rest = spec.partition(":")
    kind = ALIASES.get(kind.strip(), kind.strip())
    if kind not in KINDS:
        names = ", ".join(sorted({*KINDS, *ALIASES})) + ", or a bundled name (augsearch policies)"
        raise PolicyError(f"unknown policy spec; expected a file, {names}", value=spec)
    config: dict[str, Any] = {"augsearch": FORMAT_VERSION, "kind": kind}
    for item in _split_items(rest):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PolicyError("spec options are key=value, separated by commas", file=_label(spec),
                              value=item)
        config[key.strip()] = parse_text(value.strip(), file=_label(spec))
    return config


def _split_items(text: str) -> list[str]:
    items, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [i for i in [*items, current] if i.strip()]


def _timm_config(spec: str) -> dict[str, Any] | None:
    """timm's ``rand-...``, ``augmix-...`` and ``original[r]-...`` strings as configs, else None."""
    head, *sections = spec.split("-")
    if head not in ("rand", "augmix", "original", "originalr") or ":" in spec:
        return None
    options: dict[str, float] = {}
    inc = False
    for section in sections:
        match = re.fullmatch(r"([a-z]+)(\d.*)", section)
        if not match:
            raise PolicyError("unsupported timm config section", file=_label(spec), value=section)
        key, text = match.groups()
        try:
            value = float(text)
        except ValueError:
            raise PolicyError("timm config values must be numbers", file=_label(spec), value=section) from None
        if key == "inc":
            inc = bool(int(value))
        else:
            options[key] = value
    allowed = {"rand": {"m", "n", "p", "mstd", "mmax"}, "augmix": {"m", "w", "d", "a"},
               "original": {"mstd"}, "originalr": {"mstd"}}[head]
    unknown = set(options) - allowed
    if unknown or (inc and head != "rand"):
        raise PolicyError(f"timm '{head}' sections supported here: {', '.join(sorted(allowed))}"
                          + (", inc" if head == "rand" else ""), file=_label(spec),
                          value=sorted(unknown) or "inc")
    mstd = options.get("mstd", 0.0)
    mstd = float("inf") if mstd > 100 else mstd
    base = {"augsearch": FORMAT_VERSION, **TIMM_STYLE}
    if head == "rand":
        cfg = {**base, "kind": "randaugment", "n": int(options.get("n", 2)), "m": options.get("m", 10.0),
               "prob": options.get("p", 0.5), "magnitude_std": mstd,
               "ops": list(TIMM_RAND_INCREASING_OPS if inc else TIMM_RAND_OPS)}
        if "mmax" in options:
            cfg["magnitude_max"] = options["mmax"]
        return cfg
    if head == "augmix":
        return {**base, "kind": "augmix", "severity": options.get("m", 3.0), "width": int(options.get("w", 3)),
                "depth": int(options.get("d", -1)), "alpha": options.get("a", 1.0),
                "ops": list(TIMM_AUGMIX_OPS)}
    imagenet = read_policy_file(bundled_policies()["autoaugment/imagenet"])
    posterize = "PosterizeOriginal" if head == "original" else "PosterizeIncreasing"
    subs = [[[posterize if op.name == "Posterize" else op.name, op.prob, op.magnitude] for op in sp.ops]
            for sp in imagenet.sub_policies]
    return {**base, "kind": "policy", "source": f"timm '{head}': the AutoAugment ImageNet policy, timm's ranges",
            "magnitude_std": mstd, "sub_policies": subs}
