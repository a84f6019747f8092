"""Hostile and broken policy files, specs and config files: each ends in one error on one line,
quickly, with no traceback; never minutes of work, gigabytes of memory or a RecursionError."""

from __future__ import annotations

import re
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augsearch.errors as errors
import augsearch.formats as formats
from augsearch import Cutout, Policy, PolicyError, RandAugment, TrivialAugment, load_policy
from augsearch.cli import main
from augsearch.errors import AugsearchError, ConfigError
from augsearch.files import read_policy_file
from augsearch.formats import parse_text
from augsearch.options import read_file
from augsearch.search.config import RunConfig, load_run_config

TOO_DEEP = r": (invalid YAML: exceeded maximum nesting depth|nested more than 100 lists or mappings deep)$"
HEAD = "augsearch: 1\nkind: policy\nconvention: fast-aa\n"
SUBS = "sub_policies: [[[Rotate, 0.5, 0.5]]]\n"


def one_line(err: AugsearchError, bound: int = 500) -> str:
    message = str(err)
    assert "\n" not in message and len(message) < bound and err.__cause__ is None, message[:1000]
    return message


def bomb(levels: int) -> str:
    """A YAML flow list whose anchors nest ``levels`` deep, each aliasing the one before 10 times:
    10**levels items once expanded, from a few hundred bytes ("billion laughs" at 9)."""
    items = ["&a0 [" + ", ".join(["x"] * 10) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def nested(depth: int, style: str) -> str:
    """A list ``depth`` deep as the value of a mapping key, in YAML flow or block style or JSON."""
    if style == "yaml-block":
        return "fill:\n" + "".join(" " * i + "-\n" for i in range(1, depth + 1))
    value = "[" * depth + "]" * depth
    return f'{{"fill": {value}}}' if style == "json" else f"fill: {value}\n"


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request, monkeypatch):
    """Both parsers PyYAML may have: libyaml's, and the pure-Python one used where libyaml is missing."""
    if request.param == "pure-python":
        monkeypatch.setattr(formats, "SafeLoader", yaml.SafeLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml")
    return request.param


# ----------------------------------------------------------------------------- the YAML loader

plain = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                  st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
documents = st.recursive(plain, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=documents, flow=st.sampled_from([None, True, False]))
def test_yaml_data_is_what_safe_load_gives(loader, data, flow):
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert parse_text(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", [
    "a: &x [1, 2]\nb: *x\nc: *x\n", "- 017\n- 0x1f\n- 1_000\n- 1:30\n- .inf\n- -.INF\n- 0o7\n",
    "a: yes\nb: Off\nc: ~\nd:\n", "when: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\n",
    "q: '1'\nd: \"yes\"\nlit: |\n  two\n  lines\nfold: >\n  a\n  b\n", "%YAML 1.1\n---\n? a\n: 1\n...\n",
    "# only a comment\n", "", "---\n", "[1, {a: 2}, [3, [4]]]", "{a: [b, {c: d}]}", "&top {a: 1}",
    "- &s x\n- *s\n- &n 1\n- *n\n", "key with spaces: value, with comma\n",
])
def test_yaml_examples_are_what_safe_load_gives(loader, text):
    assert parse_text(text) == yaml.safe_load(text)


def test_aliases_share_their_value_as_safe_load_does(loader):
    data = parse_text("a: &x [1]\nb: *x\n")
    assert data["a"] is data["b"]


def test_libyaml_is_used_where_pyyaml_has_it():
    assert formats.SafeLoader is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_a_large_yaml_policy_loads_about_as_fast_as_the_same_json(tmp_path):
    names = ["Rotate", "Invert", "TranslateX", "Posterize", "AutoContrast", "Solarize"]
    subs = [[[names[i % 6], (i % 97) / 97, None if i % 6 in (1, 4) else (i % 89) / 89],
             [names[(i + 1) % 6], 0.5, None if (i + 1) % 6 in (1, 4) else 0.25]] for i in range(20_000)]
    policy = Policy(subs, convention="fast-aa")
    times = {}
    for suffix in (".json", ".yaml"):
        path = policy.save(tmp_path / f"big{suffix}")
        start = time.perf_counter()
        assert read_policy_file(path) == policy
        times[suffix] = time.perf_counter() - start
    # measured on 100,000 sub-policies: JSON 1.0 s; YAML 40 s with PyYAML's pure-Python parser, 2.9 s now
    assert times[".yaml"] < 8 * times[".json"], times


# ----------------------------------------------------------------------------- the limits

@pytest.mark.parametrize("field", ["fill", "sub_policies", "source"])
def test_an_alias_bomb_in_a_validated_field_is_refused_while_loading(tmp_path, field):
    path = tmp_path / "bomb.yaml"
    path.write_text(HEAD + SUBS * (field != "sub_policies") + f"{field}: {bomb(6)}\n")
    start = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        load_policy(str(path))
    message = one_line(info.value)
    line = 4 if field == "sub_policies" else 5
    assert message.startswith(f"{path}:{line}: ") and "YAML aliases stand for more than 100000 nodes" in message
    assert time.perf_counter() - start < 5


def test_a_billion_laughs_is_refused_in_milliseconds(loader):
    text = f"fill: {bomb(9)}\n"
    assert len(text) < 700
    start = time.perf_counter()
    with pytest.raises(PolicyError, match="YAML aliases stand for more than"):
        parse_text(text, file="laughs.yaml")
    assert time.perf_counter() - start < 1


def test_aliases_within_the_limit_load(loader, tmp_path):
    path = tmp_path / "reuse.yaml"
    path.write_text(HEAD + "fill: &grey [128, 128, 128]\nsub_policies:\n- [&r [Rotate, 0.5, 0.5], *r]\n- [*r]\n")
    assert load_policy(path) == Policy([[("Rotate", 0.5, 0.5)] * 2, [("Rotate", 0.5, 0.5)]],
                                       convention="fast-aa", fill=(128, 128, 128))
    aliases = ", ".join(["*x"] * (formats.MAX_ALIASED // 2))
    assert len(parse_text(f"a: &x 1\nb: [{aliases}]\n")["b"]) == formats.MAX_ALIASED // 2


def test_error_messages_render_values_bounded():
    huge = [[["x"] * 100] * 100] * 100  # a million items, as aliases would expand to
    start = time.perf_counter()
    message = one_line(PolicyError("fill must be ...", file="f.yaml", place="fill", value=huge), 300)
    assert message.startswith("f.yaml: fill: fill must be ... (got [[[") and time.perf_counter() - start < 0.5
    assert len(errors.shown("x" * 10**6)) == errors.SHOWN
    assert errors.shown(2**20000) == "<a 20001-bit integer>"  # (its decimal digits are beyond Python's limit)
    assert errors.shown("Rotat") == "'Rotat'" and errors.shown((0, 0, 256)) == "(0, 0, 256)"
    one_line(PolicyError("unknown field", place="k" * 10**6 + "\nsecond line"), 300)
    one_line(ConfigError.unknown("model", "m" * 10**6, ["resnet20"]), 300)


@pytest.mark.parametrize("style, depth", [("yaml-flow", 101), ("yaml-block", 101), ("json", 101),
                                          ("yaml-flow", 10_000), ("yaml-block", 1_000), ("json", 10_000)])
def test_deep_nesting_is_one_error(tmp_path, style, depth):
    path = tmp_path / ("deep.json" if style == "json" else "deep.yaml")
    path.write_text(nested(depth, style))
    with pytest.raises(PolicyError) as info:
        read_policy_file(path)
    message = one_line(info.value)
    assert message.startswith(str(path)) and re.search(TOO_DEEP, message), message


@pytest.mark.parametrize("style", ["yaml-flow", "yaml-block", "json"])
def test_nesting_up_to_the_limit_parses(loader, style):
    data = parse_text(nested(formats.MAX_DEPTH - 1, style), yaml_syntax=style != "json")  # + the top mapping
    with pytest.raises(PolicyError, match=f"nested more than {formats.MAX_DEPTH} lists or mappings deep"):
        parse_text(nested(formats.MAX_DEPTH, style), yaml_syntax=style != "json")
    depth = 0
    while isinstance(data, (list, dict)):
        depth += 1
        data = data["fill"] if isinstance(data, dict) else data[0] if data else None
    assert depth == formats.MAX_DEPTH


@pytest.mark.parametrize("name", ["huge.yaml", "huge.json"])
def test_a_file_over_64_mib_is_refused_before_it_is_read(tmp_path, name):
    path = tmp_path / name
    with open(path, "wb") as f:
        f.truncate(64 * 2**20 + 1)  # sparse: no disk used
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert one_line(info.value) == f"{path}: policy file larger than 64 MiB"


# ----------------------------------------------------------------------------- specs and paths

def test_a_spec_longer_than_a_file_name_loads(tmp_path):
    spec = "randaugment: n = 1, ops = [" + ", ".join(["Rotate", "ShearX", "Color"] * 20) + "]"
    assert len(spec) > 255
    assert load_policy(spec) == RandAugment(n=1, ops=["Rotate", "ShearX", "Color"] * 20)


@pytest.mark.parametrize("spec", ["x" * 300, "a/" * 3000, "randaugment:q=" + "1" * 5000, "rand-m9-" + "z" * 5000,
                                  "no\0such", "runs/\0/policy", "runs/x/policy", "a" * 5000 + ".yaml", "a\0b.json"])
def test_bad_long_or_odd_specs_are_one_bounded_error(spec):
    with pytest.raises(PolicyError) as info:
        load_policy(spec)
    one_line(info.value, 4400 if spec.endswith((".yaml", ".json")) else 500)  # a path shows up to PATH_MAX


def test_only_strings_that_look_like_paths_are_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trivial").write_text("not a policy")  # a spec is no file name
    assert load_policy("trivial") == TrivialAugment()
    Cutout(4).save(tmp_path / "mine")
    assert load_policy("./mine") == Cutout(4) == load_policy(str(tmp_path / "mine"))
    with pytest.raises(PolicyError, match="unknown policy spec"):
        load_policy("mine")


# ----------------------------------------------------------------------------- policy files from the CLI

BAD_FILES = [
    ("garbage.yaml", bytes(range(256)) * 4, "cannot read policy file: not UTF-8 text (byte 0x80 on line 2)"),
    ("utf16.yaml", (HEAD + SUBS).encode("utf-16"), "not UTF-8 text"),
    ("empty.yaml", b"", "a policy file must hold a mapping (got 'NoneType')"),
    ("empty.json", b"", "invalid JSON: Expecting value"),
    ("nul.yaml", (HEAD + "source: a\0b\n" + SUBS).encode(), "invalid YAML"),
    ("nul.json", b'{"augsearch": 1,\0 "kind": "cutout"}', "invalid JSON"),
    ("number-key.yaml", (HEAD + SUBS + "1: x\n").encode(), "1: unknown field for kind 'policy'"),
    ("list-key.yaml", (HEAD + SUBS + "? [a, b]\n: x\n").encode(), "a mapping key must be a scalar"),
    ("newline-key.yaml", (HEAD + SUBS + '"a\\nb": 1\n').encode(), "a\\nb: unknown field"),
    ("duplicate.yaml", (HEAD + SUBS + "convention: timm\n").encode(), "duplicate key (got 'convention')"),
    ("duplicate.json", b'{"augsearch": 1, "kind": "cutout", "size": 4, "size": 5}', "duplicate key (got 'size')"),
    ("long-op.yaml", (HEAD + f"sub_policies: [[[{'R' * 10**6}, 0.5, 0.5]]]\n").encode(), "name: op is not part"),
    ("long-key.yaml", (HEAD + SUBS + "k" * 10**5 + ": 1\n").encode(), "invalid YAML"),
    ("nan.json", b'{"augsearch": 1, "kind": "policy", "sub_policies": [[["Rotate", NaN, 3]]]}',
     "prob: probability must be a number in [0, 1] (got nan)"),
    ("inf.json", b'{"augsearch": 1, "kind": "cutout", "size": -Infinity}', "(got -inf)"),
    ("many-digits.yaml", (HEAD + SUBS + "magnitude_std: " + "9" * 5000 + "\n").encode(), "4300 digits"),
    ("many-digits.json", ('{"augsearch": ' + "9" * 5000 + "}").encode(), "4300 digits"),
    ("hex.yaml", ("augsearch: 0x" + "f" * 5000 + "\n").encode(), "(got <a 20000-bit integer>)"),
    ("date.yaml", (HEAD + SUBS + "source: 2021-02-30\n").encode(), "day is out of range for month"),
    ("merge.yaml", (HEAD + SUBS + "<<: {fill: 1}\n").encode(), "'<<' is not supported"),
    ("two.yaml", (HEAD + SUBS + "---\nkind: cutout\n").encode(), "more than one document"),
    ("recursive.yaml", (HEAD + SUBS + "fill: &a [*a]\n").encode(), "undefined or recursive alias (got 'a')"),
    ("tag.yaml", (HEAD + SUBS + "fill: !!python/tuple [1, 2, 3]\n").encode(), "YAML tags are not allowed"),
    ("tab.yaml", (HEAD + "\t" + SUBS).encode(), "invalid YAML"),
    ("deep.json", nested(10_000, "json").encode(), "nested more than 100"),
    ("bomb.yaml", (HEAD + f"fill: {bomb(6)}\n").encode(), "YAML aliases stand for more than"),
]


@pytest.mark.parametrize("name, content, expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_policy_files_are_one_line_from_the_cli(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["export", str(path), "--to", "json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"augsearch export: error: {path}") and expected in err, err[:1000]
    assert len(err.splitlines()) == 1 and len(err) < 800 and "Traceback" not in err


def test_a_directory_and_a_byte_order_mark(tmp_path, capsys):
    (tmp_path / "dir.yaml").mkdir()
    assert main(["export", str(tmp_path / "dir.yaml"), "--to", "json"]) == 2
    assert capsys.readouterr().err.strip().endswith("dir.yaml: cannot read policy file: Is a directory")
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + (HEAD + SUBS).encode())  # as some editors save
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"augsearch": 1, "kind": "cutout", "size": 4}')
    assert load_policy(tmp_path / "bom.yaml") == Policy([[("Rotate", 0.5, 0.5)]], convention="fast-aa")
    assert load_policy(tmp_path / "bom.json") == Cutout(4)


# ----------------------------------------------------------------------------- config files

BAD_CONFIGS = [
    ("binary.yaml", b"seed: 1\n\xff\xfe\n", "cannot read config file: not UTF-8 text (byte 0xff on line 2)"),
    ("deep.yaml", nested(10_000, "yaml-block")[:10**5].encode(), "nested more than 100 lists or mappings deep"),
    ("bomb.yaml", f"seed: {bomb(6)}\n".encode(), "YAML aliases stand for more than 100000 nodes"),
    ("tag.yaml", b"seed: !!python/object/apply:os.system [true]\n", "YAML tags are not allowed"),
    ("long-key.yaml", ("k" * 1000 + ": 1\n").encode(), "unknown option 'kkkk"),
]


@pytest.mark.parametrize("name, content, expected", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_files_are_one_config_error(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        read_file(RunConfig, path)
    assert one_line(info.value, 1000).startswith(str(path)) and expected in str(info.value), str(info.value)[:1000]
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"augsearch run: error: {path}") and len(err.splitlines()) == 1, err[:1000]


def test_a_huge_config_file_and_a_bad_run_directory(tmp_path):
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as f:
        f.truncate(64 * 2**20 + 1)
    with pytest.raises(ConfigError, match=r"huge\.yaml: config file larger than 64 MiB$"):
        read_file(RunConfig, huge)
    (tmp_path / "config.yaml").write_bytes(b"space: fast-aa\nseed: \x80\n")
    with pytest.raises(ConfigError) as info:
        load_run_config(tmp_path)
    assert one_line(info.value).startswith(f"{tmp_path / 'config.yaml'}: cannot read config file: not UTF-8")


def test_a_valid_config_file_still_reads(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nspace: fast-aa\n")
    assert read_file(RunConfig, path) == {"seed": 3, "space": "fast-aa"}
