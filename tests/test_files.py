"""Policy files: exact round trips (property tests over every kind and convention), the bundled
policies, and one clear PolicyError per kind of bad input, naming file, line, place and value."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from augsearch import (
    AugMix,
    CutMix,
    Cutout,
    Mixup,
    Policy,
    PolicyError,
    RandAugment,
    TrivialAugment,
    bundled_policies,
    load_policy,
)
from augsearch.conventions import CONVENTIONS
from augsearch.files import from_config, read_policy_file
from augsearch.formats import dump_text, parse_text

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- strategies

probabilities = st.floats(0.0, 1.0, allow_nan=False)
fills = st.one_of(st.integers(0, 255), st.lists(st.integers(0, 255), min_size=3, max_size=3).map(tuple))
interpolations = st.sampled_from(["nearest", "bilinear"])
conventions = st.sampled_from(sorted(CONVENTIONS))
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def magnitudes(convention, op):
    c = CONVENTIONS[convention]
    if c.entry(op).range is None:
        return st.none()
    if c.levels is not None:
        return st.integers(0, c.levels - 1)
    return st.floats(0.0, c.max_magnitude, allow_nan=False)


@st.composite
def ops(draw, convention):
    name = draw(st.sampled_from(sorted(CONVENTIONS[convention].entries)))
    return [name, draw(probabilities), draw(magnitudes(convention, name))]


@st.composite
def policies(draw):
    convention = draw(conventions)
    subs = draw(st.lists(st.lists(ops(convention), min_size=1, max_size=3), min_size=1, max_size=6))
    return Policy(subs, convention=convention, fill=draw(fills), interpolation=draw(interpolations),
                  magnitude_std=draw(st.one_of(st.just(0.0), st.floats(0, 5), st.just(float("inf")))),
                  source=draw(st.one_of(st.none(), texts.filter(bool))))


@st.composite
def op_lists(draw, convention):
    names = sorted(CONVENTIONS[convention].entries)
    return draw(st.one_of(st.none(), st.lists(st.sampled_from(names), min_size=1, max_size=6)))


@st.composite
def randaugments(draw):
    convention = draw(conventions)
    c = CONVENTIONS[convention]
    magnitude_max = draw(st.one_of(st.none(), st.floats(0, 30)))
    upper = c.max_magnitude if magnitude_max is None else magnitude_max
    m = draw(st.integers(0, int(upper)) if c.levels is not None else st.floats(0, upper))
    return RandAugment(draw(st.integers(0, 5)), m, convention=convention, ops=draw(op_lists(convention)),
                       prob=draw(probabilities), magnitude_std=draw(st.floats(0, 3)), magnitude_max=magnitude_max,
                       fill=draw(fills), interpolation=draw(interpolations))


@st.composite
def trivials(draw):
    convention = draw(conventions)
    return TrivialAugment(convention=convention, ops=draw(op_lists(convention)), fill=draw(fills),
                          interpolation=draw(interpolations))


@st.composite
def augmixes(draw):
    convention = draw(st.sampled_from(["augmix", "timm", "fast-aa", "randaugment"]))
    return AugMix(severity=draw(st.floats(0, CONVENTIONS[convention].max_magnitude)), width=draw(st.integers(1, 5)),
                  depth=draw(st.sampled_from([-1, 1, 2, 3, 7])), alpha=draw(st.floats(1e-6, 10)),
                  convention=convention, ops=draw(op_lists(convention)), jsd=draw(st.booleans()),
                  fill=draw(fills), interpolation=draw(interpolations))


cutouts = st.builds(Cutout, size=st.integers(0, 500), holes=st.integers(1, 5), fill=fills)
modes = st.sampled_from(["batch", "pair", "elem"])
mixups = st.builds(Mixup, alpha=st.floats(0.01, 5), cutmix_alpha=st.floats(0, 5), num_classes=st.integers(2, 1000),
                   prob=probabilities, switch_prob=probabilities, mode=modes, label_smoothing=st.floats(0, 1),
                   correct_lam=st.booleans())
cutmixes = st.builds(CutMix, alpha=st.floats(0.01, 5), num_classes=st.integers(2, 1000), prob=probabilities,
                     mode=modes, label_smoothing=st.floats(0, 1), correct_lam=st.booleans())
anything = st.one_of(policies(), randaugments(), trivials(), augmixes(), cutouts, mixups, cutmixes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anything, st.sampled_from([".yaml", ".yml", ".json"]))
def test_every_kind_round_trips_exactly(policy, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = policy.save(Path(tmp) / f"policy{suffix}")
        loaded = load_policy(str(path))
        assert type(loaded) is type(policy)
        assert loaded == policy
        assert loaded.to_config() == policy.to_config()
        assert load_policy(path.with_name(path.name)) == policy  # a Path works too
        path.write_text(dump_text(loaded.to_config(), path))  # re-saving gives the same file
        assert load_policy(path) == policy


def test_a_changed_field_is_not_equal():
    p = Policy([[("Rotate", 0.5, 3)]])
    assert p != Policy([[("Rotate", 0.5, 4)]]) and p != Policy([[("Rotate", 0.5, 3)]], fill=1)
    assert p == Policy([[("Rotate", 0.5, 3)]]) and hash(p) == hash(Policy([[("Rotate", 0.5, 3)]]))
    assert RandAugment() != TrivialAugment()


# ----------------------------------------------------------------------------- bundled

BUNDLED = ["augmix/cifar", "augmix/imagenet", "autoaugment/cifar10", "autoaugment/imagenet", "autoaugment/svhn",
           "cutout/cifar10", "cutout/cifar100", "cutout/svhn", "fast-aa/reduced-cifar10", "fast-aa/reduced-svhn",
           "fast-aa/resnet50-reduced-imagenet", "pba/reduced-cifar10", "pba/reduced-svhn", "randaugment/paper-n2-m9",
           "randaugment/torchvision", "trivialaugment/wide"]


def test_bundled_policies_are_listed():
    assert sorted(bundled_policies()) == BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_policy_loads_and_resaves_identically(name, tmp_path, bundled):
    path = bundled_policies()[name]
    policy = bundled(name)
    saved = policy.save(tmp_path / path.name)
    assert saved.read_text() == path.read_text()
    if not name.startswith("fast-aa"):  # (the same text loads the same policy; these files are big)
        assert load_policy(saved) == policy == read_policy_file(path)


def test_bundled_fast_aa_policies_have_their_published_size(bundled):
    sizes = {n: len(bundled(f"fast-aa/{n}")) for n in ("reduced-cifar10", "reduced-svhn",
                                                        "resnet50-reduced-imagenet")}
    assert sizes == {"reduced-cifar10": 493, "reduced-svhn": 497, "resnet50-reduced-imagenet": 498}


# ----------------------------------------------------------------------------- bad input

GOOD_YAML = """\
augsearch: 1
kind: policy
convention: autoaugment
fill: [0, 0, 0]
interpolation: nearest
sub_policies:
- [[Invert, 0.1, null], [Contrast, 0.2, 6]]
- [[Rotate, 0.7, 2], [TranslateX, 0.3, 9]]
- [[Sharpness, 0.8, 1], [Sharpness, 0.9, 3]]
- [[ShearY, 0.5, 8], [TranslateY, 0.7, 9]]
"""


def _edit(old: str, new: str) -> str:
    assert old in GOOD_YAML
    return GOOD_YAML.replace(old, new)


def _error(tmp_path, text: str, name: str = "bad.yaml") -> PolicyError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(str(path))
    err = info.value
    message = str(err)
    assert "\n" not in message and err.__cause__ is None  # one error, one line
    assert message.startswith(str(path)), message
    return err


# (edit, place, value as shown, line)
YAML_CASES = [
    (("[Rotate, 0.7, 2]", "[Rotat, 0.7, 2]"), "sub_policies[1][0].name", "'Rotat'", 8),
    (("[Sharpness, 0.9, 3]", "[Sharpness, 1.5, 3]"), "sub_policies[2][1].prob", "1.5", 9),
    (("[TranslateY, 0.7, 9]", "[TranslateY, -0.1, 9]"), "sub_policies[3][1].prob", "-0.1", 10),
    (("[TranslateY, 0.7, 9]", "[TranslateY, '0.7', 9]"), "sub_policies[3][1].prob", "'0.7'", 10),
    (("[TranslateY, 0.7, 9]", "[TranslateY, true, 9]"), "sub_policies[3][1].prob", "True", 10),
    (("[Contrast, 0.2, 6]", "[Contrast, 0.2, 10]"), "sub_policies[0][1].magnitude", "10", 7),
    (("[Contrast, 0.2, 6]", "[Contrast, 0.2, 2.5]"), "sub_policies[0][1].magnitude", "2.5", 7),
    (("[Contrast, 0.2, 6]", "[Contrast, 0.2, .nan]"), "sub_policies[0][1].magnitude", "nan", 7),
    (("[Contrast, 0.2, 6]", "[Contrast, 0.2, yes]"), "sub_policies[0][1].magnitude", "True", 7),
    (("[Contrast, 0.2, 6]", "[Contrast, 0.2]"), "sub_policies[0][1].magnitude", "None", 7),
    (("[Invert, 0.1, null]", "[Invert, 0.1, strong]"), "sub_policies[0][0].magnitude", "'strong'", 7),
    (("[Contrast, 0.2, 6]", "[Contrast]"), "sub_policies[0][1]", "['Contrast']", 7),
    (("- [[Rotate, 0.7, 2], [TranslateX, 0.3, 9]]", "- []"), "sub_policies[1]", "[]", 8),
    (("- [[Rotate, 0.7, 2], [TranslateX, 0.3, 9]]", "- Rotate"), "sub_policies[1]", "'Rotate'", 8),
    (("augsearch: 1\n", "augsearch: 2\n"), "augsearch", "2", 1),
    (("augsearch: 1\n", "augsearch: '1'\n"), "augsearch", "'1'", 1),
    (("augsearch: 1\n", "augsearch: true\n"), "augsearch", "True", 1),
    (("kind: policy", "kind: polcy"), "kind", "'polcy'", 2),
    (("convention: autoaugment", "convention: autoaugmnet"), "convention", "'autoaugmnet'", 3),
    (("fill: [0, 0, 0]", "fill: [0, 0, 256]"), "fill", "(0, 0, 256)", 4),
    (("interpolation: nearest", "interpolation: cubic"), "interpolation", "'cubic'", 5),
    (("interpolation: nearest\n", "interpolation: nearest\nmagnitude_std: -1\n"), "magnitude_std", "-1", 6),
    (("convention: autoaugment", "convention: fast-aa"), "sub_policies[0][1].magnitude", "6", 7),
]


@pytest.mark.parametrize("edit, place, value, line", YAML_CASES)
def test_bad_yaml_names_file_line_place_and_value(tmp_path, edit, place, value, line):
    err = _error(tmp_path, _edit(*edit))
    message = str(err)
    assert err.place == place and err.line == line, message
    assert message.startswith(f"{tmp_path / 'bad.yaml'}:{line}: {place}: "), message
    assert message.endswith(f"(got {value})"), message


@pytest.mark.parametrize("edit, place, value, line", YAML_CASES[:8])
def test_bad_json_names_file_place_and_value(tmp_path, edit, place, value, line):
    import json

    import yaml

    data = yaml.safe_load(_edit(*edit))
    err = _error(tmp_path, json.dumps(data, indent=1), "bad.json")
    assert err.place == place and str(err).endswith(f"(got {value})"), str(err)
    assert str(err).startswith(f"{tmp_path / 'bad.json'}:"), str(err)  # JSON lines too


def test_unknown_and_missing_fields(tmp_path):
    err = _error(tmp_path, GOOD_YAML + "colour: red\n")
    assert err.place == "colour" and err.line == 11 and "unknown field for kind 'policy'" in str(err)
    assert "allowed: sub_policies" in str(err)
    err = _error(tmp_path, GOOD_YAML.replace("augsearch: 1\n", ""))
    assert err.place == "augsearch" and "missing format version; add 'augsearch: 1'" in str(err)
    err = _error(tmp_path, "augsearch: 1\nkind: policy\nconvention: autoaugment\n")
    assert err.place == "sub_policies" and "missing field for kind 'policy'" in str(err)
    err = _error(tmp_path, "augsearch: 1\nkind: mixup\nalpha: 0.2\n")
    assert err.place == "num_classes" and "missing field" in str(err)
    err = _error(tmp_path, "augsearch: 1\nkind: randaugment\nn: 2\nm: 9\nsize: 3\n")
    assert err.place == "size" and err.line == 5
    err = _error(tmp_path, "augsearch: 1\nkind: randaugment\nn: -2\n")
    assert err.place == "n" and err.line == 3 and str(err).endswith("(got -2)")
    err = _error(tmp_path, "augsearch: 1\nkind: randaugment\nops: [Rotate, Blur]\n")
    assert err.place == "ops[1]" and err.line == 3 and "'Blur'" in str(err)
    err = _error(tmp_path, "augsearch: 1\nkind: cutout\nsize: 16\ninterpolation: nearest\n")
    assert err.place == "interpolation" and err.line == 4


def test_empty_policies(tmp_path):
    err = _error(tmp_path, GOOD_YAML.split("sub_policies:")[0] + "sub_policies: []\n")
    assert err.place == "sub_policies" and err.line == 6 and "at least one sub-policy" in str(err)
    err = _error(tmp_path, GOOD_YAML.split("sub_policies:")[0] + "sub_policies:\n- []\n")
    assert err.place == "sub_policies[0]" and err.line == 7 and "at least one op" in str(err)
    err = _error(tmp_path, GOOD_YAML.split("sub_policies:")[0] + "sub_policies:\n")
    assert err.place == "sub_policies" and "must be a list" in str(err)


@pytest.mark.parametrize("text, line, shown", [
    ("augsearch: 1\nkind: !!python/object:os.system policy\n", 2, "'!!python/object:os.system'"),
    ("augsearch: 1\nkind: !!python/object/apply:os.system ['true']\n", 2, "'!!python/object/apply:os.system'"),
    ("augsearch: 1\nkind: policy\nsource: !!str text\n", 3, "'!!str'"),
    ("augsearch: !!int 1\n", 1, "'!!int'"),
    ("augsearch: 1\nkind: !custom policy\n", 2, "'!custom'"),
])
def test_yaml_tags_are_refused(tmp_path, text, line, shown):
    err = _error(tmp_path, text)
    assert "YAML tags are not allowed" in str(err) and err.line == line and str(err).endswith(f"(got {shown})")


def test_invalid_syntax(tmp_path):
    err = _error(tmp_path, GOOD_YAML.replace("[Rotate, 0.7, 2], [TranslateX, 0.3, 9]]", "[Rotate, 0.7, 2]"))
    assert "invalid YAML" in str(err) and err.line in (8, 9)
    err = _error(tmp_path, "augsearch: 1\n  kind: policy\n bad")
    assert "invalid YAML" in str(err) and err.line == 2
    err = _error(tmp_path, '{\n "augsearch": 1,\n "kind": "policy",\n}\n', "bad.json")
    assert "invalid JSON" in str(err) and err.line == 4 and str(err).startswith(f"{tmp_path / 'bad.json'}:4:")
    err = _error(tmp_path, "", "empty.yaml")
    assert "must hold a mapping" in str(err)


def test_not_a_mapping_and_missing_file(tmp_path):
    err = _error(tmp_path, "- [[Invert, 0.5, null]]\n")
    assert "a policy file must hold a mapping" in str(err) and str(err).endswith("(got 'list')")
    err = _error(tmp_path, "[1, 2]", "list.json")
    assert "must hold a mapping" in str(err)
    with pytest.raises(PolicyError, match=r"missing\.yaml: cannot read policy file: No such file"):
        load_policy(str(tmp_path / "missing.yaml"))
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.json")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00augsearch")
    with pytest.raises(PolicyError, match=r"binary\.yaml: cannot read policy file"):
        load_policy(str(tmp_path / "binary.yaml"))


def test_parse_text_and_from_config_directly():
    assert parse_text("a: [1, 2]") == {"a": [1, 2]}
    assert parse_text('{"a": 1}', yaml_syntax=False) == {"a": 1}
    with pytest.raises(PolicyError, match="<string>:1: YAML tags"):
        parse_text("!!str x")
    policy = from_config({"augsearch": 1, "kind": "cutout", "size": 8})
    assert policy == Cutout(size=8)
    with pytest.raises(PolicyError, match=r"^cfg: kind: unknown kind"):
        from_config({"augsearch": 1, "kind": "x"}, file="cfg")


def test_no_unsafe_deserialisation_anywhere_in_augsearch():
    unsafe = re.compile(r"\byaml\.(load|load_all|unsafe_load|unsafe_load_all|full_load|full_load_all)\s*\("
                        r"|\b(Unsafe|Full)?Loader\b(?<!SafeLoader)|\bimport\s+(c?pickle|dill|marshal|shelve)\b"
                        r"|\bfrom\s+(c?pickle|dill|marshal|shelve)\s+import|\bpickle\.|\bnp\.load\(.*allow_pickle=True")
    torch_load = re.compile(r"\btorch\.load\((?![^)]*weights_only=True)")
    files = sorted((ROOT / "augsearch").rglob("*.py"))
    assert len(files) > 10
    offenders = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}" for f in files
                 for i, line in enumerate(f.read_text().splitlines(), 1)
                 if (unsafe.search(line) or torch_load.search(line)) and "SafeLoader" not in line]
    assert offenders == []
    assert unsafe.search("data = yaml.load(text, Loader=yaml.Loader)") and unsafe.search("import pickle")
    assert torch_load.search("torch.load(path)") and not torch_load.search("torch.load(p, weights_only=True)")
